/** Backoff schedule for restarting watches (and any other retry loop). Pure: the random source is injected. */
export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  /** 0..1: how much of each delay is randomised (0.2 → 80 %..100 % of the step). */
  readonly jitter?: number;
  readonly random?: () => number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 200, maxMs: 30_000, jitter: 0.2 };

/**
 * Delay before retry number `attempt` (1-based): initial × 2^(attempt-1), capped, with jitter taken
 * off the top so the cap is never exceeded and replicas restarting together spread out.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions = DEFAULT_BACKOFF): number {
  const step = Math.min(opts.maxMs, opts.initialMs * 2 ** Math.max(0, Math.min(attempt - 1, 30)));
  const jitter = opts.jitter ?? 0;
  const r = (opts.random ?? Math.random)();
  return Math.round(step * (1 - jitter * r));
}
