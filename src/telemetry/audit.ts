import type { Reason } from '../decision/reasons.ts';
import { AuditShares, type KeyTally } from './audit-shares.ts';
import { fdStream, isFileLike } from './fd-stream.ts';

/**
 * One record per call, the last stage of the pipeline (DESIGN.md §7). Field names are a contract.
 * Never a token, an upstream key or a body: only what is listed here.
 */
export interface AuditRecord {
  ts: string;
  event: 'keybrake.call';
  /** `namespace/name`, or null when the caller was not authenticated. */
  vaultKey: string | null;
  vendor: string | null;
  method: string;
  /** Path without query string; past AUDIT_PATH_CHARS, cut (recordedPath). */
  path: string;
  operation: string | null;
  runId: string | null;
  decision: 'allow' | 'deny';
  reason: Reason;
  /** Decimal USD string of what was counted ("0.00" for reads and denials). */
  costUsd: string;
  upstreamStatus: number | null;
  upstreamRequestId: string | null;
  durationMs: number;
  traceId: string | null;
}

export interface AuditSink {
  write(record: AuditRecord): void;
  /** Resolves once every record written so far is with the OS (never rejects). */
  flush(): Promise<void>;
  /** Characters of records written here that the stream has not yet taken: memory an unread stdout costs. */
  readonly heldBytes: number;
  /**
   * Whether a new call of this vault key (`namespace/name`, as its records name it) may go ahead:
   * the sink holds less than its bound, or this key less than its share of it (audit-shares.ts). A
   * call refused instead still has its record; nothing is dropped (fail closed: no call goes
   * unrecorded).
   */
  admits(vaultKey: string | null): boolean;
  /**
   * Undefined while the sink can take any record; once it holds twice its bound, a promise that
   * resolves when it holds less (or its stream is gone): no call should be answered meanwhile,
   * since even a refusal's record would grow what it holds.
   */
  room(): Promise<void> | undefined;
  /**
   * Whether the sink holds twice its bound or more (room() would wait): a record written now would
   * take it past its hard bound. The HTTP layer's refusals, which are not calls of the pipeline and
   * cannot wait for room() without holding what they refuse, ask this before writing one (refuse.ts).
   */
  readonly full: boolean;
  /**
   * Set once the stream has failed (EPIPE: its reader went away; ENOSPC: a full disk; or it closed):
   * from then on every record, those it held and those still to come, goes to the fallback (stderr),
   * and no new call should be admitted (the proxy drains and exits: see runtime.ts).
   */
  readonly failure: Error | undefined;
  /** Calls `listener` once the stream fails (at once, in a microtask, if it has). */
  onFailure(listener: (err: Error) => void): void;
}

/**
 * The most of a path a record holds (1 KiB): real vendor paths are a few dozen characters, and the
 * agent chooses this one's length (up to the 16 KB header limit), so a backlog of its records would
 * cost 16 times what ordinary records do.
 */
export const AUDIT_PATH_CHARS = 1024;

/**
 * A path as a record holds it: whole up to AUDIT_PATH_CHARS, else its first AUDIT_PATH_CHARS
 * characters followed by ` [cut: <length> characters]`. A request target never holds a space, so
 * no path can pass for a cut one. Cut after the credentials in it were replaced by their
 * fingerprints, so a token cut in half is never left behind.
 */
export function recordedPath(path: string): string {
  if (path.length <= AUDIT_PATH_CHARS) return path;
  // A UTF-16 pair is kept whole or dropped whole: half of one is written as an escape.
  const end = isHighSurrogate(path.charCodeAt(AUDIT_PATH_CHARS - 1))
    ? AUDIT_PATH_CHARS - 1
    : AUDIT_PATH_CHARS;
  return `${path.slice(0, end)} [cut: ${path.length} characters]`;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

let isoMs = Number.NaN;
let isoText = '';

/**
 * `new Date(ms).toISOString()`, formatted once per millisecond: at a few thousand calls a second,
 * most calls share their millisecond with the one before.
 */
export function isoTimestamp(ms: number = Date.now()): string {
  if (ms !== isoMs) {
    isoText = new Date(ms).toISOString();
    isoMs = ms;
  }
  return isoText;
}

/** Characters JSON.stringify escapes in a string: `"`, `\`, controls, and UTF-16 surrogates (lone ones). */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

function str(s: string | null): string {
  if (s === null) return 'null';
  // A surrogate pair is left as it is by JSON.stringify; only a lone one is escaped, so any string
  // holding a surrogate goes the slow way, which decides.
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

function num(n: number | null): string {
  return n !== null && Number.isFinite(n) ? String(n) : 'null';
}

/**
 * The JSON line of a record, byte for byte what `JSON.stringify(record)` gives for a record built
 * with its fields in the contract's order (as the audit stage builds it), without walking the object
 * generically: the field set is fixed.
 */
export function serializeAuditRecord(r: AuditRecord): string {
  return (
    `{"ts":${str(r.ts)},"event":${str(r.event)},"vaultKey":${str(r.vaultKey)},"vendor":${str(r.vendor)}` +
    `,"method":${str(r.method)},"path":${str(r.path)},"operation":${str(r.operation)}` +
    `,"runId":${str(r.runId)},"decision":${str(r.decision)},"reason":${str(r.reason)}` +
    `,"costUsd":${str(r.costUsd)},"upstreamStatus":${num(r.upstreamStatus)}` +
    `,"upstreamRequestId":${str(r.upstreamRequestId)},"durationMs":${num(r.durationMs)}` +
    `,"traceId":${str(r.traceId)}}\n`
  );
}

/** Where the stdout sink writes: process.stdout, or any writable byte stream (tests). */
export interface AuditStream {
  write(chunk: string, callback: (err?: Error | null) => void): boolean;
  once(event: 'drain', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'close', listener: () => void): unknown;
}

/** Where records go once the audit stream has failed: process.stderr, or any writable stream (tests). */
export interface FallbackStream {
  write(chunk: string, callback: (err?: Error | null) => void): boolean;
}

export interface StdoutAuditSinkOptions {
  /**
   * Default fd 1: process.stdout for a pipe or terminal; for a file or device (/dev/null, /dev/full)
   * a stream that writes each batch whole or fails it (fd-stream.ts).
   */
  readonly stream?: AuditStream;
  /** Default fd 2, as for `stream`: where records go once `stream` has failed (the logs' stream). */
  readonly fallback?: FallbackStream;
  /** A batch is written as soon as it holds this many characters (default 64 KiB). */
  readonly maxBatchBytes?: number;
  /** …and at the latest this long after its first record (default 10 ms). */
  readonly maxDelayMs?: number;
  /**
   * Past this many characters held (gathered, or handed to a stream that has not taken them) the
   * keys holding more than their share of it are refused, and past twice it no call is answered
   * (default 16 MiB; at least four batches, what a healthy stream may hold).
   */
  readonly maxHeldBytes?: number;
}

export const DEFAULT_AUDIT_BATCH_BYTES = 64 * 1024;
export const DEFAULT_AUDIT_DELAY_MS = 10;
/**
 * 16 MiB: forty thousand ordinary records (about 400 characters each), twelve thousand of the
 * largest a call can make (a path cut to 1 KiB); twice that, with what calls admitted before still
 * add, stays far below the chart's 512 MiB beside a proxy's own 200 MiB or so.
 */
export const DEFAULT_AUDIT_MAX_HELD_BYTES = 16 * 1024 * 1024;

/** One write handed to the stream: its text (for the fallback, should the stream fail) and keys. */
interface PendingWrite {
  readonly text: string;
  readonly keys: KeyTally;
}

/** Sinks holding records not yet handed to their stream: written out when the process exits. */
const gathering = new Set<BatchedAuditSink>();
let exitHook = false;

/**
 * JSON lines in batches, written from the event loop: records are serialized as they come and
 * handed to the stream as one write per batch, when the batch reaches `maxBatchBytes` or
 * `maxDelayMs` after its first record, whichever comes first. Nothing goes through the libuv thread
 * pool (pino's asynchronous destination took a pool job, a hand-off and a wake-up per call).
 *
 * Lossless and never torn: every byte goes through one stream, in order, so lines never interleave.
 * A full pipe (EAGAIN on a non-blocking pipe) keeps the stream's bytes queued in libuv until the
 * reader makes room; meanwhile, once the stream is past its high-water mark, new records gather
 * here until it says 'drain'. `flush()` (the graceful shutdown) hands over the batch and resolves
 * once every byte is written; on exit the last batch is handed over synchronously. The batch timer
 * keeps the process alive until it fires, so a natural exit never leaves a batch behind.
 *
 * Bounded by admission, never by dropping: what it holds (the gathering batch and the writes the
 * stream has not completed) is counted, in all and per vault key; past `maxHeld` the proxy admits
 * no new call of a key holding its share of that or more (`admits()`), and past twice that it
 * answers none (`room()`), until the stream takes the bytes. The agent chooses each record's size
 * (its path, up to AUDIT_PATH_CHARS), and a log collector that stops reading would otherwise grow
 * the proxy until it is killed, losing every record it held; one pool for every key let one key's
 * calls have every other key refused. The HTTP layer's own refusals, which do not wait for room, ask
 * `full` and are counted unrecorded past twice the bound (refuse.ts): written regardless, a flood of
 * them took the batch, one string, past V8's string length limit (thirteenth round).
 *
 * A stream that fails (its 'error': EPIPE when the reader of a pipe went away, ENOSPC on a full disk;
 * or its 'close') is not retried: every record it had not confirmed, the batch gathering and every
 * record still to come are written to the fallback (stderr), and the failure listeners are told, so
 * the proxy admits no new call, drains and exits (runtime.ts). Before the tenth round nothing
 * listened for 'error': the process died on it at once, and the records it held and those of the
 * calls at the vendor then were written nowhere. A write the stream had begun when it failed may
 * have reached its reader in part: it is written to the fallback whole, so a record may be in both
 * places, never in neither.
 */
class BatchedAuditSink implements AuditSink {
  readonly #stream: AuditStream;
  readonly #maxBatch: number;
  readonly #delayMs: number;
  readonly #maxHeld: number;
  #batch = '';
  /** The characters of `#batch` per vault key. */
  #batchKeys: KeyTally = new Map();
  readonly #shares = new AuditShares();
  /** One timer, re-armed with refresh(): no timer object per batch. */
  #timer: NodeJS.Timeout | undefined;
  #timerArmed = false;
  /** The stream is past its high-water mark: batches gather here until it drains. */
  #awaitingDrain = false;
  /**
   * Each write handed to the stream whose callback has not run yet, oldest first: its text (for the
   * fallback, should the stream fail before confirming it), length and keys.
   */
  readonly #inFlight: PendingWrite[] = [];
  #inFlightChars = 0;
  #idle: (() => void)[] = [];
  /** Calls waiting for room (see room()). */
  #waitingRoom: (() => void)[] = [];
  readonly #fallback: FallbackStream;
  #failure: Error | undefined;
  #failureListeners: ((err: Error) => void)[] = [];
  /** Characters handed to the fallback that it has not confirmed yet. */
  #fallbackChars = 0;

  constructor(
    stream: AuditStream,
    fallback: FallbackStream,
    maxBatch: number,
    delayMs: number,
    maxHeld: number,
  ) {
    this.#stream = stream;
    this.#fallback = fallback;
    this.#maxBatch = maxBatch;
    this.#delayMs = delayMs;
    this.#maxHeld = maxHeld;
    // For as long as the sink lives: a second error must not be unhandled either.
    stream.on('error', this.#onError);
    stream.on('close', this.#onClose);
  }

  get heldBytes(): number {
    return this.#batch.length + this.#inFlightChars + this.#fallbackChars;
  }

  get failure(): Error | undefined {
    return this.#failure;
  }

  onFailure(listener: (err: Error) => void): void {
    const failure = this.#failure;
    if (failure) queueMicrotask(() => listener(failure));
    else this.#failureListeners.push(listener);
  }

  admits(vaultKey: string | null): boolean {
    return this.#failure === undefined && this.#shares.admits(vaultKey, this.heldBytes, this.#maxHeld);
  }

  get full(): boolean {
    return !this.#hasRoom();
  }

  room(): Promise<void> | undefined {
    if (this.#hasRoom()) return undefined;
    return new Promise((resolve) => this.#waitingRoom.push(resolve));
  }

  /**
   * Refusals' records may take the sink to twice its bound. Once the stream failed nothing waits:
   * calls are refused (admits()), and their records go to the fallback.
   */
  #hasRoom(): boolean {
    return this.#failure !== undefined || this.heldBytes < 2 * this.#maxHeld;
  }

  write(record: AuditRecord): void {
    const line = serializeAuditRecord(record);
    if (this.#failure) {
      this.#toFallback(line);
      return;
    }
    if (this.#batch.length === 0) gathering.add(this);
    this.#batch += line;
    this.#shares.add(this.#batchKeys, record.vaultKey, line.length);
    if (this.#batch.length >= this.#maxBatch) {
      this.#send();
    } else if (!this.#timerArmed) {
      // A timer that fires after its batch went out for size finds nothing to do; it is not
      // cleared, since a cleared timer cannot be refreshed.
      this.#timerArmed = true;
      if (this.#timer === undefined) this.#timer = setTimeout(this.#onTimer, this.#delayMs);
      else this.#timer.refresh();
    }
  }

  /** Resolves once every record is with the OS: through the stream, or, once it failed, the fallback. */
  flush(): Promise<void> {
    this.#send();
    if (this.#settled()) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Everything handed over and written (to the fallback, once the stream failed). */
  #settled(): boolean {
    return this.#inFlight.length === 0 && this.#batch.length === 0 && this.#fallbackChars === 0;
  }

  /** Hands the batch to the stream, unless the stream asked to wait for 'drain'. Synchronous. */
  #send(): void {
    if (this.#failure || this.#awaitingDrain || this.#batch.length === 0) return;
    const write: PendingWrite = { text: this.#batch, keys: this.#batchKeys };
    this.#batch = '';
    this.#batchKeys = new Map();
    gathering.delete(this);
    this.#inFlight.push(write);
    this.#inFlightChars += write.text.length;
    // A callback per write (one per batch, not per record): an error names the write that failed.
    if (!this.#stream.write(write.text, (err) => this.#written(write, err))) {
      this.#awaitingDrain = true;
      this.#stream.once('drain', this.#onDrain);
    }
  }

  /**
   * Called once per write. A stream completes its writes in order, but an error's callback may come
   * before the (deferred) callbacks of the writes it completed just before: those are confirmed when
   * theirs come; the failed write and every one after it go to the fallback now.
   */
  #written(write: PendingWrite, err?: Error | null): void {
    const at = this.#inFlight.indexOf(write);
    // Already handed to the fallback (the stream failed or closed before this callback came).
    if (at === -1) return;
    if (err) {
      this.#fail(err, at);
      return;
    }
    this.#inFlight.splice(at, 1);
    this.#inFlightChars -= write.text.length;
    this.#shares.taken(write.keys);
    this.#wakeWaiters();
  }

  /**
   * The stream's 'error': after a write's own error (which came first) it adds nothing; as the first
   * sign, no write is named, so every one not confirmed goes to the fallback.
   */
  readonly #onError = (err: Error): void => this.#fail(err, this.#failure ? this.#inFlight.length : 0);

  /** A stream that closed takes no more, and completes nothing it was given. */
  readonly #onClose = (): void => this.#fail(new Error('the audit stream closed'), 0);

  /**
   * The stream cannot be written any more: the writes from `from` on that it has not confirmed (in
   * the order it was given them; from 0 when the error names no write, so one it did take may be
   * written twice) and the batch gathering go to the fallback, and so does every later record
   * (write()). Writes before `from` are confirmed or sent to the fallback when their callbacks come.
   */
  #fail(err: Error, from: number): void {
    if (!this.#failure) {
      this.#failure = err;
      gathering.delete(this);
    }
    const unconfirmed = this.#inFlight.splice(from);
    let text = '';
    for (const write of unconfirmed) {
      text += write.text;
      this.#inFlightChars -= write.text.length;
      this.#shares.taken(write.keys);
    }
    text += this.#batch;
    this.#shares.taken(this.#batchKeys);
    this.#batch = '';
    this.#batchKeys = new Map();
    if (text.length > 0) this.#toFallback(text);
    const listeners = this.#failureListeners;
    this.#failureListeners = [];
    for (const listener of listeners) listener(err);
    this.#wakeWaiters();
  }

  #toFallback(text: string): void {
    this.#fallbackChars += text.length;
    // An error here too (stderr gone as well) leaves nowhere to write: it is no longer pending.
    this.#fallback.write(text, () => {
      this.#fallbackChars -= text.length;
      this.#wakeWaiters();
    });
  }

  #wakeWaiters(): void {
    if (this.#idle.length > 0 && this.#settled()) {
      const idle = this.#idle;
      this.#idle = [];
      for (const resolve of idle) resolve();
    }
    if (this.#waitingRoom.length > 0 && this.#hasRoom()) {
      const waiting = this.#waitingRoom;
      this.#waitingRoom = [];
      for (const resolve of waiting) resolve();
    }
  }

  readonly #onDrain = (): void => {
    this.#awaitingDrain = false;
    this.#send();
  };

  readonly #onTimer = (): void => {
    this.#timerArmed = false;
    this.#send();
  };

  /** At exit: whatever gathered goes to the stream now, behind what it already holds. */
  exiting(): void {
    this.#awaitingDrain = false;
    this.#send();
  }
}

/**
 * JSON lines on stdout (DESIGN.md §7), batched (see BatchedAuditSink). Records are written as they
 * are, without a logger's envelope: the field set above is the whole contract.
 */
export function stdoutAuditSink(opts: StdoutAuditSinkOptions = {}): AuditSink {
  const maxBatch = opts.maxBatchBytes ?? DEFAULT_AUDIT_BATCH_BYTES;
  const delayMs = opts.maxDelayMs ?? DEFAULT_AUDIT_DELAY_MS;
  if (!Number.isSafeInteger(maxBatch) || maxBatch < 1) throw new RangeError('maxBatchBytes must be ≥ 1');
  if (!Number.isFinite(delayMs) || delayMs < 0) throw new RangeError('maxDelayMs must be ≥ 0');
  // A healthy stream holds a batch gathering and one or two being written: never a reason to refuse.
  const maxHeld = Math.max(opts.maxHeldBytes ?? DEFAULT_AUDIT_MAX_HELD_BYTES, 4 * maxBatch);
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const sink of gathering) sink.exiting();
    });
  }
  return new BatchedAuditSink(
    opts.stream ?? standardStream(1),
    opts.fallback ?? standardStream(2),
    maxBatch,
    delayMs,
    maxHeld,
  );
}

/**
 * process.stdout / process.stderr, except for a file or a device: there Node's SyncWriteStream takes
 * a short write (a disk filling) as done, and the records cut in it would be whole nowhere; fdStream
 * writes every byte or fails the write, which then goes to the fallback whole (tenth round).
 */
function standardStream(fd: 1 | 2): AuditStream & FallbackStream {
  if (isFileLike(fd)) return fdStream(fd);
  return fd === 1 ? process.stdout : process.stderr;
}

/** Keeps records in memory (tests, the demo). */
export function memoryAuditSink(): AuditSink & { records: AuditRecord[] } {
  const records: AuditRecord[] = [];
  return {
    records,
    write: (r) => records.push(r),
    flush: async () => {},
    heldBytes: 0,
    admits: () => true,
    room: () => undefined,
    full: false,
    failure: undefined,
    onFailure: () => {},
  };
}
