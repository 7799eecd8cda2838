import type { Log } from './logger.ts';

export interface SourceWarningOptions {
  /** A monotonic clock (ms, default performance.now). */
  readonly monotonic?: () => number;
  /** At most one line per address per interval (default 10 s). */
  readonly intervalMs?: number;
  /** Lines of all addresses together per interval (default 100). */
  readonly maxLines?: number;
  /** Addresses remembered; past it the least recently seen is forgotten (default 1 024). */
  readonly maxSources?: number;
}

/** One address's warnings since its last line. */
interface Seen {
  loggedAt: number;
  unlogged: number;
}

/**
 * A warning about a client refused, which the client cannot turn into a log flood (sixth round: each
 * 503 of an exhausted review budget wrote a line, at the rate junk bearers came in). The first
 * refusal of an address is logged; the later ones are counted, and the next one an interval or more
 * after that address's last line is logged with the count since (`refused`). All addresses together
 * write at most `maxLines` an interval: past it an address's refusals wait, counted, for a later
 * line. A count an address never follows up is not written.
 */
export function sourceWarning(
  log: Log,
  msg: string,
  opts: SourceWarningOptions = {},
): (source: string, fields: Record<string, unknown>) => void {
  const monotonic = opts.monotonic ?? (() => performance.now());
  const intervalMs = opts.intervalMs ?? 10_000;
  const maxLines = opts.maxLines ?? 100;
  const maxSources = opts.maxSources ?? 1_024;
  /** In order of last use (a Map keeps insertion order; re-inserted on each refusal). */
  const sources = new Map<string, Seen>();
  let windowAt = monotonic();
  let lines = 0;
  return (source, fields) => {
    const now = monotonic();
    let seen = sources.get(source);
    sources.delete(source);
    if (seen === undefined) {
      seen = { loggedAt: Number.NEGATIVE_INFINITY, unlogged: 0 };
      if (sources.size >= maxSources) sources.delete(sources.keys().next().value!);
    }
    sources.set(source, seen);
    seen.unlogged++;
    if (now - seen.loggedAt < intervalMs) return;
    if (now - windowAt >= intervalMs) {
      windowAt = now;
      lines = 0;
    }
    if (lines >= maxLines) return;
    lines++;
    log.warn({ ...fields, source, refused: seen.unlogged }, msg);
    seen.loggedAt = now;
    seen.unlogged = 0;
  };
}
