// A call that waits for an upstream connection (ADR 0007 §8, fifth round). Every connection its key
// may hold of a proxy's pool to a vendor host may be busy, and an agent can keep them so with its own
// slow free reads; a probe had a confirm wait there 16.5 s after its lease renewal and then charge
// $5 000 that another replica had set meanwhile, against a price of $10; and another key's read, of
// another namespace, waited 19 s behind them for the same pool. Two real `keybrake serve` processes
// share one redis-server; a Stripe stand-in holds reads and lookups until the test lets them go
// (promises and events, no sleeps).
import type Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { dayBucket } from '../../src/counters/windows.ts';
import { gate, type Outcome, outcome } from './fixtures/outcomes.ts';
import { openConnection } from './fixtures/raw-connection.ts';
import { useRedisReplicas } from './fixtures/redis-replicas.ts';
import { mintKeys, stripeVia } from './fixtures/replicas.ts';

/** The pool each proxy keeps per upstream origin (createUpstreams). */
const POOL_CONNECTIONS = 128;
/** What one vault key may hold of it: a quarter (defaultConnectionsPerKey). */
const KEY_SHARE = POOL_CONNECTIONS / 4;
/** --upstream-timeout: the longest a call may wait for a connection; its lease lives 5 s longer. */
const UPSTREAM_TIMEOUT = '2s';

const { files, keys } = mintKeys([
  { name: 'agent', limits: { perCallUsd: '60', perDayUsd: '100' } },
  { name: 'updater', limits: { perDayUsd: '100000' } },
  { name: 'victim', limits: { perDayUsd: '100' } },
]);

/** Resolves once `count` calls of a hook have arrived, counting from now. */
function arrivals(count: number): { hook: () => void; all: Promise<void> } {
  const done = gate();
  let seen = 0;
  return {
    hook: () => {
      if (++seen === count) done.open();
    },
    all: done.promise,
  };
}

describe('a call waiting for an upstream connection', () => {
  const replicas = useRedisReplicas(files, { extraArgs: ['--upstream-timeout', UPSTREAM_TIMEOUT] });

  const client = (replica: number, key: keyof typeof keys): Stripe =>
    stripeVia(replicas().proxies[replica]!, keys[key].token);
  const reserved = (scope: string) => replicas().store.used(scope, dayBucket(Date.now(), 'UTC'));

  it('is never sent once its wait may outlast its lease: a competing update then governs the retry, not the queued confirm', async () => {
    const s = replicas().stripe;
    s.intent('pi_queued', 1_000);
    const lookupHeld = gate();
    const lookupArrived = gate();
    const headsHeld = gate();
    const endsHeld = gate();
    // The agent's own slow free reads: one more than the connections of its share its confirm's
    // lookup leaves, so the last one waits and takes the lookup's connection as soon as it is free,
    // before the confirm is sent.
    const reads = arrivals(KEY_SHARE - 1);
    s.onLookup = async () => {
      lookupArrived.open();
      await lookupHeld.promise;
    };
    try {
      const confirm = outcome(client(0, 'agent').paymentIntents.confirm('pi_queued'));
      await lookupArrived.promise;
      s.onLookup = undefined;
      s.onReadHead = async () => {
        reads.hook();
        await headsHeld.promise;
      };
      s.onReadEnd = () => endsHeld.promise;
      const agent = client(0, 'agent');
      const slowReads = Array.from({ length: KEY_SHARE }, (_, i) =>
        outcome(agent.customers.retrieve(`cus_slow${i}`)),
      );
      await reads.all;
      // Every connection of the agent's share is busy; the confirm is priced at $10, reserved, and
      // waits for one.
      lookupHeld.open();
      while ((await reserved(keys.agent.scope)) === 0) {}
      // The reads answer their heads only now, so none frees its connection before the confirm's
      // wait for one is over (their bodies may take the upstream timeout from here).
      headsHeld.open();

      // Another replica raises the amount as soon as the confirm's lease is gone.
      let raised: Outcome<Stripe.PaymentIntent>;
      do {
        raised = await outcome(client(1, 'updater').paymentIntents.update('pi_queued', { amount: 500_000 }));
      } while (!raised.ok && raised.error.code === 'object_busy');
      expect(raised).toMatchObject({ ok: true, value: { amount: 500_000 } });

      // The confirm was refused without being sent, and what it reserved was given back.
      expect(await confirm).toMatchObject({
        ok: false,
        error: { statusCode: 502, code: 'upstream_unavailable' },
      });
      expect(await reserved(keys.agent.scope)).toBe(0);

      // The connections come free. A retry's lookup queues behind the old confirm, so by the time it
      // is answered the old confirm was either sent or dropped for good.
      endsHeld.open();
      await Promise.all(slowReads);
      expect(await outcome(client(0, 'agent').paymentIntents.confirm('pi_queued'))).toMatchObject({
        ok: false,
        error: { statusCode: 403, code: 'per_call_limit_exceeded' },
      });
      expect(
        s.requests.filter((r) => r.method === 'POST' && r.path === '/v1/payment_intents/pi_queued/confirm'),
      ).toEqual([]);
      expect(s.executed).toEqual([]);
    } finally {
      lookupHeld.open();
      headsHeld.open();
      endsHeld.open();
      s.onLookup = undefined;
      s.onReadHead = undefined;
      s.onReadEnd = undefined;
    }
  });

  // Fifth round: one key's 200 slow reads, each held 20 s upstream, made another namespace's read
  // wait 19.3 s (69 ms before) for the pool every key shared.
  it("answers another key's call while one key's calls fill the whole pool and are all held", async () => {
    const s = replicas().stripe;
    const heldHeads = gate();
    const attacker = arrivals(KEY_SHARE);
    let victimSeenWith = -1;
    let attackerSeen = 0;
    s.onReadHead = async (id) => {
      if (id === 'cus_victim') {
        victimSeenWith = attackerSeen;
        return;
      }
      attackerSeen++;
      attacker.hook();
      await heldHeads.promise;
    };
    try {
      const agent = client(0, 'agent');
      // More than the whole pool: without a share they take every connection, and the rest queue.
      const slowReads = Array.from({ length: POOL_CONNECTIONS + KEY_SHARE }, (_, i) =>
        outcome(agent.customers.retrieve(`cus_hold${i}`)),
      );
      await attacker.all;
      const victim = await outcome(client(0, 'victim').customers.retrieve('cus_victim'));
      expect(victim).toMatchObject({ ok: true, value: { id: 'cus_victim' } });
      // It reached the vendor while every one of the agent's reads there was still held, and those
      // held no more than the key's share.
      expect(victimSeenWith).toBe(KEY_SHARE);
      expect(attackerSeen).toBe(KEY_SHARE);
      heldHeads.open();
      await Promise.all(slowReads);
    } finally {
      heldHeads.open();
      s.onReadHead = undefined;
    }
  });

  // Fifth round: a closed client did not cancel its call. 1 000 calls each sent and disconnected
  // 50 ms later waited for a connection, and a victim's call behind them was forwarded 139 s after it
  // arrived; 600 of them with 200 KB bodies grew the proxy by 300 MB.
  it('drops, unsent and given back, the calls whose clients closed while they waited for a connection', async () => {
    const s = replicas().stripe;
    const heldHeads = gate();
    const reads = arrivals(KEY_SHARE);
    s.onReadHead = async () => {
      reads.hook();
      await heldHeads.promise;
    };
    const proxy = replicas().proxies[0]!;
    const from = proxy.audit.length;
    try {
      const agent = client(0, 'agent');
      const slowReads = Array.from({ length: KEY_SHARE }, (_, i) =>
        outcome(agent.customers.retrieve(`cus_busy${i}`)),
      );
      await reads.all;
      // The agent's share is busy: each charge is priced, reserved, and waits for a connection.
      const CHARGES = 5;
      const body = 'amount=1000&currency=usd';
      const connections = await Promise.all(
        Array.from({ length: CHARGES }, () => openConnection(proxy.urls['stripe']!)),
      );
      for (const conn of connections) {
        conn.socket.write(
          `POST /v1/charges HTTP/1.1\r\nHost: keybrake\r\nAuthorization: Bearer ${keys.agent.token}\r\n` +
            `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
        );
      }
      while ((await reserved(keys.agent.scope)) < CHARGES * 10_000_000) {}
      for (const conn of connections) conn.socket.destroy();

      // Each is recorded once, refused as its client went away, and what it reserved is back.
      const charges = () => proxy.audit.slice(from).filter((r) => r.path === '/v1/charges');
      await proxy.waitForAudit(() => charges().length === CHARGES);
      expect(charges().map((r) => r.reason)).toEqual(Array(CHARGES).fill('request_invalid'));
      expect(await reserved(keys.agent.scope)).toBe(0);

      // The connections come free; a read of the same key after them finds its queue empty.
      heldHeads.open();
      await Promise.all(slowReads);
      expect(await outcome(agent.customers.retrieve('cus_after_gone'))).toMatchObject({ ok: true });
      expect(s.requests.filter((r) => r.path === '/v1/charges')).toEqual([]);
      expect(charges()).toHaveLength(CHARGES);
    } finally {
      heldHeads.open();
      s.onReadHead = undefined;
    }
  });
});
