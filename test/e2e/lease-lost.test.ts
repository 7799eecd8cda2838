// A call's leases when Redis loses data (ADR 0007 §5, ninth round). Two real `keybrake serve`
// processes share one redis-server. A tester had a confirm, priced at $1 from its payment intent and
// leased, wait for a connection behind its own key's slow reads; Redis restarted without
// persistence, another replica raised the intent to $9 000 (no lease stood in its way), and the
// confirm, trusting its lease until its TTL, charged $9 000 against a $5 call cap. Here FLUSHALL
// stands for the loss (a restart, a failover or an eviction drops the keys the same way), and the
// Stripe stand-in holds the lookup and the reads until the test lets them go (promises, no sleeps).
import type Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { dayBucket } from '../../src/counters/windows.ts';
import { rawCommand } from '../env/redis.ts';
import { gate, outcome } from './fixtures/outcomes.ts';
import { useRedisReplicas } from './fixtures/redis-replicas.ts';
import { mintKeys, stripeVia } from './fixtures/replicas.ts';

/** What one vault key may hold of a proxy's 128 connections to a vendor host (defaultConnectionsPerKey). */
const KEY_SHARE = 32;

const { files, keys } = mintKeys([
  { name: 'agent', limits: { perCallUsd: '5', perDayUsd: '10' } },
  { name: 'updater', limits: { perDayUsd: '100000' } },
]);

describe('a lease Redis lost while its call waited for a connection', () => {
  // The lease lives 10 s from its renewal, far past the whole wait: only its loss can end it.
  const replicas = useRedisReplicas(files, { extraArgs: ['--upstream-timeout', '5s'] });

  const client = (replica: number, key: keyof typeof keys): Stripe =>
    stripeVia(replicas().proxies[replica]!, keys[key].token);

  it('is asked for again when the call gets its turn: the confirm is refused unsent, never sent at the amount set meanwhile', async () => {
    const s = replicas().stripe;
    s.intent('pi_lost', 100);
    const lookupHeld = gate();
    const lookupArrived = gate();
    const readsHeld = gate();
    const readsThere = gate();
    let reads = 0;
    s.onLookup = async () => {
      lookupArrived.open();
      await lookupHeld.promise;
    };
    try {
      const confirm = outcome(client(0, 'agent').paymentIntents.confirm('pi_lost'));
      await lookupArrived.promise;
      s.onLookup = undefined;
      // The agent's own slow free reads: as many as its share, so with the lookup on a connection
      // one waits, and takes the lookup's connection before the confirm can.
      s.onReadHead = async () => {
        if (++reads === KEY_SHARE - 1) readsThere.open();
        await readsHeld.promise;
      };
      const agent = client(0, 'agent');
      const slowReads = Array.from({ length: KEY_SHARE }, (_, i) =>
        outcome(agent.customers.retrieve(`cus_slow${i}`)),
      );
      await readsThere.promise;
      // The confirm is priced at $1, renews its lease, reserves, and waits for its key's turn.
      lookupHeld.open();
      const day = dayBucket(Date.now(), 'UTC');
      while ((await replicas().store.used(keys.agent.scope, day)) === 0) {}

      expect(await rawCommand(replicas().redis.port, 'FLUSHALL')).toBe('+OK');
      // Nothing stands in the other replica's way any more.
      const raised = await outcome(
        client(1, 'updater').paymentIntents.update('pi_lost', { amount: 900_000 }),
      );
      expect(raised).toMatchObject({ ok: true, value: { amount: 900_000 } });

      readsHeld.open();
      await Promise.all(slowReads);
      expect(await confirm).toMatchObject({ ok: false, error: { statusCode: 409, code: 'object_busy' } });
      expect(
        s.requests.filter((r) => r.method === 'POST' && r.path === '/v1/payment_intents/pi_lost/confirm'),
      ).toEqual([]);
      expect(s.executed).toEqual([]);
      const record = await replicas().proxies[0]!.waitForAudit(
        (r) => r.path === '/v1/payment_intents/pi_lost/confirm',
      );
      expect(record).toMatchObject({ decision: 'deny', reason: 'object_busy' });
    } finally {
      lookupHeld.open();
      readsHeld.open();
      s.onLookup = undefined;
      s.onReadHead = undefined;
    }
  });
});
