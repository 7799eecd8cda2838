// Keybrake's own read of the Stripe account an upstream key belongs to (GET /v1/account, ADR 0007 §5,
// "Since 2026-12-02 (fourteenth round)") is made in a share of its own, not the calling key's. Found by
// an adversarial probe (leases14, finding 2, MEDIUM): the read was queued in the first caller's
// connection share and call budget; an agent holding its own 128 calls (slow plain reads, no lease)
// had the read refused locally, that refusal was kept against the whole upstream secret for a second,
// and every other key of the secret was refused 502 while no account read ever reached Stripe. A fresh
// `keybrake serve` (nothing learnt) before the Stripe stand-in, which holds the agent's customer reads
// until the test lets them go (promises and events, no sleeps).
import type Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { useDelayedServe } from './fixtures/delayed-serve.ts';
import { gate, outcome } from './fixtures/outcomes.ts';
import { mintKeys, stripeVia } from './fixtures/replicas.ts';

/** What one vault key may hold of a host's 128 connections (defaultConnectionsPerKey). */
const KEY_SHARE = 32;
/** Its calls at the upstreams at once (defaultBudget). */
const KEY_CALLS = 4 * KEY_SHARE;

const { files, keys } = mintKeys([
  { name: 'agent', limits: { perDayUsd: '100' } },
  { name: 'victim', limits: { perDayUsd: '100' } },
]);

describe("the lease account's read is not the calling key's to spend", () => {
  // Long enough that no call waiting for a connection gives up while the test runs.
  const { stripe, proxy } = useDelayedServe(files, ['--upstream-timeout', '20s']);

  const client = (key: keyof typeof keys): Stripe => stripeVia(proxy(), keys[key].token);
  const accountReads = () =>
    stripe().requests.filter((r) => r.method === 'GET' && r.path === '/v1/account').length;

  it("reads the account while the calling key's budget is full, and serves another key of the secret", async () => {
    const s = stripe();
    s.intent('pi_share_agent', 1_000);
    s.intent('pi_share_victim', 1_000);
    const released = gate();
    const held: string[] = [];
    s.onReadHead = async (id) => {
      if (!id.startsWith('cus_slow')) return;
      held.push(id);
      await released.promise;
    };
    try {
      // The agent's budget filled: its share held at the stand-in, the rest waiting, one refused.
      const refusedOnce = gate();
      const reads = Array.from({ length: KEY_CALLS + 1 }, (_, i) =>
        outcome(client('agent').customers.retrieve(`cus_slow${i}`)).then((o) => {
          if (!o.ok) refusedOnce.open();
          return o;
        }),
      );
      await refusedOnce.promise;
      expect(accountReads()).toBe(0);

      // A leasing call of the agent: the account read goes out (its own share); the call itself is
      // then refused by the agent's own full budget.
      const agentWrite = await outcome(
        client('agent').paymentIntents.update('pi_share_agent', { metadata: { n: '1' } }),
      );
      expect(accountReads()).toBe(1);
      expect(agentWrite).toMatchObject({
        ok: false,
        error: { statusCode: 502, message: expect.stringContaining(`already has ${KEY_CALLS} calls`) },
      });
      // Another key of the same secret is served at once, from what was learnt.
      expect(
        await outcome(client('victim').paymentIntents.update('pi_share_victim', { metadata: { n: '1' } })),
      ).toMatchObject({ ok: true });
      expect(
        s.requests.filter((r) => r.method === 'POST' && r.path === '/v1/payment_intents/pi_share_victim'),
      ).toHaveLength(1);
      expect(accountReads()).toBe(1);

      released.open();
      await Promise.all(reads);
      expect(held).toHaveLength(KEY_CALLS);
    } finally {
      released.open();
      s.onReadHead = undefined;
    }
  });
});
