// Leases are the Stripe account's, not the secret's (ADR 0007 §5, "Since 2026-12-02 (fourteenth
// round)"). Found by an adversarial probe (fixes13y, HIGH): leases were keyed by the upstream secret,
// so two vault keys holding different keys of one Stripe account (a restricted key per agent, an sk_
// and an rk_, the old and new key of a roll) shared no lease, and an amount raise through one went out
// while the other's confirm was priced from its lookup. Here the Stripe stand-in answers
// `GET /v1/account` with the same account for two secrets; a confirm's lookup is held (promises, no
// sleeps) while the other key raises the amount: refused object_busy and nothing forwarded, on two
// `keybrake serve` processes sharing one redis-server and on one process counting in memory.
import type Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import type { KeybrakeProcess } from '../env/keybrake.ts';
import { DELAYED_STRIPE_ACCOUNT } from './fixtures/delayed-stripe.ts';
import { gate, outcome } from './fixtures/outcomes.ts';
import { useMemoryReplica, useRedisReplicas } from './fixtures/redis-replicas.ts';
import { mintKeys, stripeVia } from './fixtures/replicas.ts';

/** A restricted key of the stand-in's one account (DELAYED_STRIPE_ACCOUNT), another secret. */
const RESTRICTED = 'rk_test_lease_account_restricted_key';
/** The secret of another Stripe account. */
const OTHER_ACCOUNT = 'sk_test_lease_account_other_account_key';
/** A secret whose `GET /v1/account` fails. */
const UNREADABLE = 'sk_test_lease_account_unreadable_key';

const LIMITS = { perDayUsd: '100000' };
const { files, keys } = mintKeys([
  { name: 'confirmer', limits: LIMITS },
  { name: 'restricted', limits: LIMITS, upstreamKey: RESTRICTED },
  { name: 'elsewhere', limits: LIMITS, upstreamKey: OTHER_ACCOUNT },
  { name: 'unreadable', limits: LIMITS, upstreamKey: UNREADABLE },
]);

describe('two vault keys with different secrets of one Stripe account meet on the same leases', () => {
  const replicas = useRedisReplicas(files, {
    otherKeys: {
      [RESTRICTED]: DELAYED_STRIPE_ACCOUNT,
      [OTHER_ACCOUNT]: 'acct_1LeaseOther',
      [UNREADABLE]: null,
    },
  });
  /** A third process on the same stand-in, without Redis: the memory counter store. */
  const memory = useMemoryReplica(files, replicas);

  const client = (proxy: KeybrakeProcess, key: keyof typeof keys): Stripe =>
    stripeVia(proxy, keys[key].token);
  const posts = (path: string) =>
    replicas().stripe.requests.filter((r) => r.method === 'POST' && r.path === path).length;

  /**
   * Holds `confirmer`'s confirm of `id` (through `confirmVia`) at its lookup, runs `during`, then lets
   * the confirm go and returns its outcome.
   */
  async function duringConfirmLookup(
    id: string,
    confirmVia: KeybrakeProcess,
    during: () => Promise<void>,
  ): Promise<Awaited<ReturnType<typeof outcome<Stripe.PaymentIntent>>>> {
    const s = replicas().stripe;
    s.intent(id, 1_000);
    const arrived = gate();
    const release = gate();
    let held = false;
    // The confirm's lookup only: a later read of the intent (another key's update) is answered.
    s.onLookup = async (looked) => {
      if (looked !== id || held) return;
      held = true;
      arrived.open();
      await release.promise;
    };
    try {
      const confirm = outcome(client(confirmVia, 'confirmer').paymentIntents.confirm(id));
      // A confirm answered without reaching its lookup fails the test at once, not at its timeout.
      await Promise.race([
        arrived.promise,
        confirm.then((c) => {
          throw new Error(`the confirm was answered before its lookup: ${JSON.stringify(c).slice(0, 300)}`);
        }),
      ]);
      await during();
      release.open();
      return await confirm;
    } finally {
      release.open();
      s.onLookup = undefined;
    }
  }

  it('refuses a restricted key of the account an amount raise during another key’s confirm lookup, across two replicas on Redis', async () => {
    const [first, second] = replicas().proxies as [KeybrakeProcess, KeybrakeProcess];
    const confirmed = await duringConfirmLookup('pi_account_redis', first, async () => {
      for (const proxy of [second, first]) {
        const raised = await outcome(
          client(proxy, 'restricted').paymentIntents.update('pi_account_redis', { amount: 900_000 }),
        );
        expect(raised).toMatchObject({ ok: false, error: { statusCode: 409, code: 'object_busy' } });
      }
      // Nothing of the raise reached Stripe.
      expect(posts('/v1/payment_intents/pi_account_redis')).toBe(0);
    });
    expect(confirmed).toMatchObject({ ok: true, value: { amount_received: 1_000 } });
    expect(replicas().stripe.executed.filter((e) => e.id === 'pi_account_redis')).toEqual([
      { id: 'pi_account_redis', amount: 1_000 },
    ]);
  });

  it('refuses it with the memory counter store too (one process)', async () => {
    const confirmed = await duringConfirmLookup('pi_account_memory', memory(), async () => {
      const raised = await outcome(
        client(memory(), 'restricted').paymentIntents.update('pi_account_memory', { amount: 900_000 }),
      );
      expect(raised).toMatchObject({ ok: false, error: { statusCode: 409, code: 'object_busy' } });
      expect(posts('/v1/payment_intents/pi_account_memory')).toBe(0);
    });
    expect(confirmed).toMatchObject({ ok: true, value: { amount_received: 1_000 } });
  });

  it('lets a key of another account write an object of the same id meanwhile', async () => {
    const [first, second] = replicas().proxies as [KeybrakeProcess, KeybrakeProcess];
    await duringConfirmLookup('pi_account_apart', first, async () => {
      const written = await outcome(
        client(second, 'elsewhere').paymentIntents.update('pi_account_apart', { metadata: { note: 'x' } }),
      );
      expect(written).toMatchObject({ ok: true });
      expect(posts('/v1/payment_intents/pi_account_apart')).toBe(1);
    });
  });

  it('refuses a call unsent when its key’s account cannot be read: nothing but the account read at Stripe', async () => {
    const s = replicas().stripe;
    s.intent('pi_account_unread', 1_000);
    const refused = await outcome(
      client(replicas().proxies[0]!, 'unreadable').paymentIntents.confirm('pi_account_unread'),
    );
    expect(refused).toMatchObject({ ok: false, error: { statusCode: 502 } });
    const seen = s.requests
      .filter((r) => r.headers.authorization === `Bearer ${UNREADABLE}`)
      .map((r) => `${r.method} ${r.path}`);
    expect(seen).toEqual(['GET /v1/account']);
    expect(s.executed.filter((e) => e.id === 'pi_account_unread')).toEqual([]);
  });
});
