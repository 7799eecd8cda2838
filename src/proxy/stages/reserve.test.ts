import { describe, expect, it } from 'vitest';
import { fixedClock } from '../../clock.ts';
import { MemoryCounterStore } from '../../counters/memory-store.ts';
import { CounterStoreUnavailableError } from '../../counters/store.ts';
import type { CompiledKey, CompiledPolicy } from '../../snapshot/types.ts';
import { reserveWindows } from './reserve.ts';

const clock = fixedClock('2026-11-26T12:00:00Z');
const key = (policy: Partial<CompiledPolicy>): CompiledKey => ({
  uid: 'agents/k',
  namespace: 'agents',
  name: 'k',
  vendor: 'stripe',
  tokenFingerprint: 'kb_stripe_…abcd',
  upstream: { kind: 'bearer', token: 'sk_test_x' },
  suspended: false,
  policy: { ref: 'agents/p', limits: {}, timezone: 'UTC', readsWhenStoreDown: true, ...policy },
});

/** A memory store that reports its connection as down. */
function downStore() {
  const store = new MemoryCounterStore({ clock, sweepIntervalMs: 0 });
  store.available = () => false;
  return store;
}

describe('reserveWindows', () => {
  it('names the window that refused, with what was used', async () => {
    const store = new MemoryCounterStore({ clock, sweepIntervalMs: 0 });
    const k = key({ limits: { perDayMicros: 10_000_000 } });
    expect(await reserveWindows(store, k, 10_000_000, undefined, undefined, clock)).toMatchObject({
      ok: true,
    });
    const denied = await reserveWindows(store, k, 1, undefined, undefined, clock);
    expect(denied).toMatchObject({ reason: 'daily_cap_exceeded' });
    expect((denied as { message: string }).message).toContain('$10.00 used');
  });

  it.each([
    ['a read under a call rate is recorded as the last use', { requestsPerMinute: 10 }, 0, true],
    ['a money-moving call is recorded as the last use', { perDayMicros: 10_000_000 }, 1_000_000, true],
    ['a read touching no counter is not recorded (no round trip)', { perDayMicros: 10_000_000 }, 0, false],
  ])('%s', async (_name, limits, cost, recorded) => {
    // The call's time comes from the injected clock, not the store's.
    const callClock = fixedClock('2026-11-26T12:34:56Z');
    const store = new MemoryCounterStore({ clock, sweepIntervalMs: 0 });
    await reserveWindows(store, key({ limits }), cost, undefined, undefined, callClock);
    expect(await store.lastUsed('agents/k')).toBe(recorded ? callClock.now() : undefined);
  });

  it('lets a read that touches no counter through while the store is down, by default', async () => {
    expect(await reserveWindows(downStore(), key({}), 0, undefined, undefined, clock)).toMatchObject({
      ok: true,
    });
  });

  it('refuses such a read while the store is down when the policy says readsWhenCountersDown: deny', async () => {
    await expect(
      reserveWindows(downStore(), key({ readsWhenStoreDown: false }), 0, undefined, undefined, clock),
    ).rejects.toThrow(CounterStoreUnavailableError);
  });
});
