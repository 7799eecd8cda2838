import type { FileHandle } from 'node:fs/promises';
import type { ResourceSetUpdate } from '../../api/resource-set.ts';
import { DEFAULT_NAMESPACE } from '../../api/v1alpha1/index.ts';
import { checkDocuments, type Verdict } from '../../api/validate.ts';
import type { Clock } from '../../clock.ts';
import { sameItems } from '../../equality.ts';
import type { Log } from '../../telemetry/logger.ts';
import type { BrokenObject } from './broken-names.ts';
import { createFileAssembler } from './file-assembly.ts';
import { createFileReader, flattenEntries } from './load.ts';
import { manifestOrigin } from './origin.ts';
import { watchManifests } from './watch.ts';

/** Standalone mode's source: manifest files → ResourceSet updates for the compile runner. */
export interface FileSource {
  /** Loads and validates once and starts watching; resolves with that first update. */
  start(): Promise<ResourceSetUpdate>;
  /** Reloads now; concurrent calls coalesce. */
  reload(): Promise<ResourceSetUpdate>;
  /**
   * What the watcher calls: a reload that gives no update when every file is what the last update
   * was made of (it resolves with that update). One save can reach the watcher as two events.
   */
  refresh(): Promise<ResourceSetUpdate>;
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
  /**
   * Runs `run` after `delayMs` (tests run it when they choose); default an unref'd timer. Used to
   * read the files read racily again once they are out of the racy window, so that the next change
   * does not read them all (`scheduleSettle` below).
   */
  readonly schedule?: (delayMs: number, run: () => void) => { cancel(): void };
  /** How long a load may take before it counts as failed (LOAD_TIMEOUT_MS); tests shorten it. */
  readonly loadTimeoutMs?: number;
  /** Reads a file's text (tests: a read that never returns); default readFile. */
  readonly readText?: (file: string, handle: FileHandle) => Promise<string>;
}

const unrefTimer = (delayMs: number, run: () => void) => {
  const timer = setTimeout(run, delayMs);
  timer.unref();
  return { cancel: () => clearTimeout(timer) };
};

/** Past the end of the racy window, so that the load after it finds every file out of it. */
const SETTLE_MARGIN_MS = 50;
/**
 * A load still reading after this has met a read that does not return (a hung NFS or FUSE mount):
 * it is reported as failed, and the reloads after it go ahead without it.
 */
const LOAD_TIMEOUT_MS = 30_000;

/** The racy window's length (the reader's): no file settles later than this from now. */
const SETTLE_MAX_MS = 2_000;

/**
 * How long until a settle pass, for files that leave the racy window at `at` (epoch ms). A file
 * whose mtime is in the future (`touch -d 2100-01-01`, a server clock ahead) stays racy: it is read
 * again every SETTLE_MAX_MS, never sooner, nor in a loop (past 2^31 ms Node fires a timer at once).
 */
function settleDelay(at: number, now: number): number {
  return Math.min(Math.max(0, at - now), SETTLE_MAX_MS) + SETTLE_MARGIN_MS;
}

/**
 * Standalone mode's source (DESIGN.md §3): manifest files and directories → load → validate → the
 * whole ResourceSet, on start and after every change. It never decides what an error means: every
 * file and document problem travels with the update, with where each resource came from (the
 * runner `serve` uses refuses such a change and keeps the last good snapshot, but for what the
 * change revokes outside the files read with an error: revocationsOf).
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
    ...(opts.readText !== undefined && { readText: opts.readText }),
    digest: (parsed, _text, file) => ({
      errors: parsed.errors,
      // A file's uid is never used: a key's counter scope is its namespace/name (CheckOptions.ignoreUid).
      verdicts: [
        ...checkDocuments(parsed.documents, {
          ignoreUid: true,
          closedStatus: true,
          ...(opts.defaultNamespace !== undefined && { defaultNamespace: opts.defaultNamespace }),
        }),
        ...brokenVerdicts(parsed.broken, opts.defaultNamespace ?? DEFAULT_NAMESPACE, file),
        // A file with YAML errors: whether one of them may hide an object (ManifestOrigin.hidesNothing;
        // the errors themselves are the file's already).
        ...(parsed.errors.length > 0
          ? [
              {
                type: 'invalid' as const,
                errors: [],
                source: file,
                hides: parsed.unnamedError === true,
                names: (parsed.brokenIdentities ?? []).map(({ kind, name, namespace }) => ({
                  kind,
                  name,
                  namespace: namespace ?? opts.defaultNamespace ?? DEFAULT_NAMESPACE,
                })),
              },
            ]
          : []),
      ],
    }),
  });

  /** The last update emitted, and the files it was made of. */
  let last:
    | {
        files: readonly (readonly Verdict[])[];
        update: ResourceSetUpdate;
        timedOut?: boolean;
        /** The update was made with file errors: refused, so the next load is never quiet. */
        fileErrors?: boolean;
      }
    | undefined;
  let settling: { cancel(): void } | undefined;

  /** One load; `quiet`: no update when every file is what the last update was made of. */
  const once = async (quiet = false): Promise<ResourceSetUpdate> => {
    const changedAt = opts.clock.now();
    // Each file's verdicts as one item: the assembler reuses its work per file.
    const entries = await withinBound(reader.load(paths), opts.loadTimeoutMs ?? LOAD_TIMEOUT_MS);
    if (entries === undefined) return timedOut(changedAt);
    const { items: files, errors: fileErrors } = flattenEntries(entries, (f) => [f.verdicts]);
    scheduleSettle();
    // Quiet only after an update without file errors: one with them was refused (revocations
    // aside), and the same files read cleanly now are a change to apply (eleventh round: a file
    // listed and deleted before its read refused a load, and the reload its deletion queued, finding
    // the same files, gave no update; an edit made with the deletion stayed unapplied).
    if (
      quiet &&
      last &&
      !last.timedOut &&
      !last.fileErrors &&
      fileErrors.length === 0 &&
      sameItems(files, last.files)
    )
      return last.update;
    const { set, errors: setErrors } = assembler.assemble(files);
    const errors = [...fileErrors, ...setErrors];
    const missing = new Set<string>();
    for (const e of entries) if ('error' in e && e.missing) missing.add(e.error.source);
    const origin = manifestOrigin(files, errors, missing);
    const update: ResourceSetUpdate = { set, errors, changedAt, origin };
    last = { files, update, fileErrors: fileErrors.length > 0 };
    emit(update);
    return update;
  };

  /**
   * A load that did not finish: a change refused for an error against every path given, so that it
   * is logged and counted as a failed reload and nothing is revoked on its account (every file
   * counts as read with an error). What it may still read is never applied: its result is dropped.
   */
  const timedOut = (changedAt: number): ResourceSetUpdate => {
    const seconds = (opts.loadTimeoutMs ?? LOAD_TIMEOUT_MS) / 1000;
    const message = `cannot read: the load did not finish within ${seconds} s (a read that does not return: a hung mount?)`;
    const errors = paths.map((source) => ({ source, index: 0, path: '', message }));
    if (!last) throw new Error(`manifests: ${message}`);
    const update: ResourceSetUpdate = {
      set: last.update.set,
      errors,
      changedAt,
      origin: manifestOrigin(last.files, errors, new Set()),
    };
    // The next load gives an update even if every file is as before: this one was refused.
    last = { files: last.files, update, timedOut: true };
    emit(update);
    return update;
  };

  /**
   * Files written just before they were read (within the reader's racy window) are read again by
   * every load until a load finds them out of it: at the first change after a start that would be
   * every file written just before the start (39 MB at 100 000 keys). They are read again as soon
   * as they settle instead, with no update unless one of them changed.
   */
  const scheduleSettle = () => {
    const at = reader.settlesAt();
    if (at === undefined || settling || closed) return;
    settling = (opts.schedule ?? unrefTimer)(settleDelay(at, Date.now()), () => {
      settling = undefined;
      if (closed || running) return; // a reload under way reads them, and schedules again
      running = once(true)
        .catch((err: unknown) => {
          opts.log.error({ err }, 'manifest reload failed');
          return last!.update;
        })
        .finally(() => {
          running = undefined;
        });
    });
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

  /** Whether the reload queued behind the running one may be quiet: only when every caller asked for that. */
  let queuedQuiet = true;
  /** `quiet`: no update when every file is what the last update was made of (`refresh`). */
  const reload = (quiet = false): Promise<ResourceSetUpdate> => {
    if (!running) {
      running = once(quiet).finally(() => {
        running = undefined;
      });
      return running;
    }
    // A change during a reload gets one more reload after it, shared by every caller meanwhile.
    queuedQuiet &&= quiet;
    queued ??= running
      .catch(() => undefined)
      .then(() => {
        const q = queuedQuiet;
        queued = undefined;
        queuedQuiet = true;
        return reload(q);
      });
    return queued;
  };

  return {
    async start() {
      // Watching from before the first read: a change made while it reads is seen, not taken for
      // what it read.
      if (opts.watch !== false && !closed) {
        watcher = watchManifests(
          paths,
          () => {
            reload(true).catch((err: unknown) => opts.log.error({ err }, 'manifest reload failed'));
          },
          { ...(opts.debounceMs !== undefined && { debounceMs: opts.debounceMs }) },
        );
      }
      try {
        return await reload();
      } catch (err) {
        watcher?.close();
        throw err;
      }
    },
    reload: () => reload(),
    refresh: () => reload(true),
    onUpdate(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      closed = true;
      watcher?.close();
      settling?.cancel();
    },
  };
}

/** `work`'s result, or undefined when it has not come within `ms` (it is then ignored). */
function withinBound<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
    timer.unref();
  });
  return Promise.race([work, bound]).finally(() => clearTimeout(timer));
}

/**
 * The objects that documents with a YAML error, or files refused whole, still name
 * (ParsedFile.broken) as rejected objects: what a refused change takes out, or the earlier expiry
 * it applies (revocations.ts); a Secret as unreadable, which takes out the keys whose credentials it
 * holds. Their errors are already the file's, so none here.
 */
function brokenVerdicts(
  objects: readonly BrokenObject[] | undefined,
  defaultNamespace: string,
  source: string,
): Verdict[] {
  return (objects ?? []).map(
    ({ kind, name, namespace = defaultNamespace, expiresAt }): Verdict =>
      kind === 'Secret'
        ? { type: 'invalid', errors: [], unreadableSecret: { namespace, name }, source }
        : {
            type: 'invalid',
            errors: [],
            rejected: { kind, namespace, name, errors: [], ...(expiresAt !== undefined && { expiresAt }) },
            source,
          },
  );
}
