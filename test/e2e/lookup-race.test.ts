// The lookup race (ADR 0007 §5): a confirm is priced from the payment intent Stripe holds, and a free
// update could raise that amount between the lookup and the confirm. Two real `keybrake serve`
// processes share one redis-server; a Stripe stand-in holds the writes until the test lets them go
// (promises, no sleeps). Whatever the interleaving, Stripe never executes a confirm at more than was
// reserved for it: the update meets 409 object_busy while the confirm holds the lease, or the
// confirm is priced at the raised amount.
import type Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { dayBucket } from '../../src/counters/windows.ts';
import { gate, outcome } from './fixtures/outcomes.ts';
import { useRedisReplicas } from './fixtures/redis-replicas.ts';
import { mintKeys, stripeVia } from './fixtures/replicas.ts';

const MICROS_PER_CENT = 10_000;

/** Two vault keys of one upstream account (the same upstream Secret): they share leases. */
const { files, keys } = mintKeys([
  { name: 'confirmer', limits: { perDayUsd: '100000' } },
  { name: 'updater', limits: { perDayUsd: '100000' } },
  { name: 'race-confirmer', limits: { perDayUsd: '1000' } },
  { name: 'race-updater', limits: { perDayUsd: '1000' } },
]);

describe('a looked-up price cannot be raced across two replicas on Redis', () => {
  const replicas = useRedisReplicas(files);

  /** Micro-USD reserved today by one key, read from the shared Redis (settle has not run yet while a write is held). */
  const reserved = (scope: string) => replicas().store.used(scope, dayBucket(Date.now(), 'UTC'));

  const client = (replica: number, key: keyof typeof keys): Stripe =>
    stripeVia(replicas().proxies[replica]!, keys[key].token);

  const posts = (path: string) =>
    replicas().stripe.requests.filter((r) => r.method === 'POST' && r.path === path).length;

  it('refuses an update with object_busy while a confirm on another replica holds the lease', async () => {
    const s = replicas().stripe;
    s.intent('pi_held', 1_000);
    const arrived = gate();
    const release = gate();
    let reservedAtExecution = -1;
    s.onConfirm = async () => {
      arrived.open();
      await release.promise;
      reservedAtExecution = await reserved(keys.confirmer.scope);
    };
    try {
      const confirm = outcome(client(0, 'confirmer').paymentIntents.confirm('pi_held'));
      await arrived.promise;

      // The confirm looked up $10 and is being executed: raising the amount now must not get through,
      // from another vault key of the same account, or from the confirming key itself.
      for (const [replica, key] of [
        [1, 'updater'],
        [1, 'confirmer'],
        [0, 'updater'],
      ] as const) {
        const raised = await outcome(
          client(replica, key).paymentIntents.update('pi_held', { amount: 900_000 }),
        );
        expect(raised, `${key} via replica ${replica}`).toMatchObject({
          ok: false,
          error: { statusCode: 409, code: 'object_busy' },
        });
      }
      expect(posts('/v1/payment_intents/pi_held')).toBe(0);
      expect(s.amountOf('pi_held')).toBe(1_000);

      release.open();
      expect(await confirm).toMatchObject({
        ok: true,
        value: { status: 'succeeded', amount_received: 1_000 },
      });
      expect(s.executed.filter((e) => e.id === 'pi_held')).toEqual([{ id: 'pi_held', amount: 1_000 }]);
      expect(reservedAtExecution).toBeGreaterThanOrEqual(1_000 * MICROS_PER_CENT);

      // Settled and released: the update goes through now (it can no longer change this charge).
      expect(
        await outcome(client(1, 'updater').paymentIntents.update('pi_held', { amount: 900_000 })),
      ).toMatchObject({
        ok: true,
      });
    } finally {
      release.open();
      s.onConfirm = undefined;
    }
  });

  it('refuses a confirm while an update holds the lease; retried, it is priced at the raised amount', async () => {
    const s = replicas().stripe;
    s.intent('pi_raised', 1_000);
    const arrived = gate();
    const release = gate();
    s.onUpdate = async () => {
      arrived.open();
      await release.promise;
    };
    const lookups = () =>
      s.requests.filter((r) => r.method === 'GET' && r.path === '/v1/payment_intents/pi_raised').length;
    try {
      const update = outcome(client(1, 'updater').paymentIntents.update('pi_raised', { amount: 900_000 }));
      await arrived.promise;

      const early = await outcome(client(0, 'confirmer').paymentIntents.confirm('pi_raised'));
      expect(early).toMatchObject({ ok: false, error: { statusCode: 409, code: 'object_busy' } });
      // Refused before its lookup: the busy object cost no upstream read (the one read is the
      // update's own, of the intent for its customer, tenth round).
      expect(lookups()).toBe(1);
      expect(posts('/v1/payment_intents/pi_raised/confirm')).toBe(0);

      release.open();
      expect(await update).toMatchObject({ ok: true, value: { amount: 900_000 } });
      s.onUpdate = undefined;

      const before = await reserved(keys.confirmer.scope);
      let reservedForConfirm = -1;
      s.onConfirm = async () => {
        reservedForConfirm = (await reserved(keys.confirmer.scope)) - before;
      };
      const retried = await outcome(client(0, 'confirmer').paymentIntents.confirm('pi_raised'));
      expect(retried).toMatchObject({ ok: true, value: { amount_received: 900_000 } });
      expect(reservedForConfirm).toBe(900_000 * MICROS_PER_CENT);
    } finally {
      release.open();
      s.onUpdate = undefined;
      s.onConfirm = undefined;
    }
  });

  it('never executes a confirm above what was reserved for it, over 20 concurrent rounds on both replicas', async () => {
    const s = replicas().stripe;
    const rounds: {
      id: string;
      confirm: string;
      update: string;
      executedAt?: number;
      reservedFor?: number;
    }[] = [];
    try {
      for (let i = 0; i < 20; i++) {
        const id = `pi_round${i}`;
        s.intent(id, 1_000);
        const updateDone = gate();
        const before = await reserved(keys['race-confirmer'].scope);
        const round: (typeof rounds)[number] = { id, confirm: '', update: '' };
        // The confirm reaches Stripe only once the concurrent update has been answered: had the update
        // been let through after the lookup, it would have raised the amount the confirm now charges.
        s.onConfirm = async () => {
          await updateDone.promise;
          round.executedAt = s.amountOf(id);
          round.reservedFor = (await reserved(keys['race-confirmer'].scope)) - before;
        };
        const [confirmReplica, updateReplica] = i % 2 === 0 ? [0, 1] : [1, 0];
        const confirm = outcome(client(confirmReplica, 'race-confirmer').paymentIntents.confirm(id));
        const update = outcome(
          client(updateReplica, 'race-updater').paymentIntents.update(id, { amount: 900_000 }),
        );
        const updated = await update;
        updateDone.open();
        const confirmed = await confirm;
        round.update = updated.ok ? 'ok' : String(updated.error.code);
        round.confirm = confirmed.ok ? 'ok' : String(confirmed.error.code);
        rounds.push(round);

        // Each call either went through or was refused with a reason Keybrake gives for this race.
        expect(['ok', 'object_busy']).toContain(round.update);
        expect(['ok', 'object_busy', 'daily_cap_exceeded']).toContain(round.confirm);
        const moved = s.executed.find((e) => e.id === id);
        if (moved) {
          expect(round.confirm).toBe('ok');
          expect(moved.amount * MICROS_PER_CENT, `round ${i}: ${JSON.stringify(round)}`).toBeLessThanOrEqual(
            round.reservedFor ?? -1,
          );
        } else {
          expect(round.confirm).not.toBe('ok');
        }
      }
    } finally {
      s.onConfirm = undefined;
    }
    // The $1,000 cap held: what Stripe moved for the confirming key is within what Redis reserved.
    const movedMicros = s.executed
      .filter((e) => e.id.startsWith('pi_round'))
      .reduce((sum, e) => sum + e.amount * MICROS_PER_CENT, 0);
    expect(movedMicros).toBeLessThanOrEqual(await reserved(keys['race-confirmer'].scope));
    expect(movedMicros).toBeLessThanOrEqual(1_000_000_000);
    // Both orders happened at least once, or the rounds did not exercise the race.
    expect(rounds.some((r) => r.update === 'object_busy' || r.confirm === 'object_busy')).toBe(true);
  });
});
