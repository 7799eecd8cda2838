import { setTimeout as delay, setImmediate } from 'node:timers/promises';
import type { SnapshotHolder } from '../snapshot/holder.ts';
import { LayeredMap } from '../snapshot/layered-map.ts';
import type { Log } from '../telemetry/logger.ts';
import { createChangeSetReader, ResyncNeeded, type StreamTable } from './apply.ts';
import type { StreamMessage } from './protocol.ts';

/** One table swapped into the holder, and what it cost. */
export interface AppliedTable {
  readonly version: number;
  readonly kind: 'full' | 'delta' | 'snapshot';
  readonly keys: number;
  /** Lines of the change set (1 for a whole `snapshot` line). */
  readonly lines: number;
  /** From the set's first line to the swap, wall clock (turns given to calls included). */
  readonly applyMs: number;
  /** Time spent reading the set, summed over its lines: its cost to the event loop. */
  readonly busyMs: number;
  /** The longest the set held the event loop in one go (one line). */
  readonly maxBlockMs: number;
}

export type ChangeMessage = Extract<StreamMessage, { type: 'full' | 'delta' | 'part' }>;

/**
 * Change-set lines → the SnapshotHolder, for whatever carries them: the operator's stream
 * (follower.ts) or `serve`'s policy thread (ADR 0015). The caller gives the event loop back between
 * lines; a feed reads one line at a time and swaps the finished table in with one assignment.
 */
export interface TableFeed {
  /** Whether a set has begun and not ended (only its `part` lines may come next). */
  readonly building: boolean;
  /**
   * Reads one line (`started`: when its parsing began, so its cost counts the JSON too); what was
   * applied when it was the set's last. Throws ResyncNeeded; entries that do not validate are
   * logged and the set dropped, the table in force staying (fail closed).
   */
  line(m: ChangeMessage, started: number): AppliedTable | undefined;
  /**
   * The turn a carrier gives calls after a line that held the event loop `busyMs`. None while no
   * table is in force (every call is refused before it, and the first table is what readiness
   * waits for: at 100 000 keys the turns doubled a proxy's start), only a pass of the event loop.
   */
  afterLine(busyMs: number): Promise<void>;
  /** Drops a set in progress (its carrier ended). */
  reset(): void;
  /** Forgets the table change sets built, after a table applied by other means (a legacy line). */
  forget(): void;
}

/**
 * The default turn for calls after a line: a timer as long as the line took (1 to 50 ms), so calls
 * that queued meanwhile get at least as much time as the table.
 */
export function turnForCalls(busyMs: number): Promise<void> {
  return delay(Math.min(50, Math.max(1, Math.ceil(busyMs))));
}

/** Compact a layered table once its overlay holds this share of it (and at least COMPACT_MIN entries). */
const COMPACT_SHIFT = 7;
const COMPACT_MIN = 256;

export function createTableFeed(opts: {
  readonly holder: SnapshotHolder;
  readonly log: Log;
  /** Gives the event loop back after lines and between compaction slices (default turnForCalls). */
  readonly yieldTurn?: (busyMs: number) => Promise<void>;
  /**
   * Asked when a finished table has a lower version than the one in force: whether to swap it in
   * all the same (the operator's stream: out-of-step.ts). Absent: never.
   */
  readonly takeLower?: () => boolean;
}): TableFeed {
  const { holder, log } = opts;
  const yieldTurn = opts.yieldTurn ?? turnForCalls;
  /** The table in force as change sets built it. */
  let table: StreamTable | undefined;
  const reader = createChangeSetReader();
  /** The cost of the change set being read. */
  let reading = { kind: 'full' as 'full' | 'delta', startedAt: 0, lines: 0, busyMs: 0, maxBlockMs: 0 };
  let compacting = false;

  /** Folds the overlay of a table that took many deltas into a new base, a slice per turn. */
  const maybeCompact = () => {
    const t = table;
    if (compacting || !t) return;
    const due = (m: LayeredMap<unknown>) => m.overlaySize >= Math.max(COMPACT_MIN, m.size >> COMPACT_SHIFT);
    if (!due(t.keys) && !due(t.runIndex)) return;
    compacting = true;
    const started = performance.now();
    void (async () => {
      const turn = () => yieldTurn(1);
      await LayeredMap.compact(t.keys, () => table?.keys, turn);
      await LayeredMap.compact(t.runIndex, () => table?.runIndex, turn);
    })()
      .then(() =>
        log.debug({ version: t.snapshot.version, ms: performance.now() - started }, 'table compacted'),
      )
      .catch((err: unknown) => log.warn({ error: (err as Error).message }, 'table compaction failed'))
      .finally(() => {
        compacting = false;
        if (table !== t) maybeCompact();
      });
  };

  return {
    get building() {
      return reader.building;
    },
    line(m, started) {
      if (m.type !== 'part')
        reading = { kind: m.type, startedAt: started, lines: 0, busyMs: 0, maxBlockMs: 0 };
      let done: StreamTable | undefined;
      try {
        done = reader.read(m, table && holder.current === table.snapshot ? table : undefined);
      } catch (err) {
        if (err instanceof ResyncNeeded) throw err;
        // Fail closed: the last good table stays; the next delta cannot follow it, so a resync comes.
        log.error(
          { version: 'to' in m ? m.to : m.version, error: (err as Error).message },
          'rejected a malformed snapshot',
        );
        return undefined;
      }
      const busy = performance.now() - started;
      reading.lines++;
      reading.busyMs += busy;
      reading.maxBlockMs = Math.max(reading.maxBlockMs, busy);
      if (!done) return undefined;
      const { snapshot } = done;
      if (!holder.apply(snapshot)) {
        const current = holder.current?.version;
        if (!opts.takeLower?.()) {
          log.warn({ version: snapshot.version, current }, 'ignored an older snapshot');
          return undefined;
        }
        log.warn(
          { version: snapshot.version, current },
          'took a lower snapshot version from a newer leader term: the table in force was out of step and stale',
        );
        holder.replace(snapshot);
      }
      table = done;
      const applied: AppliedTable = {
        version: snapshot.version,
        kind: reading.kind,
        keys: snapshot.keys.size,
        lines: reading.lines,
        applyMs: performance.now() - reading.startedAt,
        busyMs: reading.busyMs,
        maxBlockMs: reading.maxBlockMs,
      };
      // After the figures: a compaction's first slice may run before its first turn, and is not
      // the table's cost.
      maybeCompact();
      return applied;
    },
    afterLine(busyMs) {
      return holder.current ? yieldTurn(busyMs) : setImmediate();
    },
    reset() {
      reader.reset();
    },
    forget() {
      table = undefined;
    },
  };
}
