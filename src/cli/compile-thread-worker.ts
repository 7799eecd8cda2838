// The compile thread of `keybrake serve` (ADR 0015): file source → compile runner, off the thread
// that serves calls. Each snapshot it compiles leaves as change-set lines (the operator stream's own
// format: the whole table first, then deltas), for compile-thread.ts to feed to the proxy's holder.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import { pino } from 'pino';
import { formatDocumentError } from '../api/resource-set.ts';
import { systemClock } from '../clock.ts';
import { type CompileOutcome, createCompileRunner, ManifestError } from '../compiler/runner.ts';
import { deltaLines, eachFullSnapshotLine } from '../distribution/protocol.ts';
import { diffSnapshots } from '../snapshot/serialize.ts';
import type { Snapshot } from '../snapshot/types.ts';
import { createFileSource } from '../sources/file/source.ts';
import { REDACT_PATHS } from '../telemetry/logger.ts';
import type {
  CompileSummary,
  CompileThreadOptions,
  FromCompileThread,
  NotReady,
  ToCompileThread,
} from './compile-thread.ts';
import { credentialInSidMessage, credentialsInSids } from './credential-in-sid-warnings.ts';
import { secretClashes, secretClashMessage } from './secret-clash-warnings.ts';

const port = parentPort;
if (!port) throw new Error('compile-thread-worker.ts runs as a worker thread of keybrake serve');

// Below the thread that serves calls in the CPU's eyes: on a busy machine a reload takes longer rather
// than calls waiting behind it (Linux: a thread id given to setpriority is that thread alone).
lowerPriority(10);
// V8's collector threads too: they are the process's, and a reload's collection of this thread's
// heap is most of its CPU (at 100 000 keys 0.97 s of theirs against 0.6 s of this thread's), which
// they spent at the serving thread's priority. Lowered, they halved calls' p99 during a 100 000-key
// reload (12.1 → 5.8 ms, median of 7 starts); the serving thread's own collections, which they also
// help, showed no cost (ADR 0015).
lowerCollectorThreads(10);

const options = workerData as CompileThreadOptions;
const post = (m: FromCompileThread) => port.postMessage(m);
/** Lines of a whole table per message (of ENTRIES_PER_LINE entries each): about 2 000 keys. */
const LINES_PER_MESSAGE = 8;

// Log records travel to the main thread, which writes them with its own logger (one stream, in order).
const log = pino(
  { level: 'debug', base: {}, redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
  { write: (line: string) => post({ type: 'log', line }) },
);

const source = createFileSource(options.paths, { clock: systemClock, log });
const runner = createCompileRunner({
  clock: systemClock,
  refuseChangesWithErrors: true,
  // Only what is not Ready is logged: no status object per Ready key on every compile.
  readyStatuses: false,
  // The serving thread builds its own index as the table's lines arrive (distribution/apply.ts).
  runKeyIndex: false,
  // A reload compiles what changed, not the table (ADR 0018).
  patch: true,
  // Above what the proxy holds: a restarted thread's tables must not be taken for older ones.
  nextVersion: (previous) => Math.max(previous, options.versionFloor) + 1,
});

/** The snapshot whose lines went out last: what the next delta starts from. */
let sent: Snapshot | undefined;
runner.publishTo((o) => {
  if (sent) post({ type: 'lines', text: deltaLines(diffSnapshots(sent, o.snapshot)) });
  else postWholeTable(o.snapshot);
  sent = o.snapshot;
});

/**
 * A whole table goes out LINES_PER_MESSAGE lines at a time, as it is written: the serving thread
 * reads the first lines while this thread writes the last (at 100 000 keys the writing took 0.25 s
 * and the reading 0.5 s, one after the other). A delta is small and goes whole.
 */
function postWholeTable(snapshot: Snapshot): void {
  let text = '';
  let lines = 0;
  eachFullSnapshotLine(
    snapshot,
    (line) => {
      text += line;
      if (++lines < LINES_PER_MESSAGE) return;
      post({ type: 'lines', text });
      text = '';
      lines = 0;
    },
    undefined,
    // No LINE_BUDGET: the serving thread reads these lines in-process, with no line limit, and a
    // budget makes the writer cut the table twice, building every key's text twice (0.25 s more
    // of a 100 000-key start; the writer keeps no texts, to keep its memory).
    { rememberTexts: false, budget: Number.POSITIVE_INFINITY },
  );
  if (lines > 0) post({ type: 'lines', text });
}

runner.onOutcome((o) => post({ type: 'outcome', ...summary(o) }));

try {
  runner.run(await source.start());
  collectStartGarbage();
} catch (err) {
  // The first manifests are invalid. A first thread stops `serve` with them; a restarted one keeps
  // watching (the proxy keeps its table), and the first valid change goes out whole.
  if (!(err instanceof ManifestError)) throw err;
  post({ type: 'refused', lines: [...err.lines] });
}
source.onUpdate((u) => runner.run(u));
// The watcher does not keep a thread alive (it is unref'd for the CLI's sake): the port does, until
// the main thread says to stop.
port.on('message', (m: ToCompileThread) => {
  if (m.type !== 'close') return;
  source.close();
  port.close();
});

/** What the main thread logs of an outcome: counts, errors and the objects not ready, never a token. */
function summary(o: CompileOutcome): CompileSummary {
  const notReady: NotReady[] = [];
  const { set } = o.update;
  let keys = set.keys.length;
  for (const r of set.rejected) if (r.kind === 'VaultKey') keys++;
  for (const s of o.statuses) {
    const c = s.conditions.find((x) => x.type === 'Ready');
    if (c && c.status !== 'True')
      notReady.push({
        kind: s.kind,
        namespace: s.namespace,
        name: s.name,
        reason: c.reason,
        message: c.message,
        ...(s.tokenFingerprint !== undefined && { tokenFingerprint: s.tokenFingerprint }),
      });
  }
  return {
    applied: o.applied,
    revoked: o.revoked ?? [],
    held: o.held ?? [],
    version: o.snapshot.version,
    keys,
    served: o.snapshot.keys.size,
    errors: o.errors.map(formatDocumentError),
    notReady,
    // Only an applied change's: a refused one's Secrets are not the ones in force.
    secretClashes: o.applied
      ? secretClashes(set.secrets).map((c) => ({ ...c, message: secretClashMessage(c) }))
      : [],
    credentialsInSids: o.applied
      ? credentialsInSids(set.keys, set.secrets).map((c) => ({ ...c, message: credentialInSidMessage(c) }))
      : [],
  };
}

/**
 * The start leaves this thread's heap full of what reading and compiling the whole table made and
 * dropped. Nothing makes V8 collect it while the thread idles, so the first reload's allocations
 * did: at 100 000 keys a collection of 0.3 to 0.4 s, which made that reload take 0.4 to 0.5 s
 * where the next ones take 0.2 (docs/benchmarks.md, tenth finding). So it is collected now, while
 * no reload waits for it, and with V8's memory-reducing collection (the `last-resort` flavour):
 * an ordinary full collection (an eager `vm.measureMemory`, until 2026-12-02) keeps the pages it
 * frees pooled and resident for the heap to grow into again, and this heap grew to read every
 * manifest at once, which a reload (the files that changed) never asks of it again. The pooled
 * pages stay with the process even after the thread exits. At 100 000 keys serve's RSS 3 s after
 * it was ready: 521 to 535 → 455 to 478 MiB (ADR 0015).
 *
 * The collection is V8's `gc` function, which Node gives a context only under `--expose-gc`: the
 * flag is set for as long as it takes to make one context that has it (as jest's leak detector
 * does), so no other context of the process sees `gc`.
 */
function collectStartGarbage(): void {
  const started = performance.now();
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as (o: object) => void;
    setFlagsFromString('--no-expose-gc');
    gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    log.debug(
      { ms: Math.round(performance.now() - started) },
      'compile thread collected its start-up garbage',
    );
  } catch {
    // Not available in this Node: the first reload collects it, as before.
  }
}

/** Raises this thread's nice value where the system lets a thread have its own (Linux); else nothing. */
function lowerPriority(nice: number): void {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, nice);
  } catch {
    // No /proc or no permission: the thread runs at the process's priority.
  }
}

/**
 * Raises the nice value of V8's platform threads (collection, compilation), which Node starts with
 * the process and names `V8Worker` (Linux); else, or for any that fails, nothing.
 */
function lowerCollectorThreads(nice: number): void {
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return; // No /proc: they run at the process's priority.
  }
  for (const tid of tids) {
    try {
      if (readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() === 'V8Worker')
        setPriority(Number(tid), nice);
    } catch {
      // The thread has ended, or no permission: it keeps its priority.
    }
  }
}
