// One load phase with autocannon's programmatic API. Latency comes from autocannon's per-response
// timings (float milliseconds from process.hrtime), not from its histogram: that one stores whole
// milliseconds, too coarse for an added latency of a fraction of a millisecond.
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
}

export async function runPhase(target: Target, load: Load): Promise<PhaseResult> {
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
  timings.sort((a, b) => a - b);
  const completed = result['1xx'] + result['2xx'] + result['3xx'] + result['4xx'] + result['5xx'];
  return {
    requests: completed,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    rps: completed / (result.duration || load.seconds),
    p50: percentile(timings, 0.5),
    p99: percentile(timings, 0.99),
  };
}

/** Nearest-rank percentile of sorted values (NaN when there are none). */
export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1]!;
}
