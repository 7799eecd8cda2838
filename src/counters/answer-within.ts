import type { Liveness } from './liveness.ts';

/** The deadline of `answerWithin` passed before an answer. */
export class Overdue extends Error {
  constructor(timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
  }
}

/** Whose liveness a command's answer (or its absence) speaks for, and who hears the verdict. */
export interface Tracking {
  readonly liveness: Liveness;
  /** A health ping rather than a command (Liveness.sent). */
  readonly probe: boolean;
  /** Runs after each verdict Liveness is given: answered, unanswered, overdue. */
  readonly onVerdict: () => void;
}

/**
 * Sends one Redis command with a deadline, for the store's own commands and the stopped-runs
 * subscription's pings alike. Settles as the command does, or rejects with `Overdue` at the
 * deadline. The deadline fires only after one more pass over I/O (setImmediate runs after the poll
 * phase): when our own event loop stalled under a burst, timers run before sockets are read, and a
 * reply already waiting would otherwise be taken for none (a spurious 503 for a reservation Redis
 * did apply: counted, never spent). With `tracked`, Liveness is told whether and when it was
 * answered; an error reply is an answer (the server is alive), a failure without one is not.
 */
export function answerWithin<T>(fn: () => Promise<T>, timeoutMs: number, tracked?: Tracking): Promise<T> {
  const id = tracked?.liveness.sent(tracked.probe);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        setImmediate(() => {
          if (tracked && id !== undefined) {
            tracked.liveness.overdue(id);
            tracked.onVerdict();
          }
          reject(new Overdue(timeoutMs));
        }),
      timeoutMs,
    );
  });
  let sent: Promise<T>;
  try {
    sent = fn();
  } catch (err) {
    sent = Promise.reject(err);
  }
  if (tracked && id !== undefined) {
    const verdict = (answered: boolean) => {
      if (answered) tracked.liveness.answered(id, tracked.probe);
      else tracked.liveness.unanswered(id, tracked.probe);
      tracked.onVerdict();
    };
    sent.then(
      () => verdict(true),
      (err: unknown) => verdict(isAnswer(err)),
    );
  }
  return Promise.race([sent, deadline]).finally(() => clearTimeout(timer));
}

/** An error reply (a script error, OOM, CLUSTERDOWN) is an answer: the server is alive. */
export function isAnswer(err: unknown): boolean {
  return err instanceof Error && err.name === 'ReplyError';
}
