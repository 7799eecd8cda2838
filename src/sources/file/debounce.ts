/** A timer as the debounce needs it: run `run` after `delayMs` unless cancelled. */
export type Schedule = (delayMs: number, run: () => void) => { cancel(): void };

export interface Debounce {
  /** Something changed: `run` is due `quietMs` after the last of these, `maxWaitMs` after the first at the latest. */
  poke(): void;
  /** Runs now whatever is pending (a change known for certain need not wait for quiet). */
  flush(): void;
  cancel(): void;
}

/**
 * A debounce with a maximum wait. Editors write in bursts, so `run` waits for `quietMs` of quiet;
 * but a folder that is never quiet (a log written into it, an agent's calls audited there) must not
 * hold a reload off for ever: the first change of a burst is run at most `maxWaitMs` after it came,
 * whatever follows.
 */
export function createDebounce(
  run: () => void,
  opts: { quietMs: number; maxWaitMs: number; now: () => number; schedule: Schedule },
): Debounce {
  let timer: { cancel(): void } | undefined;
  /** When the first change not yet run came: the deadline is counted from it. */
  let firstAt: number | undefined;
  const due = () => {
    timer = undefined;
    firstAt = undefined;
    run();
  };
  return {
    poke() {
      const now = opts.now();
      firstAt ??= now;
      timer?.cancel();
      const delay = Math.min(opts.quietMs, Math.max(0, firstAt + opts.maxWaitMs - now));
      timer = opts.schedule(delay, due);
    },
    flush() {
      timer?.cancel();
      due();
    },
    cancel() {
      timer?.cancel();
      timer = undefined;
      firstAt = undefined;
    },
  };
}
