// Shared counters across real proxy processes (issue 3): three `keybrake serve --redis` processes over
// one manifests directory hold one cap exactly under concurrent load from the real stripe-node SDK,
// on one redis-server and on a three-master Redis Cluster; idempotency holds across replicas; and when
// Redis dies every replica fails closed at once and recovers within about a second of its return.
import { performance } from 'node:perf_hooks';
import type Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisCounterStore, type RedisCounterStore } from '../../src/counters/redis-store.ts';
import { dayBucket } from '../../src/counters/windows.ts';
import { type StripeEmulator, startStripeEmulator } from '../../src/emulators/stripe.ts';
import type { KeybrakeProcess } from '../env/keybrake.ts';
import { manifestDir } from '../env/keybrake.ts';
import { type RedisServer, startRedis, waitFor } from '../env/redis.ts';
import { type RedisClusterHandle, startRedisCluster } from '../env/redis-cluster.ts';
import { type MintedKey, mintKeys, startReplicas, stripeVia, UPSTREAM_KEY } from './fixtures/replicas.ts';

const USD = 1_000_000;
const REPLICAS = 3;

/** The keys of this suite; each has its own counters, so tests do not see each other's spend. */
const { files, keys } = mintKeys([
  { name: 'daily-100', limits: { perDayUsd: '100' } },
  { name: 'cluster-daily-100', limits: { perDayUsd: '100' } },
  { name: 'run-20', limits: { perRunUsd: '20' } },
  { name: 'idempotent', limits: { perDayUsd: '100' } },
  // A per-minute limit makes every GET consult the counters, so the read policy matters.
  { name: 'reads-allow', limits: { perDayUsd: '1000000', requestsPerMinute: 1_000_000 } },
  {
    name: 'reads-deny',
    limits: { perDayUsd: '1000000', requestsPerMinute: 1_000_000 },
    readsWhenCountersDown: 'deny',
  },
]);

type StripeErrorLike = { type?: string; code?: string; statusCode?: number };

function asStripeError(reason: unknown): StripeErrorLike {
  return (reason ?? {}) as StripeErrorLike;
}

function charge(client: Stripe, opts: { idempotencyKey?: string } = {}) {
  return client.charges.create({ amount: 100, currency: 'usd', source: 'tok_visa' }, opts);
}

/** stripe-node has no per-call header option on resources; rawRequest is its documented way. */
function chargeInRun(client: Stripe, runId: string) {
  return client.rawRequest(
    'POST',
    '/v1/charges',
    { amount: 100, currency: 'usd', source: 'tok_visa' },
    { additionalHeaders: { 'Keybrake-Run-Id': runId } },
  );
}

const chargePosts = (emulator: StripeEmulator) =>
  emulator.requests.filter((r) => r.method === 'POST' && r.path === '/v1/charges').length;

/** Micro-USD in the day bucket(s) a burst may have used (two only if it straddled UTC midnight). */
async function usedToday(store: RedisCounterStore, key: MintedKey, days: Set<string>): Promise<number> {
  let sum = 0;
  for (const day of days) sum += await store.used(key.scope, day);
  return sum;
}

/**
 * 500 concurrent $1 charges spread round-robin over the replicas against a $100 daily cap: exactly 100
 * reach Stripe, the other 400 are refused with the SDK's permission error, and Redis holds $100.
 */
async function burstAgainstDailyCap(
  proxies: readonly KeybrakeProcess[],
  emulator: StripeEmulator,
  store: RedisCounterStore,
  key: MintedKey,
) {
  const clients = proxies.map((p) => stripeVia(p, key.token));
  const before = chargePosts(emulator);
  const days = new Set([dayBucket(Date.now(), 'UTC')]);
  const results = await Promise.allSettled(
    Array.from({ length: 500 }, (_, i) => charge(clients[i % clients.length]!)),
  );
  days.add(dayBucket(Date.now(), 'UTC'));

  const allowed = results.filter((r) => r.status === 'fulfilled');
  const refused = results.flatMap((r) => (r.status === 'rejected' ? [asStripeError(r.reason)] : []));
  const unexpected = refused.filter(
    (e) => e.type !== 'StripePermissionError' || e.code !== 'daily_cap_exceeded',
  );
  expect(unexpected.slice(0, 3)).toEqual([]);
  expect(allowed).toHaveLength(100);
  expect(refused).toHaveLength(400);
  expect(chargePosts(emulator) - before).toBe(100);
  expect(await usedToday(store, key, days)).toBe(100 * USD);
  // Every replica decided its own share against the shared counter; their audit logs add up.
  const decided = (p: KeybrakeProcess) => p.audit.filter((a) => a['vaultKey'] === key.scope);
  await waitFor('every replica to audit its share', async () =>
    proxies.every((p, i) => decided(p).length === Math.ceil((500 - i) / proxies.length)),
  );
  const audited = proxies.flatMap(decided);
  expect(audited.filter((a) => a['decision'] === 'allow')).toHaveLength(100);
  expect(audited.filter((a) => a['reason'] === 'daily_cap_exceeded')).toHaveLength(400);
}

/** `keybrake_counter_store_up` as the replica's /metrics reports it (1 up, 0 down). */
async function counterStoreUp(proxy: KeybrakeProcess): Promise<number> {
  const res = await fetch(`${proxy.urls['admin']}/metrics`, { signal: AbortSignal.timeout(2_000) });
  return Number(/^keybrake_counter_store_up (\d+)$/m.exec(await res.text())?.[1]);
}

async function readyz(proxy: KeybrakeProcess): Promise<number> {
  const res = await fetch(`${proxy.urls['admin']}/readyz`, { signal: AbortSignal.timeout(2_000) });
  await res.arrayBuffer();
  return res.status;
}

describe('three keybrake serve processes sharing one redis-server', () => {
  let redis: RedisServer | undefined;
  let emulator: StripeEmulator | undefined;
  let manifests: Awaited<ReturnType<typeof manifestDir>> | undefined;
  let proxies: KeybrakeProcess[] = [];
  let store: RedisCounterStore | undefined;

  beforeAll(async () => {
    [redis, emulator, manifests] = await Promise.all([
      startRedis(),
      startStripeEmulator({ validKeys: [UPSTREAM_KEY] }),
      manifestDir(files),
    ]);
    proxies = await startReplicas(REPLICAS, {
      manifests: manifests.dir,
      redis: redis.url,
      upstream: emulator.url,
    });
    store = createRedisCounterStore(redis.url, { timeoutMs: 2_000 });
    expect(await store.waitUntilReady(5_000)).toBe(true);
  });

  afterAll(async () => {
    await Promise.allSettled(proxies.map((p) => p.stop()));
    await Promise.allSettled([store?.close(), emulator?.close(), redis?.stop(), manifests?.remove()]);
  });

  it('admits exactly 100 of 500 concurrent $1 charges under a $100 daily cap', async () => {
    await burstAgainstDailyCap(proxies, emulator!, store!, keys['daily-100']);
  });

  it('gives every agent run its own $20 cap, held exactly across the replicas', async () => {
    const key = keys['run-20'];
    const clients = proxies.map((p) => stripeVia(p, key.token));
    for (const runId of ['run-A', 'run-B']) {
      const before = chargePosts(emulator!);
      const results = await Promise.allSettled(
        Array.from({ length: 100 }, (_, i) => chargeInRun(clients[i % clients.length]!, runId)),
      );
      const refused = results.flatMap((r) => (r.status === 'rejected' ? [asStripeError(r.reason)] : []));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(20);
      expect(refused).toHaveLength(80);
      expect(refused.every((e) => e.type === 'StripePermissionError' && e.code === 'run_cap_exceeded')).toBe(
        true,
      );
      expect(chargePosts(emulator!) - before).toBe(20);
      expect(await store!.used(key.scope, `run:${runId}`)).toBe(20 * USD);
    }
  });

  it('counts an Idempotency-Key retried on another replica once', async () => {
    const key = keys.idempotent;
    const [one, two, three] = proxies.map((p) => stripeVia(p, key.token));
    const day = dayBucket(Date.now(), 'UTC');
    const first = await charge(one!, { idempotencyKey: 'order-42' });
    const retried = await charge(two!, { idempotencyKey: 'order-42' });
    // The emulator replays the idempotent POST like Stripe does: the same charge comes back.
    expect(retried.id).toBe(first.id);
    expect(await store!.used(key.scope, day)).toBe(1 * USD);
    // A different key is a different call and is counted.
    await charge(three!, { idempotencyKey: 'order-43' });
    expect(await store!.used(key.scope, day)).toBe(2 * USD);
  });

  // Last in this block: it kills Redis. A SIGKILLed redis-server without persistence comes back empty,
  // so every counter above is lost (docs/counters.md: "Redis losing data resets the counters").
  it('fails closed on every replica while Redis is down and recovers within 2 s of its return', async () => {
    const allow = keys['reads-allow'];
    const emu = emulator!;
    const clients = proxies.map((p) => stripeVia(p, allow.token));
    const denyReads = proxies.map((p) => stripeVia(p, keys['reads-deny'].token));

    // Steady load: four workers charging in a loop, round-robin over the replicas, until told to stop.
    type Outcome = { started: number; ended: number; ok: boolean; error?: StripeErrorLike };
    const outcomes: Outcome[] = [];
    const inFlight = new Set<number>();
    let stop = false;
    let n = 0;
    const worker = async () => {
      while (!stop) {
        const client = clients[n++ % clients.length]!;
        const started = performance.now();
        inFlight.add(started);
        try {
          await charge(client);
          outcomes.push({ started, ended: performance.now(), ok: true });
        } catch (err) {
          outcomes.push({ started, ended: performance.now(), ok: false, error: asStripeError(err) });
        } finally {
          inFlight.delete(started);
        }
      }
    };
    const workers = Array.from({ length: 4 }, worker);
    try {
      await waitFor('steady load to succeed', async () => outcomes.filter((o) => o.ok).length >= 40);

      await redis!.kill();
      const killedAt = performance.now();
      // Calls that started before the kill may have reserved in time and still be on their way to
      // the emulator; wait for them, then nothing more may arrive until Redis is back.
      await waitFor('calls started before the kill to finish', async () =>
        [...inFlight].every((started) => started > killedAt),
      );
      const postsAtKill = chargePosts(emu);

      // While down: every replica sees the store down (a gauge, ADR 0011) yet stays ready, so its
      // Service keeps it and callers get vendor-shaped 503s; money fails closed, reads follow the policy.
      await waitFor('every replica to see the counter store down', async () =>
        (await Promise.all(proxies.map(counterStoreUp))).every((up) => up === 0),
      );
      expect(await Promise.all(proxies.map(readyz))).toEqual(proxies.map(() => 200));
      for (const [i, reader] of clients.entries()) {
        const list = await reader.customers.list({ limit: 1 });
        expect(list.object, `replica ${i}: GET with readsWhenCountersDown allow`).toBe('list');
        const denied = await denyReads[i]!.customers.list({ limit: 1 }).then(
          () => ({}) as StripeErrorLike,
          asStripeError,
        );
        expect(denied, `replica ${i}: GET with readsWhenCountersDown deny`).toMatchObject({
          statusCode: 503,
          code: 'counter_store_unavailable',
        });
      }
      await waitFor(
        'at least 50 charges refused while Redis is down',
        async () => outcomes.filter((o) => o.started > killedAt).length >= 50,
      );

      const restartAt = performance.now();
      expect(chargePosts(emu), 'charges that reached Stripe while Redis was down').toBe(postsAtKill);
      const whileDown = outcomes.filter((o) => o.started > killedAt && o.ended < restartAt);
      expect(whileDown.length).toBeGreaterThanOrEqual(50);
      for (const o of whileDown) {
        expect(o.ok).toBe(false);
        expect(o.error).toMatchObject({
          type: 'StripeAPIError',
          statusCode: 503,
          code: 'counter_store_unavailable',
        });
        expect(o.ended - o.started).toBeLessThan(1_000);
      }
      for (const p of proxies) expect(p.child.exitCode).toBeNull();

      // Back: a fresh, empty redis-server on the same port. Every replica must admit a charge again.
      await redis!.restart();
      const back = performance.now();
      const recovered = await Promise.all(
        clients.map(async (client) => {
          await waitFor(
            'a charge to succeed after the restart',
            async () => (await charge(client)).object === 'charge',
            5_000,
          );
          return performance.now() - back;
        }),
      );
      expect(
        Math.max(...recovered),
        `recovery times ${recovered.map(Math.round).join(', ')} ms`,
      ).toBeLessThan(2_000);
      await waitFor('every replica to see the counter store up again', async () =>
        (await Promise.all(proxies.map(counterStoreUp))).every((up) => up === 1),
      );
      expect(await Promise.all(proxies.map(readyz))).toEqual(proxies.map(() => 200));
      for (const p of proxies) expect(p.child.exitCode).toBeNull();
    } finally {
      stop = true;
      await Promise.all(workers);
    }
  });
});

describe('three keybrake serve processes sharing a three-master Redis Cluster', () => {
  let cluster: RedisClusterHandle | undefined;
  let emulator: StripeEmulator | undefined;
  let manifests: Awaited<ReturnType<typeof manifestDir>> | undefined;
  let proxies: KeybrakeProcess[] = [];
  let store: RedisCounterStore | undefined;

  beforeAll(async () => {
    [cluster, emulator, manifests] = await Promise.all([
      startRedisCluster(3),
      startStripeEmulator({ validKeys: [UPSTREAM_KEY] }),
      manifestDir(files),
    ]);
    proxies = await startReplicas(REPLICAS, {
      manifests: manifests.dir,
      redis: cluster.url,
      upstream: emulator.url,
    });
    store = createRedisCounterStore(cluster.url, { timeoutMs: 2_000 });
    expect(await store.waitUntilReady(10_000)).toBe(true);
  });

  afterAll(async () => {
    await Promise.allSettled(proxies.map((p) => p.stop()));
    await Promise.allSettled([store?.close(), emulator?.close(), cluster?.stop(), manifests?.remove()]);
  });

  it('admits exactly 100 of 500 concurrent $1 charges, with no CROSSSLOT error anywhere', async () => {
    await burstAgainstDailyCap(proxies, emulator!, store!, keys['cluster-daily-100']);
    for (const p of proxies) expect(p.output()).not.toMatch(/CROSSSLOT/i);
  });
});
