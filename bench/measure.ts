// The load phases: saturation with autocannon's programmatic API, and an evenly paced fixed rate.
// Saturation latencies come from autocannon's per-response timings (float milliseconds from
// process.hrtime), not from its histogram: that one stores whole milliseconds, too coarse for an
// added latency of a fraction of a millisecond.
import autocannon from 'autocannon';

/** The request a phase repeats. */
export interface Target {
  readonly url: string;
  readonly method: 'GET' | 'POST';
  readonly headers: Record<string, string>;
  readonly body?: string;
}

/** How hard to push: a fixed overall rate (latency) or as fast as possible (throughput). */
export interface Load {
  readonly connections: number;
  readonly seconds: number;
  /** Requests per second over all connections; absent: saturation. */
  readonly overallRate?: number;
}

/** What one phase measured. */
export interface PhaseResult {
  readonly requests: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  /** How long the phase ran. */
  readonly seconds: number;
}

/** Several rounds of one phase as one result: counts summed, percentiles over every 2xx latency. */
export function combinePhases(parts: readonly PhaseResult[], timings: number[]): PhaseResult {
  timings.sort((a, b) => a - b);
  const sum = (f: (p: PhaseResult) => number) => parts.reduce((n, p) => n + f(p), 0);
  const seconds = sum((p) => p.seconds);
  return {
    requests: sum((p) => p.requests),
    non2xx: sum((p) => p.non2xx),
    errors: sum((p) => p.errors),
    rps: seconds > 0 ? sum((p) => p.requests) / seconds : Number.NaN,
    p50: percentile(timings, 0.5),
    p99: percentile(timings, 0.99),
    seconds,
  };
}

/** Saturation (or autocannon's own rate); every 2xx latency is also pushed to `keep` when given. */
export async function runPhase(target: Target, load: Load, keep?: number[]): Promise<PhaseResult> {
  const timings: number[] = [];
  const instance = autocannon({
    url: target.url,
    method: target.method,
    headers: target.headers,
    ...(target.body === undefined ? {} : { body: target.body }),
    connections: load.connections,
    duration: load.seconds,
    ...(load.overallRate === undefined ? {} : { overallRate: load.overallRate }),
    timeout: 10,
  });
  instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    if (status >= 200 && status < 300) timings.push(ms);
  });
  const result = await instance;
  if (keep) for (const t of timings) keep.push(t);
  timings.sort((a, b) => a - b);
  const completed = result['1xx'] + result['2xx'] + result['3xx'] + result['4xx'] + result['5xx'];
  const seconds = result.duration || load.seconds;
  return {
    requests: completed,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    rps: completed / seconds,
    p50: percentile(timings, 0.5),
    p99: percentile(timings, 0.99),
    seconds,
  };
}

/** Nearest-rank percentile of sorted values (NaN when there are none). */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1]!;
}

/** Variations of a paced phase: per-request headers, an open end, the raw samples. */
export interface PacedOptions {
  /** Headers of the i-th request (a random vault key per request); default `target.headers`. */
  readonly headersFor?: (i: number) => Record<string, string>;
  /** Called once the i-th request has left (from 1): lets a phase act mid-load, e.g. edit a file. */
  readonly onSent?: (sent: number) => void;
  /** Stops sending once this is true (checked at every instant); `load.seconds` stays the limit. */
  readonly stop?: () => boolean;
  /** Keeps every 2xx latency with the time its request left (performance.now()). */
  readonly samples?: { sentAt: number[]; ms: number[] };
}

/**
 * A fixed rate as the targets mean it: requests leave at evenly spaced instants (open loop), so a
 * request never waits behind a burst the load generator made itself. autocannon's `overallRate`
 * sends each second's share back to back and then idles, which measures queueing behind its own
 * bursts rather than what the proxy adds at that rate. Latency is timed per request from the
 * moment it is sent to the end of its response body.
 */
export async function runPaced(
  target: Target,
  load: Required<Load>,
  opts: PacedOptions = {},
): Promise<PhaseResult> {
  const { Pool } = await import('undici');
  const url = new URL(target.url);
  const pool = new Pool(url.origin, { connections: load.connections });
  const path = url.pathname + url.search;
  const interval = 1000 / load.overallRate;
  const total = Math.round(load.overallRate * load.seconds);
  const timings: number[] = [];
  let non2xx = 0;
  let errors = 0;
  const inFlight: Promise<void>[] = [];
  const one = async (i: number) => {
    const t0 = performance.now();
    try {
      const res = await pool.request({
        path,
        method: target.method,
        headers: opts.headersFor ? opts.headersFor(i) : target.headers,
        ...(target.body === undefined ? {} : { body: target.body }),
      });
      await res.body.dump();
      if (res.statusCode >= 200 && res.statusCode < 300) {
        const ms = performance.now() - t0;
        timings.push(ms);
        opts.samples?.sentAt.push(t0);
        opts.samples?.ms.push(ms);
      } else non2xx++;
    } catch {
      errors++;
    }
  };
  const start = performance.now();
  for (let sent = 0; sent < total && !opts.stop?.(); ) {
    // Send every request whose instant has come, then sleep until the next one is due.
    const due = Math.min(total, Math.floor((performance.now() - start) / interval) + 1);
    for (; sent < due; sent++) {
      inFlight.push(one(sent));
      opts.onSent?.(sent + 1);
    }
    const next = start + sent * interval;
    await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
  }
  await Promise.all(inFlight);
  const elapsed = (performance.now() - start) / 1000;
  await pool.close();
  timings.sort((a, b) => a - b);
  const completed = timings.length + non2xx;
  return {
    requests: completed,
    non2xx,
    errors,
    rps: completed / elapsed,
    p50: percentile(timings, 0.5),
    p99: percentile(timings, 0.99),
    seconds: elapsed,
  };
}
