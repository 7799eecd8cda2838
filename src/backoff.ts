/**
 * Every retry loop's delay schedule (informer restarts, snapshot-stream reconnects, leader-label
 * writes): a leaf, pure, with the random source injected so tests can pin it.
 */
export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  /** 0..1: how much of each delay is randomised (0.2 → 80 %..100 % of the step); default 0. */
  readonly jitter?: number;
  readonly random?: () => number;
}

/**
 * Delay before retry number `attempt` (1-based): initial × 2^(attempt-1), capped, with jitter taken
 * off the top so the cap is never exceeded and replicas restarting together spread out.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions): number {
  const step = Math.min(opts.maxMs, opts.initialMs * 2 ** Math.max(0, Math.min(attempt - 1, 30)));
  const jitter = opts.jitter ?? 0;
  if (jitter === 0) return step;
  const r = (opts.random ?? Math.random)();
  return Math.round(step * (1 - jitter * r));
}
