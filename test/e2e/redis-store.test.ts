// The Redis counter store against real redis-server processes: the exact keys and TTLs the Lua
// script writes, caps held exactly under concurrency across separate connections (one server and a
// three-master cluster), idempotency, settle, and failing closed while Redis is gone or hung.
import { createHash, randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leaseKey } from '../../src/counters/keys.ts';
import { createRedisCounterStore, type RedisCounterStore } from '../../src/counters/redis-store.ts';
import {
  CounterStoreUnavailableError,
  type LeaseRequest,
  type LeaseResult,
  type ReserveResult,
  type WindowSpec,
} from '../../src/counters/store.ts';
import { windowsFor } from '../../src/counters/windows.ts';
import { sharedLease } from '../../src/lease-names.ts';
import type { CompiledLimits, CompiledPolicy } from '../../src/snapshot/types.ts';
import { type RedisServer, startRedis, waitFor } from '../env/redis.ts';
import { type RedisClusterHandle, startRedisCluster } from '../env/redis-cluster.ts';
import { freshLeaseAccount, runSharedLeaseCase, SHARED_LEASE_CASES } from '../fixtures/shared-leases.ts';

const USD = 1_000_000;
const NOW = new Date('2026-11-26T10:15:30Z').getTime();
let seq = 0;
const freshScope = () => `agents/bot-${process.pid}-${++seq}`;
/** The fingerprint of "the same call" (the pipeline sends the sha256 hex of the canonical call). */
const FP = 'a'.repeat(64);
/** The name part of an idempotency record: the key is always hashed (a caller may put a credential in it). */
const hashedIdem = (key: string) => `sha256:${createHash('sha256').update(key).digest('hex')}`;

function policy(limits: CompiledLimits, timezone = 'UTC'): CompiledPolicy {
  return { ref: 'agents/p', limits, timezone, readsWhenStoreDown: false };
}

function ok(r: ReserveResult) {
  if (!r.ok) throw new Error(`expected ok, got ${JSON.stringify(r)}`);
  return r;
}

function ok2(r: LeaseResult) {
  if (!r.ok) throw new Error(`expected the leases, got ${JSON.stringify(r)}`);
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
    ok(await store.reserve({ scope, windows, now: NOW, idempotency: { key: 'idem-abc', fingerprint: FP } }));
    expect(store.stats.roundTrips - before).toBe(1);

    const minute = `minute:${Math.floor(NOW / 60_000)}`;
    const expected: Record<string, [string, number]> = {
      [`{vk:${scope}}:day:2026-11-26`]: ['2500000', 13 * 3600 + 44 * 60 + 30 + 86_400],
      [`{vk:${scope}}:month:2026-11`]: ['2500000', 4 * 86_400 + 13 * 3600 + 44 * 60 + 30 + 86_400],
      [`{vk:${scope}}:run:run-1`]: ['2500000', 7 * 86_400],
      [`{vk:${scope}}:${minute}`]: ['1', 120],
      [`{vk:${scope}}:idem:${hashedIdem('idem-abc')}`]: [FP, 86_400],
      [`{vk:${scope}}:last`]: [String(NOW), 35 * 86_400],
    };
    // The epoch of the money windows: the proxy's nonce and call count, living as long as the longest.
    const epoch = `{vk:${scope}}:epoch`;
    expect(await inspect.get(epoch)).toMatch(/^[0-9a-f]{12}\.\d+$/);
    expect(await inspect.ttl(epoch)).toBeGreaterThanOrEqual(expected[`{vk:${scope}}:month:2026-11`]![1] - 1);
    expect((await inspect.keys(`{vk:${scope}}*`)).sort()).toEqual([...Object.keys(expected), epoch].sort());
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
        ...(idempotencyKey !== undefined && { idempotency: { key: idempotencyKey, fingerprint: FP } }),
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
        refusals.every(
          (r) => 'refused' in r && r.refused === 'day' && r.used === 100 * USD && r.limit === 100 * USD,
        ),
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
    const retry = () =>
      store.reserve({
        scope,
        windows,
        now: NOW,
        idempotency: { key: 'stripe-node-retry-1', fingerprint: FP },
      });
    const first = ok(await retry());
    expect(first.replay).toBe(false);
    expect(await store.settle(first.reservation, 0)).toBe('settled');
    expect(await inspect.exists(`{vk:${scope}}:idem:${hashedIdem('stripe-node-retry-1')}`)).toBe(0);
    expect(await store.used(scope, 'day:2026-11-26')).toBe(0);
    const again = ok(await retry());
    expect(again.replay).toBe(false);
    expect(await retry()).toEqual({ ok: true, replay: true, reservation: { scope, money: [] } });
    expect(await store.used(scope, 'day:2026-11-26')).toBe(5 * USD);
  });

  // The race an agent can provoke: the first call is in flight, its retry is admitted free and
  // succeeds at the vendor, then the vendor refuses the first one (a 429 stores no result).
  it('keeps the first call counted when it is released after a replay was admitted in flight', async () => {
    const scope = freshScope();
    const record = `{vk:${scope}}:idem:${hashedIdem('stripe-node-retry-1')}`;
    const windows = windowsFor(policy({ perDayMicros: 100 * USD }), 5 * USD, NOW, undefined);
    const retry = () =>
      store.reserve({
        scope,
        windows,
        now: NOW,
        idempotency: { key: 'stripe-node-retry-1', fingerprint: FP },
      });
    const first = ok(await retry());
    const ttl = await inspect.pttl(record);
    expect(await retry()).toMatchObject({ ok: true, replay: true });
    expect(await inspect.get(record)).toBe(`${FP}+`);
    // Marking it kept the record's expiry (a replay must not make it live longer).
    expect(await inspect.pttl(record)).toBeLessThanOrEqual(ttl);
    expect(await inspect.pttl(record)).toBeGreaterThan(ttl - 5_000);

    expect(await store.settle(first.reservation, 0)).toBe('kept');
    expect(await store.used(scope, 'day:2026-11-26')).toBe(5 * USD);
    expect(await inspect.get(record)).toBe(`${FP}+`);
    expect(await retry()).toMatchObject({ ok: true, replay: true });
    expect(await store.used(scope, 'day:2026-11-26')).toBe(5 * USD);
  });

  // An evicting Redis (or anyone) may drop the record while the call is at the vendor; a replay
  // admitted before that left no mark to find, so a refusal gives nothing back.
  it('keeps the first call counted when its record is gone by the time it is released', async () => {
    const scope = freshScope();
    const windows = windowsFor(policy({ perDayMicros: 100 * USD }), 5 * USD, NOW, undefined);
    const first = ok(
      await store.reserve({ scope, windows, now: NOW, idempotency: { key: 'gone-1', fingerprint: FP } }),
    );
    expect(await inspect.del(`{vk:${scope}}:idem:${hashedIdem('gone-1')}`)).toBe(1);
    expect(await store.settle(first.reservation, 0)).toBe('kept');
    expect(await store.used(scope, 'day:2026-11-26')).toBe(5 * USD);
  });

  it('never takes a literal `sha256:<hex>` key for the hashed name of a long key', async () => {
    const scope = freshScope();
    const windows = windowsFor(policy({ perDayMicros: 100 * USD }), 5 * USD, NOW, undefined);
    const long = `L1-${'0'.repeat(200)}`;
    const literal = `sha256:${createHash('sha256').update(long).digest('hex')}`;
    const call = (key: string) =>
      store.reserve({ scope, windows, now: NOW, idempotency: { key, fingerprint: FP } });
    expect(ok(await call(long)).replay).toBe(false);
    expect(ok(await call(literal)).replay).toBe(false);
    expect(await store.used(scope, 'day:2026-11-26')).toBe(10 * USD);
    expect(ok(await call(long)).replay).toBe(true);
    expect(ok(await call(literal)).replay).toBe(true);
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
    // Nothing left spent: the window is gone (the same as 0 to every reader).
    expect(await inspect.exists(`{vk:${scope}}:day:2026-11-26`)).toBe(0);
    expect(await store.used(scope, 'day:2026-11-26')).toBe(0);
  });

  it('gives nothing back to windows Redis lost and started again, and counts the actual cost there', async () => {
    const scope = freshScope();
    const p = policy({ perDayMicros: 100 * USD });
    const before = ok(
      await store.reserve({ scope, windows: windowsFor(p, 20 * USD, NOW, undefined), now: NOW }),
    );
    const spent = ok(
      await store.reserve({ scope, windows: windowsFor(p, 5 * USD, NOW, undefined), now: NOW }),
    );
    // Redis loses the scope's keys (a restart without persistence does the same to every key).
    await inspect.del(...(await inspect.keys(`{vk:${scope}}*`)));
    ok(await store.reserve({ scope, windows: windowsFor(p, 100 * USD, NOW, undefined), now: NOW }));

    // The vendor refused the first call: its $20 were never in the window counting now.
    await store.settle(before.reservation, 0);
    expect(await store.used(scope, 'day:2026-11-26')).toBe(100 * USD);
    expect((await store.reserve({ scope, windows: windowsFor(p, USD, NOW, undefined), now: NOW })).ok).toBe(
      false,
    );
    // The second cost $3 of its $5: spent, and counted where it now counts.
    await store.settle(spent.reservation, 3 * USD);
    expect(await store.used(scope, 'day:2026-11-26')).toBe(103 * USD);
  });

  it('leaves no window behind for a call released to 0, and keeps one another call still holds', async () => {
    const scope = freshScope();
    const p = policy({ perRunMicros: 10 * USD });
    const first = ok(await store.reserve({ scope, windows: windowsFor(p, USD, NOW, 'run-z'), now: NOW }));
    const second = ok(
      await store.reserve({ scope, windows: windowsFor(p, 2 * USD, NOW, 'run-z'), now: NOW }),
    );
    await store.settle(first.reservation, 0);
    expect(await store.used(scope, 'run:run-z')).toBe(2 * USD);
    await store.settle(second.reservation, 0);
    expect(await inspect.exists(`{vk:${scope}}:run:run-z`)).toBe(0);
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
    ok(await store.reserve({ scope, windows, now: NOW, idempotency: { key: 'k', fingerprint: FP } }));
    expect(
      await store.reserve({ scope, windows, now: NOW, idempotency: { key: 'k', fingerprint: FP } }),
    ).toMatchObject({
      replay: true,
    });
    expect(
      await store.reserve({ scope, windows, now: NOW, idempotency: { key: 'k', fingerprint: FP } }),
    ).toEqual({
      ok: false,
      refused: 'minute',
      used: 2,
      limit: 2,
    });
  });
});

const ACCOUNT = 'stripe:0123456789abcdef0123456789abcdef';

function leaseRequest(
  scope: string,
  token: string,
  objects: string[],
  { ttlMs = 35_000, windows = [] as WindowSpec[], account = ACCOUNT } = {},
): LeaseRequest {
  return { scope, windows, now: NOW, leases: { account, objects, token, ttlMs } };
}

const minuteOf = (limit: number): WindowSpec => ({
  kind: 'minute',
  bucket: `minute:${Math.floor(NOW / 60_000)}`,
  limit,
  amount: 1,
  ttlSeconds: 120,
});

const dayCeiling = (limit: number): WindowSpec => ({
  kind: 'day',
  bucket: 'day:2026-11-26',
  limit,
  amount: 1,
  ttlSeconds: 3600,
});

/**
 * ADR 0003, fifth round: before a lookup, the lease step is refused when a cap the call would raise is
 * already spent (a ceiling), ahead of the rate and writing nothing; with a micro-dollar left it passes
 * and the ceiling is not written.
 */
async function checksCeilings(store: RedisCounterStore, token: () => string): Promise<void> {
  const scope = freshScope();
  const spent = await store.reserve({
    scope,
    windows: [{ ...dayCeiling(5 * USD), amount: 5 * USD }],
    now: NOW,
  });
  expect(spent.ok).toBe(true);
  const step = (limit: number) => ({
    ...leaseRequest(scope, token(), ['pi_ceiling'], { windows: [minuteOf(1)] }),
    ceilings: [dayCeiling(limit)],
  });

  expect(await store.acquireLeases({ ...step(5 * USD), windows: [minuteOf(0)] })).toEqual({
    ok: false,
    refused: 'day',
    used: 5 * USD,
    limit: 5 * USD,
  });
  expect(await store.used(scope, minuteOf(1).bucket)).toBe(0);

  const held = ok2(await store.acquireLeases(step(5 * USD + 1)));
  expect(held.held?.objects).toEqual(['pi_ceiling']);
  expect(await store.used(scope, 'day:2026-11-26')).toBe(5 * USD);
  expect(await store.used(scope, minuteOf(1).bucket)).toBe(1);
}

describe('RedisCounterStore replays and leases on one redis-server (ADR 0007 §4, §5)', () => {
  let server: RedisServer;
  let store: RedisCounterStore;
  let inspect: Redis;
  const token = () => `token-${randomBytes(8).toString('hex')}`;

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

  it('refuses a lookup step whose cap is spent before its rate, writing nothing and taking no lease', async () => {
    await checksCeilings(store, token);
  });

  it('is a replay when the fingerprint is equal, and counts a different one as a new call', async () => {
    const scope = freshScope();
    const windows = windowsFor(policy({ perDayMicros: 100 * USD }), 5 * USD, NOW, undefined);
    const call = (fingerprint: string) =>
      store.reserve({ scope, windows, now: NOW, idempotency: { key: 'order-1', fingerprint } });
    const first = ok(await call('fp-a'));
    expect(first.reservation.idempotency).toEqual({ key: 'order-1', fingerprint: 'fp-a' });
    expect(await call('fp-a')).toMatchObject({ ok: true, replay: true });
    expect(await store.used(scope, 'day:2026-11-26')).toBe(5 * USD);
    // The record now says a replay went through: the first call's money can no longer be released.
    expect(await inspect.get(`{vk:${scope}}:idem:${hashedIdem('order-1')}`)).toBe('fp-a+');

    const other = ok(await call('fp-b'));
    expect(other.replay).toBe(false);
    // It wrote no record: the first call's record stands, so its retry is still the replay.
    expect(other.reservation.idempotency).toBeUndefined();
    expect(await inspect.get(`{vk:${scope}}:idem:${hashedIdem('order-1')}`)).toBe('fp-a+');
    expect(await store.used(scope, 'day:2026-11-26')).toBe(10 * USD);
    expect(await call('fp-a')).toMatchObject({ replay: true });

    // Settling the other call to 0 leaves the first record alone; the first, replayed, stays counted.
    expect(await store.settle(other.reservation, 0)).toBe('settled');
    expect(await inspect.get(`{vk:${scope}}:idem:${hashedIdem('order-1')}`)).toBe('fp-a+');
    expect(await store.settle(first.reservation, 0)).toBe('kept');
    expect(await store.used(scope, 'day:2026-11-26')).toBe(5 * USD);

    // Without a replay in between, settling the first call to 0 forgets it.
    const lone = ok(
      await store.reserve({ scope, windows, now: NOW, idempotency: { key: 'order-2', fingerprint: 'fp-a' } }),
    );
    expect(await store.settle(lone.reservation, 0)).toBe('settled');
    expect(await inspect.exists(`{vk:${scope}}:idem:${hashedIdem('order-2')}`)).toBe(0);
  });

  it('treats a record written before fingerprints ("1") as another call: counted, on the safe side', async () => {
    const scope = freshScope();
    await inspect.set(`{vk:${scope}}:idem:${hashedIdem('old-key')}`, '1', 'EX', 60);
    const windows = windowsFor(policy({ perDayMicros: 100 * USD }), 5 * USD, NOW, undefined);
    expect(
      await store.reserve({ scope, windows, now: NOW, idempotency: { key: 'old-key', fingerprint: FP } }),
    ).toMatchObject({ ok: true, replay: false });
    expect(await store.used(scope, 'day:2026-11-26')).toBe(5 * USD);
  });

  it('holds a lease exclusively, under the account hash tag, with its TTL, in one round trip', async () => {
    const scope = freshScope();
    const a = token();
    const before = store.stats.roundTrips;
    expect(await store.acquireLeases(leaseRequest(scope, a, ['pi_excl']))).toEqual({
      ok: true,
      held: { account: ACCOUNT, objects: ['pi_excl'], token: a },
    });
    expect(store.stats.roundTrips - before).toBe(1);
    const key = `{lease:${ACCOUNT}}:pi_excl`;
    expect(await inspect.get(key)).toBe(a);
    const ttl = await inspect.pttl(key);
    expect(ttl).toBeGreaterThan(30_000);
    expect(ttl).toBeLessThanOrEqual(35_000);
    expect(await store.acquireLeases(leaseRequest(freshScope(), token(), ['pi_excl']))).toEqual({
      ok: false,
      busy: 'pi_excl',
    });
    await store.releaseLeases({ account: ACCOUNT, objects: ['pi_excl'], token: a });
    expect(await inspect.exists(key)).toBe(0);
  });

  it('releases by token only: a stale release spares the lease another call holds now', async () => {
    const scope = freshScope();
    const holder = token();
    ok2(await store.acquireLeases(leaseRequest(scope, holder, ['pi_tok'])));
    await store.releaseLeases({ account: ACCOUNT, objects: ['pi_tok'], token: token() });
    expect(await inspect.get(`{lease:${ACCOUNT}}:pi_tok`)).toBe(holder);
  });

  it('expires a lease that is never released after its TTL', async () => {
    const scope = freshScope();
    ok2(await store.acquireLeases(leaseRequest(scope, token(), ['pi_ttl'], { ttlMs: 40 })));
    expect(await store.acquireLeases(leaseRequest(scope, token(), ['pi_ttl']))).toMatchObject({ ok: false });
    await waitFor(
      'the lease to expire',
      async () => (await inspect.exists(`{lease:${ACCOUNT}}:pi_ttl`)) === 0,
    );
    expect(await store.acquireLeases(leaseRequest(scope, token(), ['pi_ttl']))).toMatchObject({ ok: true });
  });

  // Fourth round: a lease counted only from when it was taken expired during a long price lookup.
  it("renews a call's leases in one round trip, only while it still holds every one", async () => {
    const scope = freshScope();
    const pi = `{lease:${ACCOUNT}}:pi_renew`;
    const ch = `{lease:${ACCOUNT}}:ch_renew`;
    const held = ok2(
      await store.acquireLeases(leaseRequest(scope, token(), ['pi_renew', 'ch_renew'], { ttlMs: 1_000 })),
    ).held!;
    const before = store.stats.roundTrips;
    expect(await store.renewLeases(held, 35_000)).toEqual({ ok: true });
    expect(store.stats.roundTrips - before).toBe(1);
    for (const key of [pi, ch]) {
      expect(await inspect.get(key)).toBe(held.token);
      expect(await inspect.pttl(key)).toBeGreaterThan(30_000);
    }

    // Taken by another call since (it expired): lost, and nothing is extended.
    await inspect.set(ch, 'another-call', 'PX', 5_000);
    expect(await store.renewLeases(held, 60_000)).toEqual({ ok: false, lost: 'ch_renew' });
    expect(await inspect.pttl(pi)).toBeLessThanOrEqual(35_000);
    expect(await inspect.get(ch)).toBe('another-call');
    expect(await inspect.pttl(ch)).toBeLessThanOrEqual(5_000);

    // Expired and free: lost all the same, and not taken again.
    await inspect.del(ch);
    expect(await store.renewLeases(held, 60_000)).toEqual({ ok: false, lost: 'ch_renew' });
    expect(await inspect.exists(ch)).toBe(0);
  });

  it('takes several leases all or none', async () => {
    const scope = freshScope();
    ok2(await store.acquireLeases(leaseRequest(scope, token(), ['ch_many'])));
    expect(await store.acquireLeases(leaseRequest(scope, token(), ['pi_many', 'ch_many']))).toEqual({
      ok: false,
      busy: 'ch_many',
    });
    expect(await inspect.exists(`{lease:${ACCOUNT}}:pi_many`)).toBe(0);
    const both = ok2(await store.acquireLeases(leaseRequest(scope, token(), ['pi_many2', 'ch_many2'])));
    expect(await inspect.exists(`{lease:${ACCOUNT}}:pi_many2`, `{lease:${ACCOUNT}}:ch_many2`)).toBe(2);
    await store.releaseLeases(both.held!);
    expect(await inspect.exists(`{lease:${ACCOUNT}}:pi_many2`, `{lease:${ACCOUNT}}:ch_many2`)).toBe(0);
  });

  it('counts the call rate in the same script: a refused call takes no lease, a busy one is counted', async () => {
    const scope = freshScope();
    const rate = { windows: [minuteOf(2)] };
    const before = store.stats.roundTrips;
    ok2(await store.acquireLeases(leaseRequest(scope, token(), ['pi_rate'], rate)));
    expect(store.stats.roundTrips - before).toBe(1);
    expect(await store.lastUsed(scope)).toBe(NOW);
    expect(await store.acquireLeases(leaseRequest(scope, token(), ['pi_rate'], rate))).toEqual({
      ok: false,
      busy: 'pi_rate',
    });
    expect(await store.acquireLeases(leaseRequest(scope, token(), ['pi_rate2'], rate))).toEqual({
      ok: false,
      refused: 'minute',
      used: 2,
      limit: 2,
    });
    expect(await inspect.exists(`{lease:${ACCOUNT}}:pi_rate2`)).toBe(0);
    expect(await store.used(scope, minuteOf(2).bucket)).toBe(2);
  });

  it('gives exactly one of 200 concurrent calls from 3 stores the lease', async () => {
    const stores = [0, 1, 2].map(() => createRedisCounterStore(server.url, { timeoutMs: 2_000 }));
    try {
      for (const s of stores) expect(await s.waitUntilReady()).toBe(true);
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          stores[i % 3]!.acquireLeases(leaseRequest(freshScope(), token(), ['pi_contended'])),
        ),
      );
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      expect(results.filter((r) => !r.ok && 'busy' in r)).toHaveLength(199);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });
});

// Fourteenth round: the account's tax settings, exclusive between previews, let one tenant's loop of
// free previews hold every other tenant's off (ADR 0007 §5). The same cases as the memory store's.
describe('RedisCounterStore shared leases on one redis-server (lease-names.ts)', () => {
  let server: RedisServer;
  let stores: RedisCounterStore[];
  let inspect: Redis;

  beforeAll(async () => {
    server = await startRedis();
    stores = [0, 1].map(() => createRedisCounterStore(server.url, { timeoutMs: 2_000 }));
    inspect = new Redis(server.port, '127.0.0.1');
    for (const s of stores) expect(await s.waitUntilReady()).toBe(true);
  });

  afterAll(async () => {
    await Promise.all((stores ?? []).map((s) => s.close()));
    inspect?.disconnect();
    await server?.stop();
  });

  for (const c of SHARED_LEASE_CASES) it(c.name, () => runSharedLeaseCase(stores[0]!, c, Date.now()));

  it('keeps the shares in one sorted set under the account hash tag, expiring with the last', async () => {
    const account = freshLeaseAccount();
    const key = leaseKey(account, sharedLease('tax settings'));
    const take = (store: RedisCounterStore, token: string, objects: string[], ttlMs: number) =>
      store.acquireLeases({
        scope: 'vk1',
        windows: [],
        now: Date.now(),
        leases: { account, objects, token, ttlMs },
      });
    expect(await take(stores[0]!, 'token-aaaa', [sharedLease('tax settings')], 60)).toMatchObject({
      ok: true,
    });
    expect(await take(stores[1]!, 'token-bbbb', [sharedLease('tax settings')], 30_000)).toMatchObject({
      ok: true,
    });
    expect(await inspect.zrange(key, '0', '-1')).toEqual(['token-aaaa', 'token-bbbb']);
    expect(await inspect.pttl(key)).toBeGreaterThan(20_000);
    // One share expires on its own; the other still holds the exclusive lease off.
    await waitFor('the first share to expire', async () => {
      const scores = await inspect.zrange(key, '0', '0', 'WITHSCORES');
      const [seconds, micros] = await inspect.time();
      return Number(scores[1]) <= Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    });
    expect(await take(stores[1]!, 'token-cccc', ['tax settings'], 30_000)).toEqual({
      ok: false,
      busy: 'tax settings',
    });
    await stores[1]!.releaseLeases({ account, objects: [sharedLease('tax settings')], token: 'token-bbbb' });
    expect(await take(stores[0]!, 'token-cccc', ['tax settings'], 30_000)).toMatchObject({ ok: true });
    expect(await inspect.zcard(key)).toBe(0);
  });

  it('gives one exclusive call or any number of shared ones, of 200 racing from two stores', async () => {
    const account = freshLeaseAccount();
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        stores[i % 2]!.acquireLeases({
          scope: 'vk1',
          windows: [],
          now: Date.now(),
          leases: {
            account,
            objects: [i % 4 === 0 ? 'tax settings' : sharedLease('tax settings')],
            token: `token-${i}-${randomBytes(4).toString('hex')}`,
            ttlMs: 30_000,
          },
        }),
      ),
    );
    const taken = results.flatMap((r, i) => (r.ok ? [i % 4 === 0 ? 'exclusive' : 'shared'] : []));
    // Never both kinds at once, and never two exclusive.
    expect(taken.includes('exclusive') && taken.includes('shared')).toBe(false);
    expect(taken.filter((t) => t === 'exclusive').length).toBeLessThanOrEqual(1);
    expect(taken.length).toBeGreaterThan(0);
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

  it('gives nothing back to a window the restart started again (a $20 release once let $120 through)', async () => {
    const scope = freshScope();
    const p = policy({ perDayMicros: 100 * USD });
    const day = (usd: number) => windowsFor(p, usd * USD, NOW, undefined);
    const inFlight = ok(await store.reserve({ scope, windows: day(20), now: NOW }));
    await server.kill();
    await server.restart();
    await waitFor('the store to reconnect', () => store.healthy(), 5_000);
    ok(await store.reserve({ scope, windows: day(100), now: NOW }));
    await store.settle(inFlight.reservation, 0);
    expect(await store.used(scope, 'day:2026-11-26')).toBe(100 * USD);
    expect((await store.reserve({ scope, windows: day(20), now: NOW })).ok).toBe(false);
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
        (stores[i % 3] as RedisCounterStore).reserve({
          scope,
          windows,
          now: NOW,
          idempotency: { key: `k-${i}`, fingerprint: FP },
        }),
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

  it("checks a spent cap on the vault key's slot beside the leases on the account's, with no CROSSSLOT", async () => {
    await checksCeilings(stores[0]!, () => `token-${randomBytes(8).toString('hex')}`);
  });

  it("counts the rate on the vault key's slot and takes leases on the account's slot, with no CROSSSLOT", async () => {
    const store = stores[0]!;
    const token = () => `token-${randomBytes(8).toString('hex')}`;
    const scope = freshScope();
    const rate = { windows: [minuteOf(3)] };
    const first = ok2(await store.acquireLeases(leaseRequest(scope, token(), ['pi_c1', 'ch_c1'], rate)));
    expect(await stores[1]!.acquireLeases(leaseRequest(freshScope(), token(), ['ch_c1'], rate))).toEqual({
      ok: false,
      busy: 'ch_c1',
    });
    expect(await stores[2]!.used(scope, minuteOf(3).bucket)).toBe(1);
    // Over the rate: refused, and the leases the other half took are given back at once.
    ok2(await store.acquireLeases({ scope, windows: rate.windows, now: NOW }));
    ok2(await store.acquireLeases({ scope, windows: rate.windows, now: NOW }));
    expect(await store.acquireLeases(leaseRequest(scope, token(), ['pi_c2'], rate))).toMatchObject({
      ok: false,
      refused: 'minute',
    });
    expect(await stores[1]!.acquireLeases(leaseRequest(freshScope(), token(), ['pi_c2']))).toMatchObject({
      ok: true,
    });
    expect(await stores[1]!.renewLeases(first.held!, 35_000)).toEqual({ ok: true });
    await store.releaseLeases(first.held!);
    expect(await stores[2]!.renewLeases(first.held!, 35_000)).toEqual({ ok: false, lost: 'pi_c1' });
    expect(
      await stores[2]!.acquireLeases(leaseRequest(freshScope(), token(), ['pi_c1', 'ch_c1'])),
    ).toMatchObject({ ok: true });
  });
});
