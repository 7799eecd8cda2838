import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { runSharedLeaseCase, SHARED_LEASE_CASES } from '../../test/fixtures/shared-leases.ts';
import { fixedClock } from '../clock.ts';
import { sharedLease } from '../lease-names.ts';
import { DEFAULT_MEMORY_MAX_ENTRIES, FULL_STORE_SWEEP_EVERY_MS, MemoryCounterStore } from './memory-store.ts';
import {
  CounterStoreUnavailableError,
  type LeaseRequest,
  type ReserveRequest,
  type WindowSpec,
} from './store.ts';

const USD = 1_000_000;
const T0 = '2026-11-26T10:00:00Z';
const NOW = Date.parse(T0);

function setup() {
  const clock = fixedClock(T0);
  const store = new MemoryCounterStore({ clock, sweepIntervalMs: 0 });
  return { clock, store };
}

const day = (amount: number, limit = 100 * USD, ttlSeconds = 3600): WindowSpec => ({
  kind: 'day',
  bucket: 'day:2026-11-26',
  limit,
  amount,
  ttlSeconds,
});
const month = (amount: number, limit: number): WindowSpec => ({
  kind: 'month',
  bucket: 'month:2026-11',
  limit,
  amount,
  ttlSeconds: 7200,
});
const minute = (limit: number): WindowSpec => ({
  kind: 'minute',
  bucket: 'minute:1',
  limit,
  amount: 1,
  ttlSeconds: 120,
});
/** The fingerprint of "the same call" in these tests; tests of other calls name their own. */
const SAME = 'fp-same-call';
const req = (windows: WindowSpec[], idempotencyKey?: string, fingerprint = SAME): ReserveRequest =>
  idempotencyKey === undefined
    ? { scope: 'vk1', windows, now: NOW }
    : { scope: 'vk1', windows, now: NOW, idempotency: { key: idempotencyKey, fingerprint } };

describe('MemoryCounterStore.reserve', () => {
  it('admits exactly the cap: a $100 day cap takes one hundred $1 calls and refuses the 101st', async () => {
    const { store } = setup();
    for (let i = 0; i < 100; i++) expect((await store.reserve(req([day(USD)]))).ok).toBe(true);
    expect(await store.reserve(req([day(USD)]))).toEqual({
      ok: false,
      refused: 'day',
      used: 100 * USD,
      limit: 100 * USD,
    });
    expect(await store.used('vk1', 'day:2026-11-26')).toBe(100 * USD);
  });

  it.each([
    ['a call that lands exactly on the limit is allowed', 60, 40, true],
    ['a call one micro-dollar over the limit is refused', 60, 40.000001, false],
    ['a call larger than the whole limit is refused on an empty counter', 0, 100.000001, false],
  ])('%s', async (_name, before, amountUsd, ok) => {
    const { store } = setup();
    if (before > 0) await store.reserve(req([day(before * USD)]));
    const r = await store.reserve(req([day(Math.round(amountUsd * USD))]));
    expect(r.ok).toBe(ok);
  });

  it('is all-or-nothing: when the month refuses, the day is not charged either', async () => {
    const { store } = setup();
    const r = await store.reserve(req([day(5 * USD), month(5 * USD, 4 * USD), minute(10)]));
    expect(r).toEqual({ ok: false, refused: 'month', used: 0, limit: 4 * USD });
    expect(await store.used('vk1', 'day:2026-11-26')).toBe(0);
    expect(await store.used('vk1', 'minute:1')).toBe(0);
  });

  it('names the first window in request order that would exceed', async () => {
    const { store } = setup();
    const r = await store.reserve(req([day(5 * USD, 1 * USD), month(5 * USD, 1 * USD)]));
    expect(r).toMatchObject({ ok: false, refused: 'day' });
  });

  it('returns a reservation of every money window but not of the call-rate window', async () => {
    const { store } = setup();
    const r = await store.reserve(req([day(3 * USD), month(3 * USD, 10 * USD), minute(5)]));
    expect(r).toEqual({
      ok: true,
      replay: false,
      reservation: {
        scope: 'vk1',
        money: [
          { bucket: 'day:2026-11-26', amount: 3 * USD, ttlSeconds: 3600 },
          { bucket: 'month:2026-11', amount: 3 * USD, ttlSeconds: 7200 },
        ],
      },
    });
  });

  it('refuses the call rate with used and limit counted in calls', async () => {
    const { store } = setup();
    await store.reserve(req([minute(2)]));
    await store.reserve(req([minute(2)]));
    expect(await store.reserve(req([minute(2)]))).toEqual({
      ok: false,
      refused: 'minute',
      used: 2,
      limit: 2,
    });
  });

  it('keeps the counters of two scopes apart', async () => {
    const { store } = setup();
    await store.reserve({ scope: 'a', windows: [day(100 * USD)], now: NOW });
    expect((await store.reserve({ scope: 'b', windows: [day(100 * USD)], now: NOW })).ok).toBe(true);
    expect((await store.reserve({ scope: 'a', windows: [day(1)], now: NOW })).ok).toBe(false);
  });

  it('admits exactly the cap when 500 reserves race', async () => {
    const { store } = setup();
    const results = await Promise.all(Array.from({ length: 500 }, () => store.reserve(req([day(USD)]))));
    expect(results.filter((r) => r.ok)).toHaveLength(100);
    expect(await store.used('vk1', 'day:2026-11-26')).toBe(100 * USD);
  });

  it.each([
    ['a negative amount', { ...day(-1) }],
    ['a fractional amount', { ...day(0.5) }],
    ['an unsafe integer limit', { ...day(1, 2 ** 53) }],
    ['a zero ttl', { ...day(1, 10, 0) }],
  ])('rejects %s as a programming error', async (_name, w) => {
    const { store } = setup();
    await expect(store.reserve(req([w]))).rejects.toThrow(RangeError);
  });
});

describe('MemoryCounterStore idempotency', () => {
  it('reserves a retried call once and reports the retry as a replay with no money', async () => {
    const { store } = setup();
    const first = await store.reserve(req([day(7 * USD)], 'idem-1'));
    const retry = await store.reserve(req([day(7 * USD)], 'idem-1'));
    expect(first).toMatchObject({
      ok: true,
      replay: false,
      reservation: { idempotency: { key: 'idem-1', fingerprint: SAME } },
    });
    expect(retry).toEqual({ ok: true, replay: true, reservation: { scope: 'vk1', money: [] } });
    expect(await store.used('vk1', 'day:2026-11-26')).toBe(7 * USD);
  });

  it('still counts a replay towards the call rate', async () => {
    const { store } = setup();
    await store.reserve(req([day(USD), minute(2)], 'k'));
    expect(await store.reserve(req([day(USD), minute(2)], 'k'))).toMatchObject({ ok: true, replay: true });
    expect(await store.reserve(req([day(USD), minute(2)], 'k'))).toMatchObject({
      ok: false,
      refused: 'minute',
    });
    expect(await store.used('vk1', 'day:2026-11-26')).toBe(USD);
  });

  it('does not record a key for a refused call, so its retry is checked afresh', async () => {
    const { store, clock } = setup();
    await store.reserve(req([day(100 * USD, 100 * USD, 60)]));
    expect((await store.reserve(req([day(USD, 100 * USD, 60)], 'k'))).ok).toBe(false);
    clock.advance(61_000);
    expect(await store.reserve(req([day(USD, 100 * USD, 60)], 'k'))).toMatchObject({
      ok: true,
      replay: false,
    });
  });

  it('scopes keys per vault key: the same key under another scope is a new call', async () => {
    const { store } = setup();
    const idempotency = { key: 'k', fingerprint: SAME };
    await store.reserve({ scope: 'a', windows: [day(USD)], now: NOW, idempotency });
    expect(await store.reserve({ scope: 'b', windows: [day(USD)], now: NOW, idempotency })).toMatchObject({
      replay: false,
    });
  });

  it('forgets a key after its TTL', async () => {
    const { store, clock } = setup();
    await store.reserve({
      scope: 'vk1',
      windows: [day(USD)],
      now: NOW,
      idempotency: { key: 'k', fingerprint: SAME, ttlSeconds: 10 },
    });
    clock.advance(9_999);
    expect(await store.reserve(req([day(USD)], 'k'))).toMatchObject({ replay: true });
    clock.advance(1);
    expect(await store.reserve(req([day(USD)], 'k'))).toMatchObject({ replay: false });
    expect(await store.used('vk1', 'day:2026-11-26')).toBe(2 * USD);
  });

  it('forgets a key whose call was released, so a retry of a call the vendor refused is counted', async () => {
    const { store } = setup();
    const first = await store.reserve(req([day(USD)], 'k'));
    if (!first.ok) throw new Error('expected ok');
    await store.settle(first.reservation, 0);
    expect(await store.reserve(req([day(USD)], 'k'))).toMatchObject({ ok: true, replay: false });
    expect(await store.used('vk1', 'day:2026-11-26')).toBe(USD);
  });

  // The race an agent can provoke: the first call is in flight, its retry is admitted free and
  // succeeds at the vendor, then the vendor refuses the first one (a 429 stores no result).
  it('keeps the first call counted when it is released after a replay was admitted in flight', async () => {
    const { store } = setup();
    const first = await store.reserve(req([day(USD, 2 * USD)], 'k'));
    if (!first.ok) throw new Error('expected ok');
    expect(await store.reserve(req([day(USD, 2 * USD)], 'k'))).toMatchObject({ ok: true, replay: true });
    expect(await store.settle(first.reservation, 0)).toBe('kept');
    expect(await store.used('vk1', 'day:2026-11-26')).toBe(USD);
    // Still one call: a further retry is free, and the cap holds for the next new one.
    expect(await store.reserve(req([day(USD, 2 * USD)], 'k'))).toMatchObject({ ok: true, replay: true });
    expect(await store.reserve(req([day(USD, 2 * USD)], 'other'))).toMatchObject({ ok: true, replay: false });
    expect(await store.reserve(req([day(USD, 2 * USD)], 'third'))).toMatchObject({
      ok: false,
      refused: 'day',
    });
  });

  it('never takes a literal `sha256:<hex>` key for the hashed name of a long or odd key', async () => {
    const { store } = setup();
    for (const hashed of [`L1-${'0'.repeat(200)}`, 'clé-été']) {
      const literal = `sha256:${createHash('sha256').update(hashed).digest('hex')}`;
      expect(await store.reserve(req([day(USD)], hashed))).toMatchObject({ ok: true, replay: false });
      expect(await store.reserve(req([day(USD)], literal))).toMatchObject({ ok: true, replay: false });
      expect(await store.reserve(req([day(USD)], literal))).toMatchObject({ ok: true, replay: true });
    }
    expect(await store.used('vk1', 'day:2026-11-26')).toBe(4 * USD);
  });

  it('settles a replayed call normally when the vendor reports its cost', async () => {
    const { store } = setup();
    const first = await store.reserve(req([day(10 * USD)], 'k'));
    if (!first.ok) throw new Error('expected ok');
    await store.reserve(req([day(10 * USD)], 'k'));
    expect(await store.settle(first.reservation, 4 * USD)).toBe('settled');
    expect(await store.used('vk1', 'day:2026-11-26')).toBe(4 * USD);
  });
});

describe('MemoryCounterStore.settle', () => {
  it.each([
    ['keeps the reservation when actual equals reserved', 10, 10, 10],
    ['lowers the counter to the actual amount', 10, 4, 4],
    ['raises the counter to the actual amount', 10, 12, 12],
    ['releases the reservation when actual is 0', 10, 0, 0],
  ])('%s', async (_name, reservedUsd, actualUsd, expectedUsd) => {
    const { store } = setup();
    await store.reserve(req([day(20 * USD)]));
    const r = await store.reserve(req([day(reservedUsd * USD), month(reservedUsd * USD, 1000 * USD)]));
    if (!r.ok) throw new Error('expected ok');
    await store.settle(r.reservation, actualUsd * USD);
    expect(await store.used('vk1', 'day:2026-11-26')).toBe((20 + expectedUsd) * USD);
    expect(await store.used('vk1', 'month:2026-11')).toBe(expectedUsd * USD);
  });

  it('never takes a counter below zero', async () => {
    const { store, clock } = setup();
    const r = await store.reserve(req([day(10 * USD, 100 * USD, 60)]));
    if (!r.ok) throw new Error('expected ok');
    clock.advance(60_000); // the bucket expired between reserve and settle
    await store.reserve(req([day(USD, 100 * USD, 60)]));
    await store.settle(r.reservation, 0);
    expect(await store.used('vk1', 'day:2026-11-26')).toBe(0);
  });

  it('does nothing for a replay reservation', async () => {
    const { store } = setup();
    await store.reserve(req([day(USD)], 'k'));
    const replay = await store.reserve(req([day(USD)], 'k'));
    if (!replay.ok) throw new Error('expected ok');
    await store.settle(replay.reservation, 0);
    expect(await store.used('vk1', 'day:2026-11-26')).toBe(USD);
    expect(await store.reserve(req([day(USD)], 'k'))).toMatchObject({ replay: true });
  });

  it('rejects a negative actual amount', async () => {
    const { store } = setup();
    await expect(store.settle({ scope: 'vk1', money: [] }, -1)).rejects.toThrow(RangeError);
  });
});

describe('MemoryCounterStore.lastUsed', () => {
  const at = (t: string, windows: WindowSpec[], idempotencyKey?: string): ReserveRequest => ({
    ...req(windows, idempotencyKey),
    now: Date.parse(t),
  });

  it.each([
    ['records the time of a reserved call', [at(T0, [minute(5)])], T0],
    [
      'moves on with each later call',
      [at(T0, [day(USD)]), at('2026-11-26T10:05:00Z', [day(USD)])],
      '2026-11-26T10:05:00Z',
    ],
    [
      'keeps the latest time when a replica with a slower clock reports an earlier one',
      [at('2026-11-26T10:05:00Z', [day(USD)]), at(T0, [day(USD)])],
      '2026-11-26T10:05:00Z',
    ],
    [
      'records an idempotent replay (the call reached the counters and was allowed)',
      [at(T0, [day(USD)], 'k'), at('2026-11-26T10:01:00Z', [day(USD)], 'k')],
      '2026-11-26T10:01:00Z',
    ],
    ['records nothing for a refused call', [at(T0, [day(101 * USD)])], undefined],
    ['records nothing for a call without any window', [at(T0, [])], undefined],
  ])('%s', async (_name, calls, expected) => {
    const { store } = setup();
    for (const c of calls) await store.reserve(c);
    const last = await store.lastUsed('vk1');
    expect(last === undefined ? undefined : new Date(last).toISOString().replace('.000', '')).toBe(expected);
  });

  it('is kept per vault key', async () => {
    const { store } = setup();
    await store.reserve({ scope: 'a', windows: [minute(5)], now: NOW });
    expect(await store.lastUsed('a')).toBe(NOW);
    expect(await store.lastUsed('b')).toBeUndefined();
  });

  it('is forgotten 35 days after the last call, each call refreshing it', async () => {
    const { store, clock } = setup();
    await store.reserve(req([minute(5)]));
    clock.advance(30 * 86_400_000);
    await store.reserve(req([minute(5)]));
    clock.advance(35 * 86_400_000 - 1);
    expect(await store.lastUsed('vk1')).toBe(NOW);
    clock.advance(1);
    expect(await store.lastUsed('vk1')).toBeUndefined();
  });

  it.each([
    ['a fraction', NOW + 0.5],
    ['NaN', Number.NaN],
    ['a negative time', -1],
  ])('rejects %s as the call time', async (_name, now) => {
    const { store } = setup();
    await expect(store.reserve({ scope: 'vk1', windows: [day(USD)], now })).rejects.toThrow(RangeError);
  });
});

describe('MemoryCounterStore expiry', () => {
  it('forgets a bucket at its TTL and starts again from zero', async () => {
    const { store, clock } = setup();
    await store.reserve(req([day(100 * USD, 100 * USD, 3600)]));
    clock.advance(3_599_999);
    expect((await store.reserve(req([day(1)]))).ok).toBe(false);
    clock.advance(1);
    expect(await store.used('vk1', 'day:2026-11-26')).toBe(0);
    expect((await store.reserve(req([day(USD)]))).ok).toBe(true);
  });

  it('keeps the expiry set by the first write (later writes do not extend it)', async () => {
    const { store, clock } = setup();
    await store.reserve(req([day(USD, 100 * USD, 100)]));
    clock.advance(50_000);
    await store.reserve(req([day(USD, 100 * USD, 100)]));
    clock.advance(50_000);
    expect(await store.used('vk1', 'day:2026-11-26')).toBe(0);
  });

  it('reclaims memory of expired entries on sweep', async () => {
    const { store, clock } = setup();
    await store.reserve(req([day(USD, 100 * USD, 10), minute(5)], 'k'));
    expect(store.size).toBe(4);
    clock.advance(120_000);
    store.sweep();
    expect(store.size).toBe(2); // the idempotency record lives 24 h, the last use 35 days
    clock.advance(24 * 3_600_000);
    store.sweep();
    expect(store.size).toBe(1);
    clock.advance(35 * 24 * 3_600_000);
    store.sweep();
    expect(store.size).toBe(0);
  });

  it('is always healthy and closes its timer', async () => {
    const store = new MemoryCounterStore({ clock: fixedClock(T0) });
    expect(await store.healthy()).toBe(true);
    await store.close();
  });
});

describe('MemoryCounterStore replays are only replays (ADR 0007 §4)', () => {
  it('is a replay only when the fingerprint is the same', async () => {
    const { store } = setup();
    expect(await store.reserve(req([day(5 * USD)], 'k', 'fp-a'))).toMatchObject({ ok: true, replay: false });
    expect(await store.reserve(req([day(5 * USD)], 'k', 'fp-a'))).toMatchObject({ ok: true, replay: true });
    expect(await store.used('vk1', 'day:2026-11-26')).toBe(5 * USD);
  });

  it('counts a reused key with another fingerprint as a new call, and keeps the first record', async () => {
    const { store } = setup();
    await store.reserve(req([day(5 * USD)], 'k', 'fp-a'));
    const other = await store.reserve(req([day(20 * USD)], 'k', 'fp-b'));
    // Not a replay, and it wrote no record of its own: settling it cannot touch the first one.
    expect(other).toEqual({
      ok: true,
      replay: false,
      reservation: {
        scope: 'vk1',
        money: [{ bucket: 'day:2026-11-26', amount: 20 * USD, ttlSeconds: 3600 }],
      },
    });
    expect(await store.used('vk1', 'day:2026-11-26')).toBe(25 * USD);
    // The other call again is counted again; the first call again is still its replay.
    expect(await store.reserve(req([day(20 * USD)], 'k', 'fp-b'))).toMatchObject({ replay: false });
    expect(await store.reserve(req([day(5 * USD)], 'k', 'fp-a'))).toMatchObject({ replay: true });
    expect(await store.used('vk1', 'day:2026-11-26')).toBe(45 * USD);
  });

  it('refuses a reused key with another fingerprint by the cap, like any new call', async () => {
    const { store } = setup();
    await store.reserve(req([day(60 * USD)], 'k', 'fp-a'));
    expect(await store.reserve(req([day(60 * USD)], 'k', 'fp-b'))).toMatchObject({
      ok: false,
      refused: 'day',
    });
  });

  it('forgets on settle to 0 only the record the released call wrote', async () => {
    const { store } = setup();
    const first = await store.reserve(req([day(5 * USD)], 'k', 'fp-a'));
    const other = await store.reserve(req([day(7 * USD)], 'k', 'fp-b'));
    if (!first.ok || !other.ok) throw new Error('expected ok');
    expect(await store.settle(other.reservation, 0)).toBe('settled');
    await store.settle(first.reservation, 0);
    expect(await store.reserve(req([day(5 * USD)], 'k', 'fp-a'))).toMatchObject({ replay: false });
  });

  it('keeps the record the released call wrote when another call under its key is released', async () => {
    const { store } = setup();
    await store.reserve(req([day(5 * USD)], 'k', 'fp-a'));
    const other = await store.reserve(req([day(7 * USD)], 'k', 'fp-b'));
    if (!other.ok) throw new Error('expected ok');
    await store.settle(other.reservation, 0);
    expect(await store.reserve(req([day(5 * USD)], 'k', 'fp-a'))).toMatchObject({ replay: true });
  });
});

describe('MemoryCounterStore leases (ADR 0007 §5)', () => {
  const ACCOUNT = 'stripe:0123456789abcdef0123456789abcdef';
  const lease = (
    token: string,
    objects: string[],
    { ttlMs = 35_000, windows = [] as WindowSpec[], account = ACCOUNT } = {},
  ): LeaseRequest => ({ scope: 'vk1', windows, now: NOW, leases: { account, objects, token, ttlMs } });

  it('is exclusive: a second call on the same object is busy until the first releases', async () => {
    const { store } = setup();
    const first = await store.acquireLeases(lease('token-aaaa', ['pi_1']));
    expect(first).toEqual({ ok: true, held: { account: ACCOUNT, objects: ['pi_1'], token: 'token-aaaa' } });
    expect(await store.acquireLeases(lease('token-bbbb', ['pi_1']))).toEqual({ ok: false, busy: 'pi_1' });
    // Another object, and the same object of another upstream account, are free.
    expect(await store.acquireLeases(lease('token-cccc', ['pi_2']))).toMatchObject({ ok: true });
    expect(
      await store.acquireLeases({
        ...lease('token-dddd', ['pi_1']),
        leases: {
          account: 'stripe:ffffffffffffffffffffffffffffffff',
          objects: ['pi_1'],
          token: 'token-dddd',
          ttlMs: 1,
        },
      }),
    ).toMatchObject({ ok: true });
    if (first.ok && first.held) await store.releaseLeases(first.held);
    expect(await store.acquireLeases(lease('token-bbbb', ['pi_1']))).toMatchObject({ ok: true });
  });

  it('releases by token only: another call cannot remove a lease it does not hold', async () => {
    const { store } = setup();
    await store.acquireLeases(lease('token-aaaa', ['pi_1']));
    await store.releaseLeases({ account: ACCOUNT, objects: ['pi_1'], token: 'token-bbbb' });
    expect(await store.acquireLeases(lease('token-cccc', ['pi_1']))).toEqual({ ok: false, busy: 'pi_1' });
  });

  it('expires a lease that is never released after its TTL, and a late release spares its successor', async () => {
    const { store, clock } = setup();
    await store.acquireLeases(lease('token-aaaa', ['pi_1'], { ttlMs: 35_000 }));
    clock.advance(34_999);
    expect(await store.acquireLeases(lease('token-bbbb', ['pi_1']))).toMatchObject({ ok: false });
    clock.advance(1);
    expect(await store.acquireLeases(lease('token-bbbb', ['pi_1']))).toMatchObject({ ok: true });
    await store.releaseLeases({ account: ACCOUNT, objects: ['pi_1'], token: 'token-aaaa' });
    expect(await store.acquireLeases(lease('token-cccc', ['pi_1']))).toEqual({ ok: false, busy: 'pi_1' });
  });

  // Fourth round: a lease counted only from when it was taken expired during a long price lookup.
  it('renews every lease a call still holds to a full TTL from now, compare-and-extend', async () => {
    const { store, clock } = setup();
    const held = { account: ACCOUNT, objects: ['pi_1', 'ch_1'], token: 'token-aaaa' };
    await store.acquireLeases(lease('token-aaaa', ['pi_1', 'ch_1'], { ttlMs: 35_000 }));
    clock.advance(30_000);
    expect(await store.renewLeases(held, 35_000)).toEqual({ ok: true });
    // Past the first TTL, within the renewed one: still held, by this call only.
    clock.advance(34_999);
    expect(await store.acquireLeases(lease('token-bbbb', ['ch_1']))).toEqual({ ok: false, busy: 'ch_1' });
    clock.advance(1);
    expect(await store.acquireLeases(lease('token-bbbb', ['ch_1']))).toMatchObject({ ok: true });
  });

  it('renews nothing when one lease was lost, and names it', async () => {
    const { store, clock } = setup();
    const held = { account: ACCOUNT, objects: ['pi_1', 'ch_1'], token: 'token-aaaa' };
    await store.acquireLeases(lease('token-aaaa', ['pi_1'], { ttlMs: 10_000 }));
    await store.acquireLeases(lease('token-aaaa', ['ch_1'], { ttlMs: 35_000 }));
    clock.advance(10_000);
    // Expired and free: lost all the same (another call may have come and gone meanwhile).
    expect(await store.renewLeases(held, 35_000)).toEqual({ ok: false, lost: 'pi_1' });
    // The other lease was not extended: it still expires 35 s after it was taken.
    clock.advance(25_000);
    expect(await store.acquireLeases(lease('token-cccc', ['ch_1']))).toMatchObject({ ok: true });
    // Expired and taken by another call: lost, and the other call's lease keeps its own TTL.
    expect(await store.renewLeases({ ...held, objects: ['ch_1'] }, 60_000)).toEqual({
      ok: false,
      lost: 'ch_1',
    });
    clock.advance(35_000);
    expect(await store.acquireLeases(lease('token-dddd', ['ch_1']))).toMatchObject({ ok: true });
  });

  it('takes several leases all or none', async () => {
    const { store } = setup();
    await store.acquireLeases(lease('token-aaaa', ['ch_2']));
    expect(await store.acquireLeases(lease('token-bbbb', ['pi_1', 'ch_2']))).toEqual({
      ok: false,
      busy: 'ch_2',
    });
    // pi_1 was not taken by the refused call.
    expect(await store.acquireLeases(lease('token-cccc', ['pi_1']))).toMatchObject({ ok: true });
    const both = await store.acquireLeases(lease('token-dddd', ['ch_3', 'pi_4', 'ch_3']));
    expect(both).toMatchObject({ ok: true, held: { objects: ['ch_3', 'pi_4'] } });
    if (both.ok && both.held) await store.releaseLeases(both.held);
    expect(await store.acquireLeases(lease('token-eeee', ['ch_3', 'pi_4']))).toMatchObject({ ok: true });
  });

  it('counts the call rate in the same step: a refused call takes no lease, a busy one is counted', async () => {
    const { store } = setup();
    const withRate = (token: string, object = 'pi_1') => lease(token, [object], { windows: [minute(2)] });
    expect(await store.acquireLeases(withRate('token-aaaa'))).toMatchObject({ ok: true });
    expect(await store.acquireLeases(withRate('token-bbbb'))).toEqual({ ok: false, busy: 'pi_1' });
    expect(await store.used('vk1', 'minute:1')).toBe(2);
    expect(await store.lastUsed('vk1')).toBe(NOW);
    expect(await store.acquireLeases(withRate('token-cccc', 'pi_9'))).toEqual({
      ok: false,
      refused: 'minute',
      used: 2,
      limit: 2,
    });
    expect(await store.acquireLeases(lease('token-dddd', ['pi_9']))).toMatchObject({ ok: true });
  });

  // ADR 0003, fifth round: a lookup-priced call is refused before it reads once its cap is spent.
  it('refuses when a ceiling is spent, before the rate, writing nothing; passes with a micro-dollar left', async () => {
    const { store } = setup();
    expect((await store.reserve(req([day(5 * USD, 5 * USD)]))).ok).toBe(true);
    const step = (limit: number, rate: number) => ({
      ...lease('token-aaaa', ['pi_1'], { windows: [minute(rate)] }),
      ceilings: [day(1, limit)],
    });

    expect(await store.acquireLeases(step(5 * USD, 0))).toEqual({
      ok: false,
      refused: 'day',
      used: 5 * USD,
      limit: 5 * USD,
    });
    expect(await store.used('vk1', 'minute:1')).toBe(0);
    expect(await store.acquireLeases(step(5 * USD + 1, 1))).toMatchObject({
      ok: true,
      held: { objects: ['pi_1'] },
    });
    expect(await store.used('vk1', 'day:2026-11-26')).toBe(5 * USD);
    expect(await store.used('vk1', 'minute:1')).toBe(1);
  });

  it('counts only the rate when the call locks nothing', async () => {
    const { store } = setup();
    expect(await store.acquireLeases({ scope: 'vk1', windows: [minute(5)], now: NOW })).toEqual({ ok: true });
    expect(await store.used('vk1', 'minute:1')).toBe(1);
  });

  it.each([
    ['a money window', lease('token-aaaa', ['pi_1'], { windows: [day(USD)] })],
    ['a rate window as a ceiling', { ...lease('token-aaaa', ['pi_1']), ceilings: [minute(1)] }],
    ['a malformed account', lease('token-aaaa', ['pi_1'], { account: '{vk:x}' })],
    ['no object', lease('token-aaaa', [])],
    ['a zero TTL', lease('token-aaaa', ['pi_1'], { ttlMs: 0 })],
    ['a short token', lease('tok', ['pi_1'])],
  ])('rejects %s as a caller bug', async (_name, request) => {
    const { store } = setup();
    await expect(store.acquireLeases(request)).rejects.toThrow(RangeError);
  });
});

describe('MemoryCounterStore bound (docs/counters.md, "The memory store\'s bound")', () => {
  const ACCOUNT = 'stripe:0123456789abcdef0123456789abcdef';
  const bounded = (maxEntries: number) => {
    const clock = fixedClock(T0);
    return { clock, store: new MemoryCounterStore({ clock, sweepIntervalMs: 0, maxEntries }) };
  };
  const run = (id: string, amount = USD, ttlSeconds = 3600): WindowSpec => ({
    kind: 'run',
    bucket: `run:${id}`,
    limit: 100 * USD,
    amount,
    ttlSeconds,
  });
  const inScope = (
    scope: string,
    windows: WindowSpec[],
    key?: string,
    fingerprint = SAME,
  ): ReserveRequest => ({
    ...req(windows, key, fingerprint),
    scope,
  });

  it('defaults to a million entries and refuses a bound that is not a positive whole number', () => {
    expect(new MemoryCounterStore({ clock: fixedClock(T0), sweepIntervalMs: 0 }).stats).toMatchObject({
      entries: 0,
      maxEntries: DEFAULT_MEMORY_MAX_ENTRIES,
    });
    expect(DEFAULT_MEMORY_MAX_ENTRIES).toBe(1_000_000);
    for (const maxEntries of [0, -1, 1.5, Number.NaN])
      expect(() => new MemoryCounterStore({ clock: fixedClock(T0), maxEntries })).toThrow(RangeError);
  });

  it('never holds more than the bound: full of live windows, a call opening a new one fails closed', async () => {
    const { store } = bounded(4);
    await store.reserve(req([run('a')])); // run:a + last use
    await store.reserve(req([run('b')])); // run:b
    await store.reserve(req([run('c')])); // run:c: the last use makes way (4 entries, all windows but one)
    expect(store.size).toBeLessThanOrEqual(4);
    await store.reserve(req([run('d')]));
    expect(store.size).toBe(4);
    const refused = store.reserve(req([run('e')]));
    await expect(refused).rejects.toThrow(CounterStoreUnavailableError);
    await expect(store.reserve(req([run('e')]))).rejects.toThrow(/full \(4 entries/);
    expect(store.size).toBe(4);
    expect(store.stats).toMatchObject({ refusedFull: 2, evictedLastUse: 1, evictedIdempotency: 0 });
    // No live window was dropped: every run still holds its dollar.
    for (const id of ['a', 'b', 'c', 'd']) expect(await store.used('vk1', `run:${id}`)).toBe(USD);
  });

  it('still counts calls whose windows all exist when full, and refuses all or nothing', async () => {
    const { store } = bounded(3);
    await store.reserve(req([day(USD), month(USD, 100 * USD)])); // day, month, last use
    expect(store.size).toBe(3);
    // Existing windows take the call without a new entry.
    expect(await store.reserve(req([day(USD), month(USD, 100 * USD)]))).toMatchObject({ ok: true });
    expect(await store.used('vk1', 'day:2026-11-26')).toBe(2 * USD);
    // Day and month exist, the run does not: the last use makes way for it.
    expect(await store.reserve(req([day(USD), month(USD, 100 * USD), run('r')]))).toMatchObject({ ok: true });
    // Two new windows, no room: refused, and nothing was written (day not charged either).
    await expect(store.reserve(req([day(USD), run('s'), run('t')]))).rejects.toThrow(
      CounterStoreUnavailableError,
    );
    expect(await store.used('vk1', 'day:2026-11-26')).toBe(3 * USD);
    expect(await store.used('vk1', 'run:s')).toBe(0);
  });

  it('drops expired entries before anything live', async () => {
    const { store, clock } = bounded(3);
    await store.reserve(req([run('short', USD, 60)])); // run:short + last use
    await store.reserve(req([run('long')]));
    expect(store.size).toBe(3);
    clock.advance(60_000); // run:short has expired but is not swept yet
    expect(await store.reserve(req([run('next')]))).toMatchObject({ ok: true });
    expect(store.stats).toMatchObject({ evictedLastUse: 0, evictedIdempotency: 0, refusedFull: 0 });
    expect(await store.lastUsed('vk1')).toBe(NOW);
    expect(await store.used('vk1', 'run:long')).toBe(USD);
  });

  it('looks for expired entries at most every FULL_STORE_SWEEP_EVERY_MS when full', async () => {
    const every = FULL_STORE_SWEEP_EVERY_MS;
    const { store, clock } = bounded(2);
    await store.reserve(req([run('a', USD, every / 1000)])); // run:a (expires at `every`) + last use
    clock.advance(every / 2);
    // Full: a sweep (nothing has expired yet), then vk1's last use makes way for run:b.
    await expect(store.reserve(inScope('vk2', [run('b')]))).resolves.toMatchObject({ ok: true });
    clock.advance(every / 2);
    // run:a has expired, but the next sweep is not due yet: refused meanwhile.
    await expect(store.reserve(inScope('vk3', [run('c')]))).rejects.toThrow(CounterStoreUnavailableError);
    clock.advance(every / 2 - 1);
    await expect(store.reserve(inScope('vk3', [run('c')]))).rejects.toThrow(CounterStoreUnavailableError);
    clock.advance(1);
    await expect(store.reserve(inScope('vk3', [run('c')]))).resolves.toMatchObject({ ok: true });
    expect(await store.used('vk2', 'run:b')).toBe(USD);
  });

  it('drops last-use records before idempotency records, and idempotency records oldest first', async () => {
    const { store } = bounded(5);
    await store.reserve(req([run('a')], 'idem-1', 'fp-1')); // run:a, last use, idem-1
    await store.reserve(req([run('a')], 'idem-2', 'fp-2')); // idem-2
    await store.reserve(req([run('a')], 'idem-3', 'fp-3')); // idem-3
    expect(store.size).toBe(5);
    // A new window: the last use goes first (and cannot come back: the store is full of more
    // valuable entries), then the oldest idempotency record.
    await store.reserve(req([run('b')]));
    expect(store.stats).toMatchObject({ evictedLastUse: 1, evictedIdempotency: 0 });
    expect(await store.lastUsed('vk1')).toBeUndefined();
    await store.reserve(req([run('c')]));
    expect(store.stats).toMatchObject({ evictedLastUse: 1, evictedIdempotency: 1 });
    expect(store.size).toBe(5);
    // idem-1 is gone: its retry is counted again (over-counting, the safe side)...
    expect(await store.reserve(req([run('a')], 'idem-1', 'fp-1'))).toMatchObject({ ok: true, replay: false });
    expect(await store.used('vk1', 'run:a')).toBe(4 * USD);
    // ...and idem-3 (younger) is still a replay, free.
    expect(await store.reserve(req([run('a')], 'idem-3', 'fp-3'))).toMatchObject({ ok: true, replay: true });
    expect(await store.used('vk1', 'run:a')).toBe(4 * USD);
  });

  // The in-flight replay race (ADR 0007 §4) with a full store: the replay's mark lived in the record
  // that made way for other calls, so settle cannot see it. A record gone gives nothing back.
  it('keeps a call counted when its record made way before the vendor refused it', async () => {
    const { store } = bounded(3);
    const first = await store.reserve(req([run('a')], 'idem-1', 'fp-1')); // run:a, idem-1, last use
    if (!first.ok) throw new Error('expected ok');
    expect(await store.reserve(req([run('a')], 'idem-1', 'fp-1'))).toMatchObject({ replay: true });
    await store.reserve(req([run('b')])); // the last use made way for run:b
    await store.reserve(req([run('c')])); // idem-1 made way for run:c
    expect(store.stats).toMatchObject({ evictedIdempotency: 1 });
    expect(await store.settle(first.reservation, 0)).toBe('kept');
    expect(await store.used('vk1', 'run:a')).toBe(USD);
  });

  it('never under-counts: with no room for its record a call is counted, and so is its retry', async () => {
    const { store } = bounded(2);
    await store.reserve(req([run('a')])); // run:a + last use
    await store.reserve(req([run('b')])); // the last use made way: run:a, run:b
    const first = await store.reserve(req([run('a')], 'idem-1', 'fp-1'));
    expect(first).toMatchObject({ ok: true, replay: false });
    // Not recorded, so the reservation carries no record for settle to forget.
    expect(first.ok && first.reservation.idempotency).toBeUndefined();
    expect(await store.reserve(req([run('a')], 'idem-1', 'fp-1'))).toMatchObject({ ok: true, replay: false });
    expect(await store.used('vk1', 'run:a')).toBe(3 * USD);
  });

  // Second probe round: a fresh run id per call the vendor refuses left a 0 window for 7 days, so
  // refused calls alone could fill the bound and refuse every key's new windows.
  it('leaves no window behind for a call released to 0, and keeps one another call still holds', async () => {
    const { store } = bounded(10);
    const first = await store.reserve(req([run('z')]));
    const second = await store.reserve(req([run('z', 2 * USD)]));
    const lone = await store.reserve(req([run('y')]));
    if (!first.ok || !second.ok || !lone.ok) throw new Error('expected ok');
    const size = store.size;
    await store.settle(lone.reservation, 0);
    expect(store.size).toBe(size - 1);
    await store.settle(first.reservation, 0);
    expect(await store.used('vk1', 'run:z')).toBe(2 * USD);
    await store.settle(second.reservation, 0);
    expect(store.size).toBe(size - 2);
    expect(await store.used('vk1', 'run:z')).toBe(0);
  });

  it('refuses a lease it has no room for, fail closed, and takes nothing', async () => {
    const { store } = bounded(2);
    await store.reserve(req([run('a')]));
    await store.reserve(req([run('b')]));
    const leases = { account: ACCOUNT, objects: ['pi_1'], token: 'token-aaaa', ttlMs: 35_000 };
    const call: LeaseRequest = { scope: 'vk1', windows: [minute(10)], now: NOW, leases };
    await expect(store.acquireLeases(call)).rejects.toThrow(CounterStoreUnavailableError);
    expect(await store.used('vk1', 'minute:1')).toBe(0);
    expect(store.stats.refusedFull).toBe(1);
    // A busy object needs no room for its lease: the answer is still busy, not unavailable.
    const { store: roomy } = bounded(3);
    await roomy.acquireLeases({ ...call, windows: [] });
    await roomy.reserve(req([run('a')])); // run:a + last use: full
    await expect(roomy.acquireLeases({ ...call, windows: [] })).resolves.toEqual({ ok: false, busy: 'pi_1' });
  });

  it('writes a late settle even when full: the call has happened', async () => {
    const { store, clock } = bounded(2);
    const r = await store.reserve(req([run('a', USD, 60)])); // run:a (60 s) + last use
    clock.advance(60_000);
    await store.reserve(inScope('vk2', [run('b')])); // run:a expired and swept; run:b + vk2's last use
    expect(r.ok).toBe(true);
    if (r.ok) await store.settle(r.reservation, 3 * USD);
    // The bucket comes back with the difference; a last use made way for it.
    expect(await store.used('vk1', 'run:a')).toBe(2 * USD);
    expect(store.size).toBe(2);
  });
});

// Fourteenth round: the account's tax settings, exclusive between previews, let one tenant's loop of
// free previews hold every other tenant's off (ADR 0007 §5).
describe('MemoryCounterStore shared leases (lease-names.ts)', () => {
  for (const c of SHARED_LEASE_CASES) it(c.name, () => runSharedLeaseCase(setup().store, c, NOW));

  it('expires a share never released after its TTL, and counts each share as an entry', async () => {
    const { store, clock } = setup();
    const account = 'stripe:0123456789abcdef0123456789abcdef';
    const take = (token: string, objects: string[], ttlMs = 35_000) =>
      store.acquireLeases({
        scope: 'vk1',
        windows: [],
        now: NOW,
        leases: { account, objects, token, ttlMs },
      });
    expect(await take('token-aaaa', [sharedLease('tax settings')], 10_000)).toMatchObject({ ok: true });
    expect(await take('token-bbbb', [sharedLease('tax settings')])).toMatchObject({ ok: true });
    expect(store.size).toBe(2);
    clock.advance(10_000);
    expect(await take('token-cccc', ['tax settings'])).toEqual({ ok: false, busy: 'tax settings' });
    expect(
      await store.renewLeases(
        { account, objects: [sharedLease('tax settings')], token: 'token-aaaa' },
        35_000,
      ),
    ).toEqual({ ok: false, lost: 'tax settings' });
    clock.advance(25_000);
    store.sweep();
    expect(store.size).toBe(0);
    expect(await take('token-cccc', ['tax settings'])).toMatchObject({ ok: true });
  });
});
