import { describe, expect, it } from 'vitest';
import { fixedClock } from '../clock.ts';
import { MemoryCounterStore } from '../counters/memory-store.ts';
import { createProxyMetrics, reportCounterStore } from './metrics.ts';

describe('createProxyMetrics', () => {
  it.each([
    ['process CPU time', 'process_cpu_seconds_total'],
    ['event-loop lag', 'nodejs_eventloop_lag_seconds'],
    ['heap size', 'nodejs_heap_size_used_bytes'],
    ['garbage collection', 'nodejs_gc_duration_seconds'],
    ["the proxy's own calls", 'keybrake_calls_total'],
  ])('exposes %s (%s)', async (_name, metric) => {
    const metrics = createProxyMetrics({ snapshotAgeSeconds: () => undefined });
    expect(await metrics.registry.metrics()).toContain(`# TYPE ${metric} `);
  });

  it('gives every proxy in one process its own registry', async () => {
    const first = createProxyMetrics({ snapshotAgeSeconds: () => 1 });
    const second = createProxyMetrics({ snapshotAgeSeconds: () => 2 });
    first.calls.inc({ vendor: 'stripe', decision: 'allow', reason: 'ok' });
    expect(await second.registry.getSingleMetricAsString('keybrake_calls_total')).not.toContain('stripe');
    expect(await first.registry.getSingleMetricAsString('keybrake_snapshot_age_seconds')).toMatch(/ 1$/m);
    expect(await second.registry.getSingleMetricAsString('keybrake_snapshot_age_seconds')).toMatch(/ 2$/m);
  });

  it('shows the in-process counter store: entries, bound, evictions and refusals, until it is closed', async () => {
    const metrics = createProxyMetrics({ snapshotAgeSeconds: () => undefined });
    const scrape = () => metrics.registry.metrics();
    // Nothing reported (a proxy counting in Redis): the metrics exist but have no series.
    expect(await scrape()).not.toMatch(/^keybrake_counter_store_entries\{/m);
    const store = new MemoryCounterStore({
      clock: fixedClock('2026-11-26T10:00:00Z'),
      sweepIntervalMs: 0,
      maxEntries: 2,
    });
    const stop = reportCounterStore(store);
    try {
      const window = (bucket: string) => ({
        kind: 'run' as const,
        bucket,
        limit: 10,
        amount: 1,
        ttlSeconds: 60,
      });
      await store.reserve({ scope: 'vk1', now: 0, windows: [window('run:a')] }); // run:a + last use
      await store.reserve({ scope: 'vk1', now: 0, windows: [window('run:b')] }); // the last use makes way
      await store.reserve({ scope: 'vk1', now: 0, windows: [window('run:c')] }).catch(() => undefined);
      const text = await scrape();
      expect(text).toMatch(/^keybrake_counter_store_entries\{store="memory"\} 2$/m);
      expect(text).toMatch(/^keybrake_counter_store_max_entries\{store="memory"\} 2$/m);
      expect(text).toMatch(/^keybrake_counter_store_evictions_total\{store="memory",kind="last_use"\} 1$/m);
      expect(text).toMatch(
        /^keybrake_counter_store_evictions_total\{store="memory",kind="idempotency"\} 0$/m,
      );
      expect(text).toMatch(/^keybrake_counter_store_full_refusals_total\{store="memory"\} 1$/m);
      await store.close();
      expect(await scrape()).not.toMatch(/^keybrake_counter_store_entries\{/m);
    } finally {
      stop();
    }
  });
});
