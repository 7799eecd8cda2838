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
  /**
   * Requests the HTTP layer refused while the audit sink held its hard bound (AuditSink.full): closed
   * unanswered, with no record, and never forwarded (refuse.ts). Not in keybrake_calls_total, which
   * counts what the audit records.
   */
  readonly unrecordedRefusals: Counter<'reason'>;
  /** The in-process counter store's bound at work (reportCounterStore); no series with --redis. */
  readonly counterStoreEntries: Gauge<'store'>;
  /**
   * The audit stage's per-call figures (calls, spend, the two histograms), kept in plain cells and
   * read into the metrics above at each scrape: prom-client's own `inc`/`observe` hash and validate
   * their labels on every call, which the request path need not pay. The two histograms are fed
   * only through here.
   */
  readonly record: CallRecorder;
}

/** What the audit stage records per call (see ProxyMetrics.record). */
export interface CallRecorder {
  /** One call: `upstreamSeconds` when the vendor answered (undefined otherwise), and Keybrake's own time. */
  call(vendor: string, reason: string, upstreamSeconds: number | undefined, overheadSeconds: number): void;
  /** Spend counted against a vault key's caps, in USD. */
  spend(namespace: string, vaultKey: string, vendor: string, usd: number): void;
}

/** Sub-millisecond buckets: the proxy's own overhead is expected well under a millisecond. */
const OVERHEAD_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1];

/**
 * A fresh registry per proxy, so several proxies in one process (the tests) never collide on a
 * metric name. It also carries the process's own health (CPU, heap, GC, event-loop lag): a proxy
 * that is slow because its event loop is starved should say so on the same scrape.
 */
/** prom-client's default buckets, which keybrake_upstream_duration_seconds has always used. */
const UPSTREAM_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createProxyMetrics(opts: {
  snapshotAgeSeconds: () => number | undefined;
  /** What the audit sink holds unwritten (AuditSink.heldBytes); no series without it. */
  auditHeldBytes?: () => number;
  /** The vendor answers held for clients that have not taken them (HeldAnswers.bytes); no series without it. */
  answerHeldBytes?: () => number;
}): ProxyMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const { auditHeldBytes } = opts;
  if (auditHeldBytes) auditSinkMetrics(registry, auditHeldBytes);
  if (opts.answerHeldBytes) heldAnswerMetrics(registry, opts.answerHeldBytes);
  const calls = new CounterCells<'vendor' | 'decision' | 'reason'>();
  const spend = new CounterCells<'namespace' | 'vault_key' | 'vendor'>();
  const upstream = new HistogramCells(UPSTREAM_BUCKETS);
  const overhead = new HistogramCells(OVERHEAD_BUCKETS);
  const callCells = new Map<string, Map<string, CounterCell<'vendor' | 'decision' | 'reason'>>>();
  const spendCells = new Map<string, CounterCell<'namespace' | 'vault_key' | 'vendor'>>();
  const record: CallRecorder = {
    call(vendor, reason, upstreamSeconds, overheadSeconds) {
      let byReason = callCells.get(vendor);
      if (byReason === undefined) {
        byReason = new Map();
        callCells.set(vendor, byReason);
      }
      let cell = byReason.get(reason);
      if (cell === undefined) {
        cell = calls.cell({ vendor, decision: reason === 'ok' ? 'allow' : 'deny', reason });
        byReason.set(reason, cell);
      }
      cell.value++;
      if (upstreamSeconds !== undefined) upstream.observe(vendor, upstreamSeconds);
      overhead.observe(vendor, overheadSeconds);
    },
    spend(namespace, vaultKey, vendor, usd) {
      const id = `${namespace}\0${vaultKey}\0${vendor}`;
      let cell = spendCells.get(id);
      if (cell === undefined) {
        cell = spend.cell({ namespace, vault_key: vaultKey, vendor });
        spendCells.set(id, cell);
      }
      cell.value += usd;
    },
  };
  return {
    registry,
    record,
    calls: new Counter({
      name: 'keybrake_calls_total',
      help: 'Calls handled, by vendor, decision and reason.',
      labelNames: ['vendor', 'decision', 'reason'],
      registers: [registry],
      collect() {
        calls.exportTo(this);
      },
    }),
    spend: new Counter({
      name: 'keybrake_spend_usd_total',
      help: 'Spend counted against caps, in USD.',
      labelNames: ['namespace', 'vault_key', 'vendor'],
      registers: [registry],
      collect() {
        spend.exportTo(this);
      },
    }),
    upstreamDuration: new Histogram({
      name: 'keybrake_upstream_duration_seconds',
      help: 'Time from forwarding a call to the end of the upstream response.',
      labelNames: ['vendor'],
      buckets: UPSTREAM_BUCKETS,
      registers: [registry],
      collect() {
        upstream.exportTo(this);
      },
    }),
    overhead: new Histogram({
      name: 'keybrake_overhead_seconds',
      help: 'Time Keybrake adds to a call: total minus upstream time.',
      labelNames: ['vendor'],
      buckets: OVERHEAD_BUCKETS,
      registers: [registry],
      collect() {
        overhead.exportTo(this);
      },
    }),
    snapshotVersion: new Gauge({
      name: 'keybrake_snapshot_version',
      help: 'Version of the policy snapshot in force.',
      registers: [registry],
    }),
    snapshotAge: new Gauge({
      name: 'keybrake_snapshot_age_seconds',
      help: 'Seconds since the snapshot in force was received or vouched for as current (+Inf while nobody vouches for it).',
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
    unrecordedRefusals: new Counter({
      name: 'keybrake_audit_unrecorded_refusals_total',
      help: 'Requests refused before the pipeline (unparsable, pipelined behind a closing answer, a bad Expect, CONNECT, a shutdown) while the audit backlog was at its hard bound: never forwarded, closed unanswered, with no audit record.',
      labelNames: ['reason'],
      registers: [registry],
    }),
    ...inProcessCounterStoreMetrics(registry),
  };
}

/**
 * How far the audit stream is behind: past its bound (16 MiB) calls are refused `audit_backlog`,
 * which keybrake_calls_total counts; this shows it coming.
 */
function auditSinkMetrics(registry: Registry, heldBytes: () => number): void {
  new Gauge({
    name: 'keybrake_audit_held_bytes',
    help: 'Audit records held in memory that stdout has not taken yet, in bytes (characters).',
    registers: [registry],
    collect() {
      this.set(heldBytes());
    },
  });
}

/**
 * How much of the vendors' answers waits for clients that do not read them: past --max-held-answers
 * the keys holding their share are refused `rate_limited`; this shows it coming.
 */
function heldAnswerMetrics(registry: Registry, heldBytes: () => number): void {
  new Gauge({
    name: 'keybrake_answer_held_bytes',
    help: 'Bytes of vendor answers held in memory that their clients have not taken yet.',
    registers: [registry],
    collect() {
      this.set(heldBytes());
    },
  });
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

/** One labelled series of a counter, counted in a plain field. */
interface CounterCell<L extends string> {
  readonly labels: Record<L, string>;
  value: number;
  /** How much of `value` the prom-client counter has already been given. */
  exported: number;
}

/** Counter series counted in plain cells; each scrape adds what they gained since the last one. */
class CounterCells<L extends string> {
  readonly #cells: CounterCell<L>[] = [];

  cell(labels: Record<L, string>): CounterCell<L> {
    const cell = { labels, value: 0, exported: 0 };
    this.#cells.push(cell);
    return cell;
  }

  /** Adds the increase since the last scrape, so increments made on the counter itself stay too. */
  exportTo(counter: Counter<L>): void {
    for (const cell of this.#cells) {
      const value = cell.value;
      if (value === cell.exported) continue;
      counter.inc(cell.labels as Partial<Record<L, string | number>>, value - cell.exported);
      cell.exported = value;
    }
  }
}

/** One vendor's series of a histogram: counts per bucket (not cumulative), sum and count. */
interface HistogramCell {
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

/**
 * prom-client's internals that a histogram's series live in: `hashMap` (one entry per label set,
 * `bucketValues` keyed by upper bound, not cumulative) and `upperBounds`. prom-client is pinned; the
 * unit test compares this exposition with the one prom-client's own observe() produces.
 */
interface HistogramInternals {
  hashMap: Record<
    string,
    { labels: Record<string, string>; bucketValues: Record<number, number>; sum: number; count: number }
  >;
  readonly upperBounds: readonly number[];
}

/** Histogram series by vendor, observed into plain cells and written into the histogram at each scrape. */
class HistogramCells {
  readonly #bounds: readonly number[];
  readonly #cells = new Map<string, HistogramCell>();

  constructor(bounds: readonly number[]) {
    this.#bounds = bounds;
  }

  observe(vendor: string, value: number): void {
    if (!Number.isFinite(value)) return;
    let cell = this.#cells.get(vendor);
    if (cell === undefined) {
      cell = { counts: new Float64Array(this.#bounds.length), sum: 0, count: 0 };
      this.#cells.set(vendor, cell);
    }
    const bounds = this.#bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        cell.counts[i]!++;
        break;
      }
    }
    cell.sum += value;
    cell.count++;
  }

  /** Every series, as prom-client's observe() would have left them (the histogram is fed only here). */
  exportTo(histogram: Histogram<'vendor'>): void {
    const internals = histogram as unknown as HistogramInternals;
    const map: HistogramInternals['hashMap'] = {};
    for (const [vendor, cell] of this.#cells) {
      const bucketValues: Record<number, number> = {};
      internals.upperBounds.forEach((bound, i) => {
        bucketValues[bound] = cell.counts[i] ?? 0;
      });
      map[`vendor:${vendor}`] = { labels: { vendor }, bucketValues, sum: cell.sum, count: cell.count };
    }
    internals.hashMap = map;
  }
}
