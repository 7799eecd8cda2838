import { describe, expect, it } from 'vitest';
import { fixedClock } from '../clock.ts';
import type { ObjectStatus } from '../compiler/compile.ts';
import { MemoryCounterStore } from '../counters/memory-store.ts';
import { dayBucket } from '../counters/windows.ts';
import { policyFromJson } from '../snapshot/serialize.ts';
import type { CompiledKey } from '../snapshot/types.ts';
import { silentLogger } from '../telemetry/logger.ts';
import type { OperatorEvent } from './events.ts';
import { createSpendTracker, READ_BATCH } from './refresh-spend.ts';

const NOW = '2026-06-01T12:00:00Z';
const key: CompiledKey = {
  uid: 'uid-bot',
  namespace: 'agents',
  name: 'bot',
  vendor: 'stripe',
  tokenFingerprint: 'kb_stripe_…abcd',
  upstream: { kind: 'bearer', token: 'sk_test_upstream' },
  suspended: false,
  policy: policyFromJson({
    ref: 'agents/p',
    limits: { perDayMicros: 10_000_000 },
    timezone: 'UTC',
    readsWhenStoreDown: false,
  }),
};
const status = (kind: 'VaultKey' | 'SpendPolicy' = 'VaultKey'): ObjectStatus => ({
  kind,
  namespace: 'agents',
  name: 'bot',
  uid: 'uid-bot',
  conditions: [],
});

function spendAt(counters: MemoryCounterStore, amount: number, at: string) {
  const bucket = dayBucket(Date.parse(at), 'UTC');
  return counters.reserve({
    scope: 'uid-bot',
    windows: [{ kind: 'day', bucket, limit: 1e12, amount, ttlSeconds: 2 * 86_400 }],
    now: Date.parse(at),
  });
}

async function storeWith(spentMicros: number, at = NOW) {
  const clock = fixedClock(NOW);
  const counters = new MemoryCounterStore({ clock });
  await spendAt(counters, spentMicros, at);
  return { counters, clock };
}

describe('spend tracker', () => {
  it('manages nothing without a counter store', async () => {
    const spend = createSpendTracker({ clock: fixedClock(NOW), log: silentLogger() });
    expect(spend.managed).toBe(false);
    expect(await spend.refresh([key])).toBe(false);
    expect(spend.extras(status(), key)).toEqual({});
  });

  it('reads a batch of keys at a time, not every key at once', async () => {
    const { counters, clock } = await storeWith(1);
    let inFlight = 0;
    let most = 0;
    const counted = <T>(read: () => Promise<T>) => {
      most = Math.max(most, ++inFlight);
      return read().finally(() => inFlight--);
    };
    const store = Object.assign(Object.create(counters) as MemoryCounterStore, {
      used: (scope: string, bucket: string) => counted(() => counters.used(scope, bucket)),
      lastUsed: (scope: string) => counted(() => counters.lastUsed(scope)),
    });
    const spend = createSpendTracker({ counters: store, clock, log: silentLogger() });
    const keys = Array.from({ length: READ_BATCH * 3 + 5 }, (_, i) => ({ ...key, uid: `uid-${i}` }));
    await spend.refresh([key, ...keys]);
    expect(most).toBe(2 * READ_BATCH);
    expect(spend.spentToday('uid-bot')).toBe(1);
    expect(spend.spentToday(`uid-${READ_BATCH * 3 + 4}`)).toBe(0);
  });

  it('says whether a refresh changed anything a status shows', async () => {
    const { counters, clock } = await storeWith(1_000_000);
    const spend = createSpendTracker({ counters, clock, log: silentLogger() });
    expect(await spend.refresh([key])).toBe(true);
    expect(await spend.refresh([key])).toBe(false);
    await spendAt(counters, 500_000, NOW);
    expect(await spend.refresh([key])).toBe(true);
    // A key no longer served drops its spend.
    expect(await spend.refresh([])).toBe(true);
    expect(await spend.refresh([])).toBe(false);
  });

  it('shows what a served key spent today and when it was last used', async () => {
    const { counters, clock } = await storeWith(12_400_000, '2026-06-01T11:58:30.250Z');
    const spend = createSpendTracker({ counters, clock, log: silentLogger() });
    expect(spend.extras(status(), key)).toEqual({});
    await spend.refresh([key]);
    expect(spend.extras(status(), key)).toEqual({
      spentTodayMicros: 12_400_000,
      lastUsedMs: Date.parse('2026-06-01T11:58:30.250Z'),
    });
  });

  it('clears spent-today of a key that is not served, and never touches a SpendPolicy', async () => {
    const { counters, clock } = await storeWith(1);
    const spend = createSpendTracker({ counters, clock, log: silentLogger() });
    await spend.refresh([key]);
    expect(spend.extras(status(), undefined)).toEqual({ spentTodayMicros: null });
    expect(spend.extras(status('SpendPolicy'), key)).toEqual({});
  });

  it('reports CapReached once per key and day', async () => {
    const { counters, clock } = await storeWith(10_000_000);
    const spend = createSpendTracker({ counters, clock, log: silentLogger() });
    const events: OperatorEvent[] = [];
    const record = async (e: OperatorEvent) => {
      events.push(e);
    };
    await spend.reportCaps([key], record);
    expect(events).toEqual([]);
    await spend.refresh([key]);
    await spend.reportCaps([key], record);
    await spend.reportCaps([key], record);
    expect(events.map((e) => [e.reason, e.object.name])).toEqual([['CapReached', 'bot']]);
    clock.set('2026-06-02T12:00:00Z');
    await spendAt(counters, 10_000_000, '2026-06-02T12:00:00Z');
    await spend.refresh([key]);
    await spend.reportCaps([key], record);
    expect(events).toHaveLength(2);
  });
});
