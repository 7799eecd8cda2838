import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Counter } from 'prom-client';
import type { ObjectStatus } from '../compiler/compile.ts';
import type { KubeObject } from '../sources/kubernetes/reflector.ts';
import type { Log } from '../telemetry/logger.ts';
import { type EventSink, invalidEvent } from './events.ts';
import { type StatusApplier, type StatusExtras, type StatusRef, statusChange } from './status.ts';

/**
 * Ready=False reasons that are not a problem of the object (a paused or expired key is fine, one
 * being deleted was deleted on purpose): no warning, no Invalid Event.
 */
const BENIGN_REASONS = new Set(['Expired', 'Suspended', 'Deleting']);

/** Wiring of the status reconciler. */
export interface StatusWriterDeps {
  /** The object as the informer cache last saw it (status, uid, resourceVersion). */
  readonly lookup: (kind: StatusRef['kind'], namespace: string, name: string) => KubeObject | undefined;
  readonly apply: StatusApplier;
  readonly recordEvent: EventSink;
  readonly log: Log;
  /** Parallel writes (default 8). */
  readonly concurrency?: number;
  /** Longest stretch of work between two turns of the event loop (default 5 ms). */
  readonly sliceMs?: number;
  readonly writes?: Counter;
}

/** The status reconciler's state: what this leader wrote, while the informer cache has not caught up. */
export interface StatusWriter {
  /**
   * Writes each status that differs from what its object shows (nothing at all on an idle
   * cluster); stops early once `proceed` says no (leadership lost, shutdown). Resolves with the
   * writes that failed and whether every status was looked at.
   */
  write(
    statuses: readonly ObjectStatus[],
    extras: (status: ObjectStatus) => StatusExtras,
    proceed: () => boolean,
  ): Promise<{ failed: number; complete: boolean }>;
  /** Drops what was written for an object that was deleted. */
  forget(ref: StatusRef): void;
  /** Drops everything written (on losing leadership: the next leader starts from the cache). */
  reset(): void;
}

interface Written {
  readonly uid: string | undefined;
  /** The cached object's resourceVersion when this write was made. */
  readonly before: string | undefined;
  readonly status: Record<string, unknown>;
}

/**
 * Status (compiler verdict + spend → `.status`, by server-side apply). "What is there" is the
 * informer cache, except right after a write of ours that the cache does not show yet: as long as
 * the cached object is the very version our write was based on (same uid, same resourceVersion;
 * resourceVersions are opaque, only compared for equality), what we wrote is what is there. A
 * Ready condition that turns False for a real problem is logged and gets an Invalid Event.
 */
export function createStatusWriter(deps: StatusWriterDeps): StatusWriter {
  const concurrency = deps.concurrency ?? 8;
  const sliceMs = deps.sliceMs ?? 5;
  const written = new Map<string, Written>();
  const id = (ref: StatusRef) => `${ref.kind}/${ref.namespace}/${ref.name}`;

  const writeOne = async (s: ObjectStatus, extras: StatusExtras, proceed: () => boolean) => {
    const object = deps.lookup(s.kind, s.namespace, s.name);
    if (!object) return;
    const uid = object.metadata?.uid;
    const resourceVersion = object.metadata?.resourceVersion;
    const mine = written.get(id(s));
    const cached = (object.status ?? undefined) as Record<string, unknown> | undefined;
    const current = mine && mine.uid === uid && mine.before === resourceVersion ? mine.status : cached;
    const change = statusChange(s, current, extras);
    if (!change || !proceed()) return;
    const ref = { kind: s.kind, namespace: s.namespace, name: s.name };
    const present = await deps.apply(ref, change.apply);
    deps.writes?.inc();
    deps.log.debug({ object: id(ref), changed: Object.keys(change.patch.status) }, 'status written');
    if (!present) {
      written.delete(id(ref));
      return;
    }
    written.set(id(ref), { uid, before: resourceVersion, status: change.status });
    const ready = change.readyChanged;
    if (ready && ready.status === 'False' && !BENIGN_REASONS.has(ready.reason)) {
      deps.log.warn(
        { kind: s.kind, object: `${s.namespace}/${s.name}`, reason: ready.reason, message: ready.message },
        'not ready',
      );
      await deps.recordEvent(invalidEvent({ ...ref, ...(uid !== undefined && { uid }) }, ready));
    }
  };

  return {
    async write(statuses, extras, proceed) {
      // An index, not queue.shift(): a 100 000-entry array lives in V8's large-object space, where
      // shift() cannot trim in place and copies the rest of the array every time.
      let next = 0;
      let failed = 0;
      let sliceStarted = performance.now();
      const workers = Array.from({ length: Math.min(concurrency, statuses.length) }, async () => {
        while (next < statuses.length && proceed()) {
          const s = statuses[next++]!;
          await writeOne(s, extras(s), proceed).catch((err: unknown) => {
            failed++;
            deps.log.warn(
              { object: `${s.kind}/${s.namespace}/${s.name}`, error: (err as Error).message.split('\n')[0] },
              'status write failed',
            );
          });
          // A status that needs no write settles without I/O: a long run of them would hold the
          // event loop in microtasks, starving the Lease renewal and the snapshot streams.
          if (performance.now() - sliceStarted >= sliceMs) {
            await yieldToEventLoop();
            sliceStarted = performance.now();
          }
        }
      });
      await Promise.all(workers);
      return { failed, complete: next >= statuses.length && proceed() };
    },
    forget(ref) {
      written.delete(id(ref));
    },
    reset() {
      written.clear();
    },
  };
}
