import type { Clock } from '../clock.ts';
import { type CounterStore, isRunStopStore, type RunStopStore } from '../counters/store.ts';
import { StoppedRuns } from './runs.ts';

/**
 * How long a new replica's `/readyz` waits for its first complete read of the shared stops (ADR
 * 0011): long enough for an index of 100 000s of stops, short enough that a Redis down at start-up
 * does not keep it out of its Services (it is then ready, and refuses run keys until it has read).
 */
export const STOPS_READY_WAIT_MS = 5_000;

/** The stopped-run set of a proxy (ADR 0010), followed from its counter store when the store shares stops. */
export interface StoppedRunsFeed {
  readonly stoppedRuns: StoppedRuns;
  /** Where stops are shared with other replicas (the Redis counter store); absent: this process only. */
  readonly stopStore?: RunStopStore;
  /** Why `/readyz` says not ready yet: the shared stops not read once, for at most STOPS_READY_WAIT_MS. */
  readiness(): string | undefined;
  close(): Promise<void>;
}

/**
 * Starts following the stops shared through `counters`. Until the store has delivered every stop
 * recorded so far, and again from the loss of its subscription, or the moment it or the store stops
 * answering, until it has read them again, the set is not `complete`, and run keys are refused
 * (stopRefusal): one of them may be a stopped run's.
 */
export function startStoppedRuns(
  counters: CounterStore,
  clock: Clock,
  opts: {
    readonly monotonic?: () => number;
    /** A set made before the proxy, which its source (the operator's stream) may already fill. */
    readonly stoppedRuns?: StoppedRuns;
  } = {},
): StoppedRunsFeed {
  const monotonic = opts.monotonic ?? (() => performance.now());
  const stoppedRuns = opts.stoppedRuns ?? new StoppedRuns(clock);
  if (!isRunStopStore(counters)) return { stoppedRuns, readiness: () => undefined, close: async () => {} };
  stoppedRuns.complete = false;
  const startedAt = monotonic();
  let readOnce = false;
  const watch = counters.watchStoppedRuns(
    (run) => stoppedRuns.add(run),
    (complete) => {
      stoppedRuns.complete = complete;
      if (complete) readOnce = true;
    },
  );
  return {
    stoppedRuns,
    stopStore: counters,
    // Only the first read: a replica that loses Redis later stays in its Services (ADR 0011).
    readiness: () =>
      readOnce || monotonic() - startedAt >= STOPS_READY_WAIT_MS
        ? undefined
        : 'stopped runs not read from the counter store yet',
    close: () => watch.close(),
  };
}
