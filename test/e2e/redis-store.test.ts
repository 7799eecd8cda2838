// The Redis counter store against real redis-server processes: the exact keys and TTLs the Lua
// script writes, caps held exactly under concurrency across separate connections (one server and a
// three-master cluster), idempotency, settle, and failing closed while Redis is gone or hung.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisCounterStore, type RedisCounterStore } from '../../src/counters/redis-store.ts';
import { CounterStoreUnavailableError, type ReserveResult } from '../../src/counters/store.ts';
import { windowsFor } from '../../src/counters/windows.ts';
import type { CompiledLimits, CompiledPolicy } from '../../src/snapshot/types.ts';
import { type RedisServer, startRedis, waitFor } from '../env/redis.ts';
import { type RedisClusterHandle, startRedisCluster } from '../env/redis-cluster.ts';

const USD = 1_000_000;
const NOW = new Date('2026-11-26T10:15:30Z').getTime();
let seq = 0;
const freshScope = () => `agents/bot-${process.pid}-${++seq}`;

function policy(limits: CompiledLimits, timezone = 'UTC'): CompiledPolicy {
  return { ref: 'agents/p', limits, timezone, readsWhenStoreDown: false };
}

function ok(r: ReserveResult) {
  if (!r.ok) throw new Error(`expected ok, got refused by ${r.refused}`);
  return r;
}

describe('RedisCounterStore on one redis-server', () => {
  let server: RedisServer;
  let store: RedisCounterStore;
  let inspect: Redis;

  beforeAll(async () => {
    server = await startRedis();
    store = createRedisCounterStore(server.url, { timeoutMs: 1_000 });
    inspect = new Redis(server.port, '127.0.0.1');
    expect(await store.waitUntilReady()).toBe(true);
  });

  afterAll(async () => {
    await store?.close();
    inspect?.disconnect();
    await server?.stop();
  });

  it('writes exactly the keys, values and TTLs of every window in one round trip', async () => {
    const scope = 'agents/support-bot-stripe';
    const p = policy({
      perDayMicros: 200 * USD,
      perMonthMicros: 2_000 * USD,
      perRunMicros: 25 * USD,
      requestsPerMinute: 120,
    });
    const windows = windowsFor(p, 2_500_000, NOW, 'run-1');
    const before = store.stats.roundTrips;
    ok(await store.reserve({ scope, windows, now: NOW, idempotencyKey: 'idem-abc' }));
    expect(store.stats.roundTrips - before).toBe(1);

    const minute = `minute:${Math.floor(NOW / 60_000)}`;
    const expected: Record<string, [string, number]> = {
      [`{vk:${scope}}:day:2026-11-26`]: ['2500000', 13 * 3600 + 44 * 60 + 30 + 86_400],
      [`{vk:${scope}}:month:2026-11`]: ['2500000', 4 * 86_400 + 13 * 3600 + 44 * 60 + 30 + 86_400],
      [`{vk:${scope}}:run:run-1`]: ['2500000', 7 * 86_400],
      [`{vk:${scope}}:${minute}`]: ['1', 120],
      [`{vk:${scope}}:idem:idem-abc`]: ['1', 86_400],
      [`{vk:${scope}}:last`]: [String(NOW), 35 * 86_400],
    };
    expect((await inspect.keys(`{vk:${scope}}*`)).sort()).toEqual(Object.keys(expected).sort());
    for (const [key, [value, ttl]] of Object.entries(expected)) {
      expect(await inspect.get(key)).toBe(value);
      const left = await inspect.ttl(key);
      expect(left).toBeGreaterThanOrEqual(ttl - 1);
      expect(left).toBeLessThanOrEqual(ttl);
    }
  });

  it('records the last use of every reserved call, replays too, in the same round trip', async () => {
    const scope = freshScope();
    const p = policy({ perDayMicros: 5 * USD, requestsPerMinute: 100 });
    const at = (ms: number, idempotencyKey?: string) =>
      store.reserve({
        scope,
        windows: windowsFor(p, 2 * USD, ms, undefined),
        now: ms,
        ...(idempotencyKey !== undefined && { idempotencyKey }),
      });
    expect(await store.lastUsed(scope)).toBeUndefined();
    const before = store.stats.roundTrips;
    ok(await at(NOW, 'k'));
    expect(store.stats.roundTrips - before).toBe(1);
    expect(await store.lastUsed(scope)).toBe(NOW);

    await inspect.expire(`{vk:${scope}}:last`, 60);
    expect(await at(NOW + 5_000, 'k')).toMatchObject({ ok: true, replay: true });
    expect(await store.lastUsed(scope)).toBe(NOW + 5_000);
    expect(await inspect.ttl(`{vk:${scope}}:last`)).toBeGreaterThan(35 * 86_400 - 2);

    // A replica whose clock runs behind does not move it back; a refused call does not move it at all.
    ok(await at(NOW + 1_000, 'other-call-0'));
    expect(await store.lastUsed(scope)).toBe(NOW + 5_000);
    expect(await at(NOW + 9_000)).toMatchObject({ ok: false, refused: 'day' });
    expect(await store.lastUsed(scope)).toBe(NOW + 5_000);
  });

  it('does not push out the expiry of an existing bucket on later writes', async () => {
    const scope = freshScope();
    const windows = windowsFor(policy({ perDayMicros: 100 * USD }), USD, NOW, undefined);
    ok(await store.reserve({ scope, windows, now: NOW }));
    await inspect.expire(`{vk:${scope}}:day:2026-11-26`, 50);
    ok(await store.reserve({ scope, windows, now: NOW }));
    expect(await inspect.ttl(`{vk:${scope}}:day:2026-11-26`)).toBeLessThanOrEqual(50);
    expect(await store.used(scope, 'day:2026-11-26')).toBe(2 * USD);
  });

  it('holds a $100 day cap exactly under 500 concurrent $1 reserves from 3 separate stores', async () => {
    const scope = freshScope();
    const stores = [0, 1, 2].map(() => createRedisCounterStore(server.url, { timeoutMs: 2_000 }));
    try {
      for (const s of stores) expect(await s.waitUntilReady()).toBe(true);
      const windows = windowsFor(policy({ perDayMicros: 100 * USD }), USD, NOW, undefined);
      const results = await Promise.all(
        Array.from({ length: 500 }, (_, i) =>
          (stores[i % 3] as RedisCounterStore).reserve({ scope, windows, now: NOW }),
        ),
      );
      expect(results.filter((r) => r.ok)).toHaveLength(100);
      const refusals = results.filter((r) => !r.ok);
      expect(
        refusals.every((r) => r.refused === 'day' && r.used === 100 * USD && r.limit === 100 * USD),
      ).toBe(true);
      expect(await store.used(scope, 'day:2026-11-26')).toBe(100_000_000);
      expect(stores.reduce((n, s) => n + s.stats.roundTrips, 0)).toBe(500);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('refuses all-or-nothing: a full month leaves the day and the call rate untouched', async () => {
    const scope = freshScope();
    const p = policy({ perDayMicros: 100 * USD, perMonthMicros: 3 * USD, requestsPerMinute: 10 });
    ok(await store.reserve({ scope, windows: windowsFor(p, 2 * USD, NOW, undefined), now: NOW }));
    const r = await store.reserve({ scope, windows: windowsFor(p, 2 * USD, NOW, undefined), now: NOW });
    expect(r).toEqual({ ok: false, refused: 'month', used: 2 * USD, limit: 3 * USD });
    expect(await store.used(scope, 'day:2026-11-26')).toBe(2 * USD);
    expect(await store.used(scope, `minute:${Math.floor(NOW / 60_000)}`)).toBe(1);
  });

  it('reserves an idempotent retry once, and counts it again once the first call was released', async () => {
    const scope = freshScope();
    const windows = windowsFor(policy({ perDayMicros: 100 * USD }), 5 * USD, NOW, undefined);
    const first = ok(
      await store.reserve({ scope, windows, now: NOW, idempotencyKey: 'stripe-node-retry-1' }),
    );
    expect(first.replay).toBe(false);
    expect(await store.reserve({ scope, windows, now: NOW, idempotencyKey: 'stripe-node-retry-1' })).toEqual({
      ok: true,
      replay: true,
      reservation: { scope, money: [] },
    });
    expect(await store.used(scope, 'day:2026-11-26')).toBe(5 * USD);

    await store.settle(first.reservation, 0);
    expect(await inspect.exists(`{vk:${scope}}:idem:stripe-node-retry-1`)).toBe(0);
    expect(await store.used(scope, 'day:2026-11-26')).toBe(0);
    expect(
      await store.reserve({ scope, windows, now: NOW, idempotencyKey: 'stripe-node-retry-1' }),
    ).toMatchObject({
      replay: false,
    });
    expect(await store.used(scope, 'day:2026-11-26')).toBe(5 * USD);
  });

  it.each([
    ['releases everything when settled to 0', 0, 0, 1],
    ['lowers every money window to the actual cost', 3, 3, 1],
    ['raises every money window to the actual cost', 12, 12, 1],
    ['keeps the reservation without a round trip when the price was exact', 10, 10, 0],
  ])('settle %s', async (_name, actualUsd, expectedUsd, trips) => {
    const scope = freshScope();
    const p = policy({ perDayMicros: 100 * USD, perMonthMicros: 1_000 * USD, requestsPerMinute: 100 });
    const r = ok(await store.reserve({ scope, windows: windowsFor(p, 10 * USD, NOW, undefined), now: NOW }));
    const before = store.stats.roundTrips;
    await store.settle(r.reservation, actualUsd * USD);
    expect(store.stats.roundTrips - before).toBe(trips);
    expect(await store.used(scope, 'day:2026-11-26')).toBe(expectedUsd * USD);
    expect(await store.used(scope, 'month:2026-11')).toBe(expectedUsd * USD);
    expect(await store.used(scope, `minute:${Math.floor(NOW / 60_000)}`)).toBe(1);
  });

  it('never takes a counter below zero when the bucket vanished before settle', async () => {
    const scope = freshScope();
    const windows = windowsFor(policy({ perDayMicros: 100 * USD }), 10 * USD, NOW, undefined);
    const r = ok(await store.reserve({ scope, windows, now: NOW }));
    await inspect.set(`{vk:${scope}}:day:2026-11-26`, '4000000', 'EX', 60);
    await store.settle(r.reservation, 0);
    expect(await inspect.get(`{vk:${scope}}:day:2026-11-26`)).toBe('0');
  });

  it('caps each agent run separately', async () => {
    const scope = freshScope();
    const p = policy({ perRunMicros: 3 * USD });
    for (let i = 0; i < 3; i++)
      ok(await store.reserve({ scope, windows: windowsFor(p, USD, NOW, 'run-a'), now: NOW }));
    expect(await store.reserve({ scope, windows: windowsFor(p, USD, NOW, 'run-a'), now: NOW })).toEqual({
      ok: false,
      refused: 'run',
      used: 3 * USD,
      limit: 3 * USD,
    });
    ok(await store.reserve({ scope, windows: windowsFor(p, USD, NOW, 'run-b'), now: NOW }));
    expect(await store.used(scope, 'run:run-a')).toBe(3 * USD);
    expect(await store.used(scope, 'run:run-b')).toBe(USD);
  });

  it('limits the call rate, counting idempotent replays too', async () => {
    const scope = freshScope();
    const p = policy({ perDayMicros: 100 * USD, requestsPerMinute: 2 });
    const windows = windowsFor(p, USD, NOW, undefined);
    ok(await store.reserve({ scope, windows, now: NOW, idempotencyKey: 'k' }));
    expect(await store.reserve({ scope, windows, now: NOW, idempotencyKey: 'k' })).toMatchObject({
      replay: true,
    });
    expect(await store.reserve({ scope, windows, now: NOW, idempotencyKey: 'k' })).toEqual({
      ok: false,
      refused: 'minute',
      used: 2,
      limit: 2,
    });
  });
});

describe('RedisCounterStore when Redis fails', () => {
  const timeoutMs = 100;
  let server: RedisServer;
  let store: RedisCounterStore;
  const windows = windowsFor(policy({ perDayMicros: 100 * USD }), USD, NOW, undefined);

  beforeAll(async () => {
    server = await startRedis();
    store = createRedisCounterStore(server.url, { timeoutMs });
    expect(await store.waitUntilReady()).toBe(true);
  });

  afterAll(async () => {
    await store?.close();
    await server?.stop();
  });

  async function failureOf(p: Promise<unknown>): Promise<{ error: unknown; ms: number }> {
    const t = performance.now();
    const error = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    return { error, ms: performance.now() - t };
  }

  it('fails closed while redis-server is dead, and recovers within a second of its return', async () => {
    const scope = freshScope();
    ok(await store.reserve({ scope, windows, now: NOW }));
    await server.kill();

    const dead = await failureOf(store.reserve({ scope, windows, now: NOW }));
    expect(dead.error).toBeInstanceOf(CounterStoreUnavailableError);
    expect(dead.ms).toBeLessThan(timeoutMs + 100);
    expect(await store.healthy()).toBe(false);
    const settle = await failureOf(
      store.settle({ scope, money: [{ bucket: 'day:x', amount: 1, ttlSeconds: 9 }] }, 0),
    );
    expect(settle.error).toBeInstanceOf(CounterStoreUnavailableError);

    await server.restart();
    const back = performance.now();
    await waitFor('the store to reconnect', () => store.healthy(), 5_000);
    expect(performance.now() - back).toBeLessThan(1_500);
    // Redis came back empty: the counters restarted from zero (docs/counters.md, restart semantics).
    ok(await store.reserve({ scope, windows, now: NOW }));
    expect(await store.used(scope, 'day:2026-11-26')).toBe(USD);
  });

  it('fails closed within the timeout when redis-server hangs, and the late write only over-counts', async () => {
    const scope = freshScope();
    server.pause();
    try {
      const hung = await failureOf(store.reserve({ scope, windows, now: NOW }));
      expect(hung.error).toBeInstanceOf(CounterStoreUnavailableError);
      expect((hung.error as Error).message).toContain(`${timeoutMs} ms`);
      expect(hung.ms).toBeLessThan(timeoutMs + 100);
    } finally {
      server.resume();
    }
    await waitFor('the store to answer again', () => store.healthy(), 5_000);
    // The denied call's script was already on the wire and ran when Redis woke up: the error is on
    // the safe side (counted, not spent), never the other way round.
    expect(await store.used(scope, 'day:2026-11-26')).toBe(USD);
  });
});

describe('RedisCounterStore on a three-master Redis Cluster', () => {
  let cluster: RedisClusterHandle;
  const stores: RedisCounterStore[] = [];

  beforeAll(async () => {
    cluster = await startRedisCluster();
    for (let i = 0; i < 3; i++) stores.push(createRedisCounterStore(cluster.url, { timeoutMs: 2_000 }));
    for (const s of stores) expect(await s.waitUntilReady(10_000)).toBe(true);
  });

  afterAll(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await cluster?.stop();
  });

  it('holds a $100 day cap exactly under 500 concurrent reserves from 3 stores, with no CROSSSLOT', async () => {
    const scope = freshScope();
    const p = policy({
      perDayMicros: 100 * USD,
      perMonthMicros: 1_000 * USD,
      perRunMicros: 1_000 * USD,
      requestsPerMinute: 10_000,
    });
    const windows = windowsFor(p, USD, NOW, 'run-1');
    const results = await Promise.all(
      Array.from({ length: 500 }, (_, i) =>
        (stores[i % 3] as RedisCounterStore).reserve({ scope, windows, now: NOW, idempotencyKey: `k-${i}` }),
      ),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(100);
    expect(await stores[0]?.used(scope, 'day:2026-11-26')).toBe(100_000_000);
    expect(await stores[1]?.used(scope, 'month:2026-11')).toBe(100_000_000);
    expect(await stores[2]?.used(scope, `minute:${Math.floor(NOW / 60_000)}`)).toBe(100);
  });

  it('serves vault keys whose slots live on different masters', async () => {
    const scopes = Array.from({ length: 12 }, freshScope);
    const p = policy({ perDayMicros: 5 * USD });
    const results = await Promise.all(
      scopes.flatMap((scope) =>
        Array.from({ length: 8 }, (_, i) =>
          (stores[i % 3] as RedisCounterStore).reserve({
            scope,
            windows: windowsFor(p, USD, NOW, undefined),
            now: NOW,
          }),
        ),
      ),
    );
    expect(results.filter((r) => r.ok)).toHaveLength(12 * 5);
    const owners = new Set<number>();
    // The scopes really are spread over the masters, so the test exercised more than one node.
    const inspect = new Redis(cluster.ports[0] as number, '127.0.0.1');
    try {
      const ranges = (await inspect.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
      for (const scope of scopes) {
        const slot = Number(await inspect.call('CLUSTER', 'KEYSLOT', `{vk:${scope}}`));
        const owner = ranges.find(([from, to]) => from <= slot && slot <= to);
        owners.add(owner?.[2][1] ?? -1);
      }
    } finally {
      inspect.disconnect();
    }
    expect(owners.size).toBeGreaterThan(1);
  });
});
