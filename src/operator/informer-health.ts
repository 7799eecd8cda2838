import { Gauge, type Registry } from 'prom-client';
import type { InformerState } from '../sources/kubernetes/source.ts';

/**
 * How long an informer may be not current before the operator says it is not ready. Routine
 * restarts (a watch's timeout, a 410 relist) take well under this; the proxies need no grace, since
 * they age their tables from the informers' last current moment whatever readiness says.
 */
export const INFORMER_GRACE_MS = 5_000;

/**
 * Seconds since each informer was last known current (0 while current), or undefined when it never
 * was: the operator's readiness and `keybrake_operator_informer_lag_seconds` (ADR 0005, eighth round).
 */
export function informerLagSeconds(state: InformerState, now: number): number | undefined {
  if (state.current) return 0;
  return state.since === undefined ? undefined : Math.max(0, now - state.since) / 1000;
}

/**
 * Readiness problems: each informer not current for longer than `graceMs`, which, and why (the
 * API's status code and first line, never a body). One that never listed is the start-up's problem.
 */
export function informerProblems(
  states: readonly InformerState[],
  now: number,
  graceMs = INFORMER_GRACE_MS,
): string[] {
  return states.flatMap((s) => {
    if (s.current || s.since === undefined || now - s.since <= graceMs) return [];
    const seconds = Math.round((now - s.since) / 1000);
    const why = s.error === undefined ? 'its watch ended and has not been re-established' : s.error;
    return [
      `informer ${s.informer} has not been current for ${seconds} s (${why}): changes since, deletions among them, are not seen; proxies' tables age into policy_stale`,
    ];
  });
}

/** `keybrake_operator_informer_lag_seconds{informer}`; an informer that never listed is left out. */
export function registerInformerLag(
  registry: Registry,
  informers: () => readonly InformerState[],
  now: () => number,
): void {
  new Gauge({
    name: 'keybrake_operator_informer_lag_seconds',
    help: 'Seconds since the informer was last known to have seen every change (0 while its watch is established).',
    labelNames: ['informer'],
    registers: [registry],
    collect() {
      this.reset();
      const at = now();
      for (const s of informers()) {
        const lag = informerLagSeconds(s, at);
        if (lag !== undefined) this.set({ informer: s.informer }, lag);
      }
    },
  });
}
