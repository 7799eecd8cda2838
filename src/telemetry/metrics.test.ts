import { Counter, Histogram, Registry } from 'prom-client';
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

  it('shows what the audit sink holds unwritten, as it is at each scrape', async () => {
    let held = 0;
    const metrics = createProxyMetrics({ snapshotAgeSeconds: () => undefined, auditHeldBytes: () => held });
    const scrape = () => metrics.registry.getSingleMetricAsString('keybrake_audit_held_bytes');
    expect(await scrape()).toMatch(/^keybrake_audit_held_bytes 0$/m);
    held = 16 * 1024 * 1024;
    expect(await scrape()).toMatch(/^keybrake_audit_held_bytes 16777216$/m);
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

describe('ProxyMetrics.record: the per-call figures kept in plain cells', () => {
  /** The same metric, fed by prom-client's own inc/observe, in a registry of its own. */
  async function reference(metric: Counter<string> | Histogram<string>) {
    const { name, help } = await metric.get();
    const registry = new Registry();
    const labelNames = (metric as unknown as { labelNames: string[] }).labelNames;
    const buckets = (metric as unknown as { upperBounds?: number[] }).upperBounds;
    const copy =
      metric instanceof Histogram
        ? new Histogram({ name, help, labelNames, buckets: buckets!, registers: [registry] })
        : new Counter({ name, help, labelNames, registers: [registry] });
    return { registry, copy };
  }

  it("scrapes exactly as prom-client's inc() and observe() would have counted", async () => {
    const metrics = createProxyMetrics({ snapshotAgeSeconds: () => undefined });
    const calls = await reference(metrics.calls);
    const spend = await reference(metrics.spend);
    const upstream = await reference(metrics.upstreamDuration);
    const overhead = await reference(metrics.overhead);
    const seconds = [
      0, 0.0001, 0.00015, 0.0005, 0.001, 0.0049, 0.005, 0.05, 0.1, 0.25, 1, 9.99, 10, 11, 3600,
    ];
    const reasons = ['ok', 'ok', 'key_unknown', 'daily_cap_exceeded', 'ok'];
    for (let i = 0; i < 200; i++) {
      const vendor = ['stripe', 'twilio', 'none'][i % 3]!;
      const reason = reasons[i % reasons.length]!;
      const up = i % 4 === 0 ? undefined : seconds[i % seconds.length]!;
      const own = seconds[(i * 7) % seconds.length]!;
      metrics.record.call(vendor, reason, up, own);
      (calls.copy as Counter<string>).inc({ vendor, decision: reason === 'ok' ? 'allow' : 'deny', reason });
      if (up !== undefined) (upstream.copy as Histogram<string>).observe({ vendor }, up);
      (overhead.copy as Histogram<string>).observe({ vendor }, own);
      if (i % 5 === 0) {
        metrics.record.spend('agents', `key-${i % 2}`, vendor, 0.25 * i);
        (spend.copy as Counter<string>).inc(
          { namespace: 'agents', vault_key: `key-${i % 2}`, vendor },
          0.25 * i,
        );
      }
      // Scrapes in between: each adds only what came since the last one.
      if (i % 50 === 0) await metrics.registry.metrics();
    }
    for (const [name, ref] of [
      ['keybrake_calls_total', calls],
      ['keybrake_spend_usd_total', spend],
      ['keybrake_upstream_duration_seconds', upstream],
      ['keybrake_overhead_seconds', overhead],
    ] as const) {
      expect(await metrics.registry.getSingleMetricAsString(name)).toBe(
        await ref.registry.getSingleMetricAsString(name),
      );
    }
  });

  it('keeps increments made on the counter itself', async () => {
    const metrics = createProxyMetrics({ snapshotAgeSeconds: () => undefined });
    metrics.calls.inc({ vendor: 'stripe', decision: 'deny', reason: 'key_unknown' });
    metrics.record.call('stripe', 'key_unknown', undefined, 0.001);
    const text = await metrics.registry.getSingleMetricAsString('keybrake_calls_total');
    expect(text).toMatch(/^keybrake_calls_total\{vendor="stripe",decision="deny",reason="key_unknown"\} 2$/m);
  });
});
