import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The proxy's Prometheus metrics (DESIGN.md §7); names and labels are a contract. Run ids never
 * become labels (unbounded cardinality); vault keys do, because they are bounded by the manifests.
 */
export interface ProxyMetrics {
  readonly registry: Registry;
  readonly calls: Counter<'vendor' | 'decision' | 'reason'>;
  readonly spend: Counter<'namespace' | 'vault_key' | 'vendor'>;
  readonly upstreamDuration: Histogram<'vendor'>;
  readonly overhead: Histogram<'vendor'>;
  readonly snapshotVersion: Gauge;
  readonly snapshotAge: Gauge;
  readonly counterStoreErrors: Counter;
}

/** Sub-millisecond buckets: the proxy's own overhead is expected well under a millisecond. */
const OVERHEAD_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1];

/**
 * A fresh registry per proxy, so several proxies in one process (the tests) never collide on a
 * metric name. It also carries the process's own health (CPU, heap, GC, event-loop lag): a proxy
 * that is slow because its event loop is starved should say so on the same scrape.
 */
export function createProxyMetrics(opts: { snapshotAgeSeconds: () => number | undefined }): ProxyMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    calls: new Counter({
      name: 'keybrake_calls_total',
      help: 'Calls handled, by vendor, decision and reason.',
      labelNames: ['vendor', 'decision', 'reason'],
      registers: [registry],
    }),
    spend: new Counter({
      name: 'keybrake_spend_usd_total',
      help: 'Spend counted against caps, in USD.',
      labelNames: ['namespace', 'vault_key', 'vendor'],
      registers: [registry],
    }),
    upstreamDuration: new Histogram({
      name: 'keybrake_upstream_duration_seconds',
      help: 'Time from forwarding a call to the end of the upstream response.',
      labelNames: ['vendor'],
      registers: [registry],
    }),
    overhead: new Histogram({
      name: 'keybrake_overhead_seconds',
      help: 'Time Keybrake adds to a call: total minus upstream time.',
      labelNames: ['vendor'],
      buckets: OVERHEAD_BUCKETS,
      registers: [registry],
    }),
    snapshotVersion: new Gauge({
      name: 'keybrake_snapshot_version',
      help: 'Version of the policy snapshot in force.',
      registers: [registry],
    }),
    snapshotAge: new Gauge({
      name: 'keybrake_snapshot_age_seconds',
      help: 'Seconds since the snapshot in force was received.',
      registers: [registry],
      collect() {
        const age = opts.snapshotAgeSeconds();
        if (age !== undefined) this.set(age);
      },
    }),
    counterStoreErrors: new Counter({
      name: 'keybrake_counter_store_errors_total',
      help: 'Counter store operations that failed or timed out.',
      registers: [registry],
    }),
  };
}
