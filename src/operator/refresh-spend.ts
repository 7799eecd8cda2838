import type { Clock } from '../clock.ts';
import type { ObjectStatus } from '../compiler/compile.ts';
import type { CounterStore } from '../counters/store.ts';
import { dayBucket } from '../counters/windows.ts';
import { formatUsd } from '../money/micro-usd.ts';
import type { CompiledKey } from '../snapshot/types.ts';
import type { Log } from '../telemetry/logger.ts';
import { capReachedEvent, type EventSink } from './events.ts';
import type { StatusExtras } from './status.ts';

/** Spend as the counter store last said it: what status shows beside the compiler's verdict. */
export interface SpendTracker {
  /** Whether spend is managed at all (a counter store was given). */
  readonly managed: boolean;
  /**
   * Reads spent-today and last use of every served key (one round of reads, failures logged).
   * Resolves whether any of them changed (so a status may have to change); false at once when spend
   * is not managed, without walking `served`.
   */
  refresh(served: Iterable<CompiledKey>): Promise<boolean>;
  /** The spend fields of one object's status; `key` is the served key it compiled to, if any. */
  extras(status: ObjectStatus, key: CompiledKey | undefined): StatusExtras;
  /** Records CapReached for each served key at or over its daily cap, once per key and day. */
  reportCaps(served: Iterable<CompiledKey>, recordEvent: EventSink): Promise<void>;
  /** Micro-USD the key spent today as last read, if it was (metrics). */
  spentToday(uid: string): number | undefined;
}

/** Keys whose spend is read at once (two counter reads each). */
export const READ_BATCH = 256;

/**
 * Spend refresh (counter store → status and Events). Without a store (`counters` absent) the
 * operator does not manage spentTodayUsd or lastUsedAt at all, and never reports a cap.
 */
export function createSpendTracker(deps: { counters?: CounterStore; clock: Clock; log: Log }): SpendTracker {
  const { counters, clock } = deps;
  /** uid → micro-USD spent today. */
  const spent = new Map<string, number>();
  /** uid → epoch ms of the last reserved call. */
  const lastUsed = new Map<string, number>();
  /** `uid|day` of keys whose CapReached Event was recorded. */
  const capReported = new Set<string>();

  return {
    managed: counters !== undefined,

    async refresh(keys) {
      if (!counters) return false;
      const served = [...keys];
      const now = clock.now();
      // Keys no longer served are forgotten (their status drops spentTodayUsd, keeps lastUsedAt).
      const uids = new Set(served.map((k) => k.uid));
      let changed = false;
      for (const uid of [...spent.keys()]) if (!uids.has(uid)) changed = spent.delete(uid) || changed;
      for (const uid of [...lastUsed.keys()]) if (!uids.has(uid)) lastUsed.delete(uid);
      let failed = 0;
      // A batch at a time: 100 000 keys read at once would be 200 000 commands in flight (timing
      // out together) and a second of the event loop spent issuing them, with a revocation waiting.
      for (let from = 0; from < served.length; from += READ_BATCH) {
        const batch = served.slice(from, from + READ_BATCH);
        const results = await Promise.allSettled(
          batch.map((k) =>
            Promise.all([counters.used(k.uid, dayBucket(now, k.policy.timezone)), counters.lastUsed(k.uid)]),
          ),
        );
        results.forEach((r, i) => {
          const uid = batch[i]!.uid;
          if (r.status === 'rejected') {
            failed++;
            return;
          }
          const [used, last] = r.value;
          if (spent.get(uid) !== used) changed = true;
          spent.set(uid, used);
          if (last !== undefined && lastUsed.get(uid) !== last) {
            changed = true;
            lastUsed.set(uid, last);
          }
        });
      }
      if (failed > 0)
        deps.log.warn({ failed }, 'could not read spent-today and last use from the counter store');
      return changed;
    },

    extras(status, key) {
      if (!counters || status.kind !== 'VaultKey') return {};
      // A key that is not served shows no spend; its last use is history and stays.
      if (!key) return { spentTodayMicros: null };
      const spentToday = spent.get(key.uid);
      const lastUse = lastUsed.get(key.uid);
      return {
        ...(spentToday !== undefined && { spentTodayMicros: spentToday }),
        ...(lastUse !== undefined && { lastUsedMs: lastUse }),
      };
    },

    spentToday: (uid) => spent.get(uid),

    async reportCaps(served, recordEvent) {
      for (const key of served) {
        const cap = key.policy.limits.perDayMicros;
        const used = spent.get(key.uid);
        if (cap === undefined || used === undefined || used < cap) continue;
        const mark = `${key.uid}|${dayBucket(clock.now(), key.policy.timezone)}`;
        if (capReported.has(mark)) continue;
        capReported.add(mark);
        const object = { kind: 'VaultKey' as const, namespace: key.namespace, name: key.name, uid: key.uid };
        const usage = { usedUsd: formatUsd(used), capUsd: formatUsd(cap), timezone: key.policy.timezone };
        await recordEvent(capReachedEvent(object, usage));
      }
    },
  };
}
