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
  /** The in-process counter store's bound at work (reportCounterStore); no series with --redis. */
  readonly counterStoreEntries: Gauge<'store'>;
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
    ...inProcessCounterStoreMetrics(registry),
  };
}

/** What an in-process counter store tells the metrics (MemoryCounterStore, src/counters/memory-store.ts). */
export interface InProcessCounterStore {
  /** A closed store is no longer reported. */
  readonly closed: boolean;
  readonly stats: {
    readonly entries: number;
    readonly maxEntries: number;
    readonly evictedLastUse: number;
    readonly evictedIdempotency: number;
    readonly refusedFull: number;
  };
}

/**
 * In-process counter stores of this process. The store is built apart from the proxy and its
 * registry (`counterStoreFromFlags`), so it reports itself here and every proxy registry of the
 * process shows it. `keybrake serve` and `proxy` run one of each; where one process runs several
 * (tests), the figures are their sum. A store that is closed, or that nobody holds any more, stops
 * being reported.
 */
const inProcessStores = new Set<WeakRef<InProcessCounterStore>>();

/** Shows `store` on every proxy registry of this process until the returned function is called. */
export function reportCounterStore(store: InProcessCounterStore): () => void {
  const ref = new WeakRef(store);
  inProcessStores.add(ref);
  return () => {
    inProcessStores.delete(ref);
  };
}

function sumStats(): InProcessCounterStore['stats'] | undefined {
  let sum: { -readonly [K in keyof InProcessCounterStore['stats']]: number } | undefined;
  for (const ref of inProcessStores) {
    const store = ref.deref();
    if (!store || store.closed) {
      inProcessStores.delete(ref);
      continue;
    }
    const s = store.stats;
    sum ??= { entries: 0, maxEntries: 0, evictedLastUse: 0, evictedIdempotency: 0, refusedFull: 0 };
    for (const k of Object.keys(sum) as (keyof typeof sum)[]) sum[k] += s[k];
  }
  return sum;
}

/**
 * The memory store's bound (docs/counters.md): how full it is, what it dropped, what it refused.
 * Labelled `store="memory"`, so a proxy counting in Redis shows no series at all rather than zeros.
 */
function inProcessCounterStoreMetrics(registry: Registry): { counterStoreEntries: Gauge<'store'> } {
  const memory = { store: 'memory' };
  new Gauge({
    name: 'keybrake_counter_store_max_entries',
    help: 'Bound of the in-process counter store (entries); no series with --redis.',
    labelNames: ['store'],
    registers: [registry],
    collect() {
      const s = sumStats();
      this.reset();
      if (s) this.set(memory, s.maxEntries);
    },
  });
  // Counters whose totals live in the store: set to them at each scrape (they only grow).
  new Counter({
    name: 'keybrake_counter_store_evictions_total',
    help: 'Entries the in-process counter store dropped to stay within its bound: last_use (status only) or idempotency (a retry of that call is counted again).',
    labelNames: ['store', 'kind'],
    registers: [registry],
    collect() {
      const s = sumStats();
      this.reset();
      if (!s) return;
      this.inc({ ...memory, kind: 'last_use' }, s.evictedLastUse);
      this.inc({ ...memory, kind: 'idempotency' }, s.evictedIdempotency);
    },
  });
  new Counter({
    name: 'keybrake_counter_store_full_refusals_total',
    help: 'Calls the in-process counter store refused (503 counter_store_unavailable) because it was full of live windows and leases.',
    labelNames: ['store'],
    registers: [registry],
    collect() {
      const s = sumStats();
      this.reset();
      if (!s) return;
      this.inc(memory, s.refusedFull);
    },
  });
  return {
    counterStoreEntries: new Gauge({
      name: 'keybrake_counter_store_entries',
      help: 'Entries held by the in-process counter store (windows, idempotency records, leases, last-use records); no series with --redis.',
      labelNames: ['store'],
      registers: [registry],
      collect() {
        const s = sumStats();
        this.reset();
        if (s) this.set(memory, s.entries);
      },
    }),
  };
}
