import { afterEach, describe, expect, it } from 'vitest';
import { fixedClock } from '../clock.ts';
import type { CounterStore } from '../counters/store.ts';
import { SnapshotHolder } from '../snapshot/holder.ts';
import { createProxyMetrics } from '../telemetry/metrics.ts';
import { COUNTER_STORE_UP, createAdminListener } from './admin.ts';

/** A counter store whose health the test switches; only the health methods are used here. */
function switchableStore() {
  let up = true;
  const store = {
    healthy: async () => up,
    available: () => up,
  } as unknown as CounterStore;
  return { store, set: (u: boolean) => (up = u) };
}

describe('proxy admin listener', () => {
  const clock = fixedClock('2026-06-01T00:00:00Z');
  let app: ReturnType<typeof createAdminListener> | undefined;
  afterEach(async () => {
    await app?.close();
  });

  function setup() {
    const snapshots = new SnapshotHolder(clock);
    const metrics = createProxyMetrics({ snapshotAgeSeconds: () => (snapshots.ageMs() ?? 0) / 1000 });
    const counters = switchableStore();
    app = createAdminListener({ metrics, snapshots, counters: counters.store, maxStalenessMs: 30_000 });
    const readyz = async () => {
      const res = await app!.inject({ method: 'GET', url: '/readyz' });
      return { status: res.statusCode, body: res.json() as Record<string, unknown> };
    };
    const gauge = async () => {
      const text = (await app!.inject({ method: 'GET', url: '/metrics' })).body;
      return Number(new RegExp(`^${COUNTER_STORE_UP} (\\d+)$`, 'm').exec(text)?.[1]);
    };
    return { snapshots, counters, readyz, gauge };
  }

  it('is not ready before the first snapshot, and says so', async () => {
    const { readyz } = setup();
    expect(await readyz()).toMatchObject({
      status: 503,
      body: { problems: ['no policy snapshot received yet'] },
    });
  });

  it('stays ready while the counter store is down: readiness means a fresh snapshot, nothing else', async () => {
    const { snapshots, counters, readyz, gauge } = setup();
    snapshots.apply({ version: 7, compiledAt: clock.now(), keys: new Map() });
    expect(await readyz()).toEqual({
      status: 200,
      body: { status: 'ready', snapshotVersion: 7 },
    });
    expect(await gauge()).toBe(1);

    counters.set(false);
    expect(await readyz()).toEqual({
      status: 200,
      body: { status: 'ready', snapshotVersion: 7 },
    });
    expect(await gauge()).toBe(0);

    counters.set(true);
    expect(await gauge()).toBe(1);
  });

  it('is not ready once the snapshot is older than --max-staleness', async () => {
    const { snapshots, readyz } = setup();
    snapshots.apply({ version: 7, compiledAt: clock.now(), keys: new Map() });
    clock.advance(30_001);
    expect(await readyz()).toMatchObject({ status: 503, body: { problems: ['policy snapshot is stale'] } });
  });
});
