import { type DocumentError, formatDocumentError } from '../../api/resource-set.ts';
import type { Clock } from '../../clock.ts';
import { type CompileResult, compile, type ObjectStatus } from '../../compiler/compile.ts';
import { validate } from '../../compiler/validate.ts';
import type { Snapshot } from '../../snapshot/types.ts';
import type { Log } from '../../telemetry/logger.ts';
import { loadManifests } from './load.ts';
import { watchManifests } from './watch.ts';

/**
 * What the file source emits on start and after every change: a snapshot for the SnapshotHolder
 * (standalone `serve`) plus statuses to log. `applied: false` means the change had errors and the
 * previous snapshot (same object, same version) stays in force.
 */
export interface FileSourceUpdate {
  readonly applied: boolean;
  readonly snapshot: Snapshot;
  readonly statuses: readonly ObjectStatus[];
  readonly errors: readonly DocumentError[];
}

/** The first load had errors: `serve` must not start. `lines` are ready to print, one per problem. */
export class ManifestError extends Error {
  override readonly name = 'ManifestError';
  readonly lines: readonly string[];
  constructor(lines: readonly string[]) {
    super(`invalid manifests:\n${lines.join('\n')}`);
    this.lines = lines;
  }
}

export interface FileSource {
  /** Loads, validates and compiles once and starts watching. Rejects with ManifestError on any error. */
  start(): Promise<FileSourceUpdate>;
  /** Reloads now (also what the watcher calls); concurrent calls coalesce. */
  reload(): Promise<FileSourceUpdate>;
  onUpdate(listener: (update: FileSourceUpdate) => void): () => void;
  readonly current: FileSourceUpdate | undefined;
  close(): void;
}

export interface FileSourceOptions {
  readonly clock: Clock;
  readonly log: Log;
  /** Watch the paths for changes (default true). */
  readonly watch?: boolean;
  readonly debounceMs?: number;
  readonly defaultNamespace?: string;
}

/**
 * Standalone mode's source (DESIGN.md §3): manifest files → validate → compile → snapshot. A change
 * with any document error is not applied, in whole: half a policy directory could drop the very
 * allowlist that made a key safe. The last good snapshot stays and the log says why.
 */
export function createFileSource(paths: readonly string[], opts: FileSourceOptions): FileSource {
  const listeners = new Set<(u: FileSourceUpdate) => void>();
  let current: FileSourceUpdate | undefined;
  let version = 0;
  let running: Promise<FileSourceUpdate> | undefined;
  let queued: Promise<FileSourceUpdate> | undefined;
  let watcher: { close(): void } | undefined;
  let closed = false;

  const once = async (): Promise<FileSourceUpdate> => {
    const loaded = await loadManifests(paths);
    const { set, errors: validationErrors } = validate(loaded.documents, {
      ...(opts.defaultNamespace !== undefined && { defaultNamespace: opts.defaultNamespace }),
    });
    const errors = [...loaded.errors, ...validationErrors];
    if (errors.length > 0) {
      const lines = errors.map(formatDocumentError);
      if (!current) throw new ManifestError(lines);
      opts.log.error(
        { errors: lines, version: current.snapshot.version },
        'manifest change rejected: keeping the last good policy',
      );
      const update: FileSourceUpdate = { ...current, applied: false, errors };
      emit(update);
      return update;
    }
    const result: CompileResult = compile(set, { version: version + 1, clock: opts.clock });
    version += 1;
    const update: FileSourceUpdate = {
      applied: true,
      snapshot: result.snapshot,
      statuses: result.statuses,
      errors: [],
    };
    current = update;
    logStatuses(opts.log, update);
    emit(update);
    return update;
  };

  const emit = (u: FileSourceUpdate) => {
    for (const l of listeners) {
      try {
        l(u);
      } catch (err) {
        opts.log.error({ err }, 'file source listener failed');
      }
    }
  };

  const reload = (): Promise<FileSourceUpdate> => {
    if (!running) {
      running = once().finally(() => {
        running = undefined;
      });
      return running;
    }
    // A change during a reload gets one more reload after it, shared by every caller meanwhile.
    queued ??= running
      .catch(() => undefined)
      .then(() => {
        queued = undefined;
        return reload();
      });
    return queued;
  };

  return {
    async start() {
      const first = await reload();
      if (opts.watch !== false && !closed) {
        watcher = watchManifests(
          paths,
          () => {
            reload().catch((err: unknown) => opts.log.error({ err }, 'manifest reload failed'));
          },
          { ...(opts.debounceMs !== undefined && { debounceMs: opts.debounceMs }) },
        );
      }
      return first;
    },
    reload,
    onUpdate(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    get current() {
      return current;
    },
    close() {
      closed = true;
      watcher?.close();
    },
  };
}

function logStatuses(log: Log, u: FileSourceUpdate): void {
  const keys = u.statuses.filter((s) => s.kind === 'VaultKey');
  log.info(
    { version: u.snapshot.version, keys: keys.length, served: u.snapshot.keys.size },
    'manifests loaded',
  );
  for (const s of u.statuses) {
    const c = s.conditions[0];
    if (c && c.status !== 'True') {
      log.warn(
        {
          kind: s.kind,
          namespace: s.namespace,
          name: s.name,
          reason: c.reason,
          tokenFingerprint: s.tokenFingerprint,
        },
        `${s.kind} ${s.namespace}/${s.name} is not ready: ${c.message}`,
      );
    }
  }
}
