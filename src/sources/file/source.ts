import type { ResourceSetUpdate } from '../../api/resource-set.ts';
import { checkDocuments } from '../../api/validate.ts';
import type { Clock } from '../../clock.ts';
import type { Log } from '../../telemetry/logger.ts';
import { createFileAssembler } from './file-assembly.ts';
import { createFileReader, flattenEntries } from './load.ts';
import { watchManifests } from './watch.ts';

/** Standalone mode's source: manifest files → ResourceSet updates for the compile runner. */
export interface FileSource {
  /** Loads and validates once and starts watching; resolves with that first update. */
  start(): Promise<ResourceSetUpdate>;
  /** Reloads now (also what the watcher calls); concurrent calls coalesce. */
  reload(): Promise<ResourceSetUpdate>;
  /** Hears every update, `start`'s own included. */
  onUpdate(listener: (update: ResourceSetUpdate) => void): () => void;
  close(): void;
}

/** Wiring of the file source: time for `changedAt`, where reload failures are logged, watching. */
export interface FileSourceOptions {
  readonly clock: Clock;
  readonly log: Log;
  /** Watch the paths for changes (default true). */
  readonly watch?: boolean;
  readonly debounceMs?: number;
  readonly defaultNamespace?: string;
}

/**
 * Standalone mode's source (DESIGN.md §3): manifest files and directories → load → validate → the
 * whole ResourceSet, on start and after every change. It never decides what an error means: every
 * file and document problem travels with the update (the runner `serve` uses refuses such a change
 * whole and keeps the last good snapshot).
 */
export function createFileSource(paths: readonly string[], opts: FileSourceOptions): FileSource {
  const listeners = new Set<(u: ResourceSetUpdate) => void>();
  let running: Promise<ResourceSetUpdate> | undefined;
  let queued: Promise<ResourceSetUpdate> | undefined;
  let watcher: { close(): void } | undefined;
  let closed = false;
  // Per file, what validation made of its documents, and not the documents themselves: an
  // unchanged file keeps its verdicts, whose resources keep their compiled keys (the CompileCache),
  // so a reload costs the files that changed (ADR 0015), and the parsed documents are garbage once
  // checked (ADR 0016).
  // Unchanged files are not looked through again for duplicates either.
  const assembler = createFileAssembler();
  const reader = createFileReader({
    digest: (parsed) => ({
      errors: parsed.errors,
      verdicts: checkDocuments(parsed.documents, {
        ...(opts.defaultNamespace !== undefined && { defaultNamespace: opts.defaultNamespace }),
      }),
    }),
  });

  const once = async (): Promise<ResourceSetUpdate> => {
    const changedAt = opts.clock.now();
    // Each file's verdicts as one item: the assembler reuses its work per file.
    const { items: files, errors: fileErrors } = flattenEntries(await reader.load(paths), (f) => [
      f.verdicts,
    ]);
    const { set, errors } = assembler.assemble(files);
    const update: ResourceSetUpdate = { set, errors: [...fileErrors, ...errors], changedAt };
    emit(update);
    return update;
  };

  const emit = (u: ResourceSetUpdate) => {
    for (const l of listeners) {
      try {
        l(u);
      } catch (err) {
        opts.log.error({ err }, 'file source listener failed');
      }
    }
  };

  const reload = (): Promise<ResourceSetUpdate> => {
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
    close() {
      closed = true;
      watcher?.close();
    },
  };
}
