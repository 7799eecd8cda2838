import { describe, expect, it } from 'vitest';
import { createProxyMetrics } from './metrics.ts';

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
});
