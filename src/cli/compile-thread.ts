import { stat } from 'node:fs/promises';
import { getCompileCacheDir } from 'node:module';
import { setTimeout as delay } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { ManifestError } from '../compiler/runner.ts';
import { ResyncNeeded } from '../distribution/apply.ts';
import { parseStreamMessage } from '../distribution/protocol.ts';
import { createTableFeed } from '../distribution/table-feed.ts';
import type { SnapshotHolder } from '../snapshot/holder.ts';
import type { Log } from '../telemetry/logger.ts';
import type { CredentialInSid } from './credential-in-sid-warnings.ts';
import { moduleCacheDir } from './module-cache.ts';
import type { SecretClash } from './secret-clash-warnings.ts';

/** What the compile thread is started with (its workerData). */
export interface CompileThreadOptions {
  readonly paths: readonly string[];
  /** The version the proxy holds (0: none): the thread's snapshots are numbered above it. */
  readonly versionFloor: number;
}

/** An object the compile left out of the table or serves as not Ready, for the log. Never a token. */
export interface NotReady {
  readonly kind: 'VaultKey' | 'SpendPolicy';
  readonly namespace: string;
  readonly name: string;
  readonly reason: string;
  readonly message: string;
  readonly tokenFingerprint?: string;
}

/** What the compile thread made of one change of the manifests (CompileOutcome, summarised to log). */
export interface CompileSummary {
  /** false: the change was refused; the proxy keeps the last good table (less `revoked`). */
  readonly applied: boolean;
  /** A refused change's revocations, applied all the same (CompileOutcome.revoked). */
  readonly revoked: readonly string[];
  /** What files read with an error hold back of a refused change's revocations (CompileOutcome.held). */
  readonly held: readonly string[];
  readonly version: number;
  /** VaultKeys in the manifests. */
  readonly keys: number;
  /** Keys in the table in force. */
  readonly served: number;
  /** The change's document errors, formatted (formatDocumentError). */
  readonly errors: readonly string[];
  readonly notReady: readonly NotReady[];
  /** Secret fields in both data and stringData with different values: serve warns of each. */
  readonly secretClashes: readonly (SecretClash & { readonly message: string })[];
  /** Twilio secrets inside their own SIDs, whose every answer would be withheld: serve warns of each. */
  readonly credentialsInSids: readonly (CredentialInSid & { readonly message: string })[];
}

/** Messages from the compile thread, in the order it sent them. */
export type FromCompileThread =
  /**
   * Change-set lines (protocol.ts), each ending in \n: the whole table first (in several messages),
   * then deltas (one each).
   */
  | { readonly type: 'lines'; readonly text: string }
  | ({ readonly type: 'outcome' } & CompileSummary)
  /** The thread's first manifests are invalid (formatDocumentError lines). */
  | { readonly type: 'refused'; readonly lines: readonly string[] }
  /** One pino record, to be written by the main thread's logger. */
  | { readonly type: 'log'; readonly line: string };

/** Messages to the compile thread. */
export type ToCompileThread = { readonly type: 'close' };

export interface CompileThread {
  /** Stops the thread (its file watcher with it); the table in force stays in the holder. */
  close(): Promise<void>;
}

/**
 * `env` with the module cache this thread uses, if any, for a worker thread to use as well: the
 * directory this thread gave Node, not getCompileCacheDir()'s, which is Node's subdirectory of it
 * for this Node version and user (given that, the thread kept a second cache inside the first).
 */
function withModuleCache(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return getCompileCacheDir() === undefined ? env : { ...env, NODE_COMPILE_CACHE: moduleCacheDir(env) };
}

/** The compile thread's young generation (its resourceLimits), in MiB. */
const COMPILE_THREAD_YOUNG_GENERATION_MB = 48;

/** How long to wait before starting a thread again after it failed. */
const RESTART_DELAY_MS = 1_000;
/** How long `close` lets the thread stop its watcher before terminating it. */
const CLOSE_TIMEOUT_MS = 1_000;

/**
 * `serve`'s compiler in a worker thread (ADR 0015): loading, validating and compiling the manifests,
 * at start and on every edit, never holds the event loop that serves calls. The thread sends change
 * sets, which are fed to the holder a line at a time with the event loop given back between lines,
 * the finished table swapped in with one assignment, as a proxy does with the operator's stream.
 *
 * Resolves with the first table in the holder (and `onOutcome` told of it); rejects with
 * ManifestError when the first manifests are invalid. A thread that fails later (or whose lines
 * do not follow the table in force) is started again, numbering above the holder's version, and
 * sends the whole table: until then the proxy serves the last table it had.
 */
export async function startCompileThread(opts: {
  readonly paths: readonly string[];
  readonly holder: SnapshotHolder;
  readonly log: Log;
  /** Every outcome, the first included, once its table (if applied) is in the holder. */
  readonly onOutcome: (o: CompileSummary) => void;
  /** Stops the thread, started or not: a start not finished rejects, once the thread has exited. */
  readonly signal?: AbortSignal;
}): Promise<CompileThread> {
  const { holder, log } = opts;
  // libuv starts its thread pool on first use, and its threads inherit the nice value of the thread
  // that started it: started from here, before the compile thread lowers its own priority, the
  // pool (DNS lookups, file reads) keeps the serving thread's. The pool starts as the request is
  // queued, so the thread is not kept waiting for the answer: `serve` loads the proxy's modules
  // meanwhile, and an await here let them go first (the thread started 0.3 s later).
  stat('.').catch(() => {});
  const feed = createTableFeed({ holder, log });
  let worker: Worker | undefined;
  let closing = false;
  let started = false;

  return new Promise<CompileThread>((resolveStart, rejectStart) => {
    const close = async () => {
      closing = true;
      const w = worker;
      if (!w) return;
      const exited = new Promise((resolve) => w.once('exit', resolve));
      w.postMessage({ type: 'close' } satisfies ToCompileThread);
      // A thread busy compiling a huge table is not waited for.
      await Promise.race([exited, delay(CLOSE_TIMEOUT_MS)]);
      await w.terminate();
    };
    opts.signal?.addEventListener(
      'abort',
      () => {
        if (started) return void close();
        closing = true;
        // Its messages are dropped from here on (they are only handled from the current worker),
        // and the start rejects once the thread has exited: nothing of it outlives the rejection.
        const w = worker;
        worker = undefined;
        const stopped = new Error('the compile thread was stopped before its first table');
        void (w ? w.terminate() : Promise.resolve()).then(
          () => rejectStart(stopped),
          () => rejectStart(stopped),
        );
      },
      { once: true },
    );

    const fail = (err: Error) => {
      if (closing) return;
      if (!started) {
        closing = true;
        void worker?.terminate();
        rejectStart(err);
        return;
      }
      log.error(
        { error: err.message },
        'the compile thread failed: starting it again; the table in force stays',
      );
      const failed = worker;
      worker = undefined;
      feed.reset();
      void failed?.terminate();
      void delay(RESTART_DELAY_MS).then(() => {
        if (!closing) spawn();
      });
    };

    /**
     * Feeds one message's change-set lines to the holder, in order, yielding after every line that
     * leaves a set unfinished (a whole table comes in several messages: compile-thread-worker.ts).
     */
    const feedLines = async (text: string) => {
      for (const line of text.split('\n')) {
        if (line === '') continue;
        const begun = performance.now();
        const m = parseStreamMessage(line);
        if (!m || (m.type !== 'full' && m.type !== 'delta' && m.type !== 'part'))
          throw new ResyncNeeded('the compile thread sent a line that is not a change set');
        feed.line(m, begun);
        if (feed.building) await feed.afterLine(performance.now() - begun);
      }
    };

    const handle = async (m: FromCompileThread): Promise<void> => {
      switch (m.type) {
        case 'lines':
          return feedLines(m.text);
        case 'outcome':
          // Its lines were refused by the feed (logged): nothing to serve with, so no start.
          if (!started && m.applied && !holder.current)
            return fail(new Error('the first table from the compile thread could not be read'));
          opts.onOutcome(m);
          if (!started && m.applied) {
            started = true;
            resolveStart({ close });
          }
          return;
        case 'refused':
          if (!started) return fail(new ManifestError(m.lines));
          log.error({ errors: m.lines }, 'manifest change rejected: keeping the last good policy');
          return;
        case 'log':
          return relog(log, m.line);
      }
    };

    const spawn = () => {
      const w = new Worker(new URL('./compile-thread-worker.ts', import.meta.url), {
        workerData: {
          paths: [...opts.paths],
          versionFloor: holder.current?.version ?? 0,
        } satisfies CompileThreadOptions,
        // A young generation of 48 MiB (semi-spaces of 16, as the chart gives proxies: ADR 0017),
        // where V8 sizes it from the machine's memory (3 × 64 MiB on a 24 GiB one): serve's RSS at
        // 100 000 keys 879 to 930 → 662 to 849 MiB, its start as fast.
        resourceLimits: { maxYoungGenerationSizeMb: COMPILE_THREAD_YOUNG_GENERATION_MB },
        // The module cache of this thread, for the thread's own imports (module-cache.ts).
        env: withModuleCache(process.env),
      });
      worker = w;
      // One message at a time, in order: a table is in the holder before its outcome is reported.
      let queue = Promise.resolve();
      w.on('message', (m: FromCompileThread) => {
        queue = queue
          .then(() => (worker === w ? handle(m) : undefined))
          .catch((err: unknown) => {
            if (worker === w) fail(err as Error);
          });
      });
      w.on('error', (err) => {
        if (worker === w) fail(err);
      });
      w.on('exit', (code) => {
        if (worker === w) fail(new Error(`the compile thread exited with code ${code}`));
      });
    };
    spawn();
  });
}

const LEVELS: Record<number, 'debug' | 'info' | 'warn' | 'error'> = {
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
};

/** A record of the thread's logger, written again by this thread's (its level, fields and message). */
function relog(log: Log, line: string): void {
  let record: Record<string, unknown>;
  try {
    record = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return;
  }
  const { level, time: _time, msg, ...fields } = record;
  log[LEVELS[level as number] ?? 'error'](fields, typeof msg === 'string' ? msg : '');
}
