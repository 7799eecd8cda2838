import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { REASONS, type Reason } from '../decision/reasons.ts';
import {
  AUDIT_PATH_CHARS,
  type AuditRecord,
  type AuditStream,
  isoTimestamp,
  recordedPath,
  serializeAuditRecord,
  stdoutAuditSink,
} from './audit.ts';

/** A record with every field in the contract's order, as the audit stage builds it. */
function record(over: Partial<AuditRecord> = {}): AuditRecord {
  const r: AuditRecord = {
    ts: '2026-11-29T22:33:57.463Z',
    event: 'keybrake.call',
    vaultKey: 'agents/k',
    vendor: 'stripe',
    method: 'POST',
    path: '/v1/charges',
    operation: 'stripe.charges.create',
    runId: null,
    decision: 'allow',
    reason: 'ok',
    costUsd: '1.00',
    upstreamStatus: 200,
    upstreamRequestId: 'req_1',
    durationMs: 0.412,
    traceId: null,
  };
  // Assigned field by field: the order stays the contract's whatever `over` lists.
  for (const [k, v] of Object.entries(over)) (r as unknown as Record<string, unknown>)[k] = v;
  return r;
}

describe('serializeAuditRecord', () => {
  it('is JSON.stringify of the record, plus the line break', () => {
    const r = record();
    expect(serializeAuditRecord(r)).toBe(`${JSON.stringify(r)}\n`);
  });

  it('escapes every string as JSON.stringify does: quotes, backslashes, controls, lone surrogates', () => {
    for (const s of [
      'a"b',
      'a\\b',
      'tab\there',
      'nl\n',
      '\u0000\u001f',
      '\ud800',
      'x\udfff',
      '😀',
      '\u2028é',
    ]) {
      const r = record({ path: s, upstreamRequestId: s, operation: s, vaultKey: s, runId: s });
      expect(serializeAuditRecord(r)).toBe(`${JSON.stringify(r)}\n`);
    }
  });

  it('matches JSON.stringify for any strings, nulls and numbers', () => {
    const text = fc.string({ unit: 'binary', maxLength: 40 });
    const maybe = fc.option(text, { nil: null });
    const reasons = Object.keys(REASONS) as Reason[];
    fc.assert(
      fc.property(
        fc.record({
          ts: text,
          vaultKey: maybe,
          vendor: maybe,
          method: text,
          path: text,
          operation: maybe,
          runId: maybe,
          reason: fc.constantFrom(...reasons),
          costUsd: text,
          upstreamStatus: fc.option(fc.integer({ min: 100, max: 599 }), { nil: null }),
          upstreamRequestId: maybe,
          durationMs: fc.oneof(fc.double(), fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, -0)),
          traceId: maybe,
        }),
        (fields) => {
          const r = record({ ...fields, decision: fields.reason === 'ok' ? 'allow' : 'deny' });
          expect(serializeAuditRecord(r)).toBe(`${JSON.stringify(r)}\n`);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

// Fifth probe round: an agent's 16 000-character paths made every one of its records 16 KB, refused
// calls' too, and filled the audit backlog for every tenant.
describe('recordedPath', () => {
  it('keeps a path of up to AUDIT_PATH_CHARS characters whole', () => {
    const path = `/v1/customers/${'a'.repeat(AUDIT_PATH_CHARS - 14)}`;
    expect(path).toHaveLength(AUDIT_PATH_CHARS);
    expect(recordedPath(path)).toBe(path);
  });

  it('cuts a longer one to its first AUDIT_PATH_CHARS characters, marked with its length', () => {
    const path = `/v1/customers/cus_${'a'.repeat(16_000)}`;
    expect(recordedPath(path)).toBe(`${path.slice(0, AUDIT_PATH_CHARS)} [cut: 16018 characters]`);
  });

  it('drops a UTF-16 pair the cut would split, never writing half of it', () => {
    const path = `/${'a'.repeat(AUDIT_PATH_CHARS - 2)}😀${'b'.repeat(10)}`;
    const cut = recordedPath(path);
    expect(cut).toBe(`/${'a'.repeat(AUDIT_PATH_CHARS - 2)} [cut: ${path.length} characters]`);
    expect(serializeAuditRecord(record({ path: cut }))).not.toContain('\\u');
  });
});

describe('isoTimestamp', () => {
  it('is toISOString of the millisecond, also when calls alternate between milliseconds', () => {
    for (const ms of [
      0, 1, 1, 1_800_000_000_000, 1_800_000_000_001, 1_800_000_000_000, 253_402_300_799_999,
    ]) {
      expect(isoTimestamp(ms)).toBe(new Date(ms).toISOString());
    }
  });
});

/** A stream that keeps what it is given and when, and can be told to hold writes back. */
class RecordingStream extends Writable {
  readonly writes: string[] = [];
  #held: ((err?: Error) => void)[] = [];
  hold = false;
  #waiters: (() => void)[] = [];

  constructor(highWaterMark = 16 * 1024) {
    super({ decodeStrings: false, highWaterMark });
  }

  override _write(chunk: string, _encoding: string, done: (err?: Error | null) => void): void {
    this.writes.push(chunk);
    for (const w of this.#waiters.splice(0)) w();
    if (this.hold) this.#held.push((err) => done(err));
    else done();
  }

  /** Fails the oldest held write with `err`, as a pipe whose reader went away fails (EPIPE). */
  failHeld(err: Error): void {
    this.#held.shift()!(err);
  }

  /** Lets every held write complete. */
  release(): void {
    this.hold = false;
    for (const done of this.#held.splice(0)) done();
  }

  /** Resolves on the next write the stream receives. */
  nextWrite(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  lines(): string[] {
    return this.writes.join('').split('\n').slice(0, -1);
  }
}

const seq = (i: number) => record({ path: `/seq/${i}` });
const paths = (lines: string[]) => lines.map((l) => (JSON.parse(l) as AuditRecord).path);

describe('stdoutAuditSink: batches', () => {
  it('gathers records and writes them in one write, at the latest maxDelayMs after the first', async () => {
    const stream = new RecordingStream();
    const sink = stdoutAuditSink({ stream, maxDelayMs: 5 });
    const written = stream.nextWrite();
    for (let i = 0; i < 10; i++) sink.write(seq(i));
    expect(stream.writes).toHaveLength(0);
    await written;
    expect(stream.writes).toHaveLength(1);
    expect(paths(stream.lines())).toEqual(Array.from({ length: 10 }, (_, i) => `/seq/${i}`));
  });

  it('writes as soon as a batch reaches maxBatchBytes, and keeps the order across batches', async () => {
    const stream = new RecordingStream();
    const line = serializeAuditRecord(seq(0)).length;
    const sink = stdoutAuditSink({ stream, maxBatchBytes: line * 3, maxDelayMs: 60_000 });
    for (let i = 0; i < 10; i++) sink.write(seq(i));
    // Three full batches went out as they filled; the tenth record waits for its timer or a flush.
    expect(stream.writes).toHaveLength(3);
    await sink.flush();
    expect(stream.writes).toHaveLength(4);
    expect(paths(stream.lines())).toEqual(Array.from({ length: 10 }, (_, i) => `/seq/${i}`));
  });

  it('flush() resolves only once every write has completed', async () => {
    const stream = new RecordingStream();
    stream.hold = true;
    const sink = stdoutAuditSink({ stream, maxDelayMs: 60_000 });
    sink.write(seq(0));
    let flushed = false;
    const flushing = sink.flush().then(() => {
      flushed = true;
    });
    await Promise.resolve();
    expect(stream.writes).toHaveLength(1);
    expect(flushed).toBe(false);
    stream.release();
    await flushing;
    expect(flushed).toBe(true);
    // Nothing pending: an immediate answer.
    await sink.flush();
  });

  it('past the high-water mark, gathers records until the stream drains, then writes them together', async () => {
    const stream = new RecordingStream(1);
    stream.hold = true;
    const line = serializeAuditRecord(seq(0)).length;
    const sink = stdoutAuditSink({ stream, maxBatchBytes: line, maxDelayMs: 60_000 });
    sink.write(seq(0)); // one batch, over the 1-byte high-water mark: the stream asks to wait
    for (let i = 1; i < 5; i++) sink.write(seq(i));
    expect(stream.writes).toHaveLength(1);
    const flushing = sink.flush();
    stream.release(); // 'drain': the four records that gathered go out as one write
    await flushing;
    expect(stream.writes).toHaveLength(2);
    expect(paths(stream.lines())).toEqual(['/seq/0', '/seq/1', '/seq/2', '/seq/3', '/seq/4']);
  });

  it('flush() does not wait for a stream that is gone: what it held is written to the fallback', async () => {
    const stream = new RecordingStream(1);
    stream.hold = true;
    const fallback = new RecordingStream();
    const sink = stdoutAuditSink({
      stream: stream as AuditStream,
      fallback,
      maxBatchBytes: 1,
      maxDelayMs: 60_000,
    });
    sink.write(seq(0));
    sink.write(seq(1));
    const flushing = sink.flush();
    stream.destroy();
    await flushing;
    expect(paths(fallback.lines())).toEqual(['/seq/0', '/seq/1']);
  });
});

// Tenth round (MEDIUM): nothing listened for the stream's 'error' (EPIPE when `serve | shipper`'s
// shipper restarts, ENOSPC on a full disk); the process died on it, and the records it held and those
// of the calls at the vendor were written nowhere.
describe('stdoutAuditSink: a stream that fails', () => {
  const epipe = () => Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });

  it('hands every record it had not confirmed, and every later one, to the fallback in order, and tells its listeners', async () => {
    const stream = new RecordingStream();
    const fallback = new RecordingStream();
    const sink = stdoutAuditSink({ stream, fallback, maxBatchBytes: 1, maxDelayMs: 60_000 });
    const told: Error[] = [];
    sink.onFailure((err) => told.push(err));
    sink.write(seq(0)); // taken by the stream
    stream.hold = true;
    sink.write(seq(1)); // being written when the reader goes away
    sink.write(seq(2)); // queued behind it
    expect(sink.failure).toBeUndefined();
    stream.failHeld(epipe());
    await new Promise((resolve) => setImmediate(resolve));
    expect(told).toEqual([expect.objectContaining({ code: 'EPIPE' })]);
    expect(sink.failure).toBe(told[0]);
    sink.write(seq(3)); // the record of a call still in flight
    await sink.flush();
    // What the stream was given and did not confirm (seq 1 failed, seq 2 never left its buffer).
    expect(paths(stream.lines())).toEqual(['/seq/0', '/seq/1']);
    expect(paths(fallback.lines())).toEqual(['/seq/1', '/seq/2', '/seq/3']);
    // No new call is admitted, and none waits: the proxy refuses them and drains.
    expect(sink.admits('agents/k')).toBe(false);
    expect(sink.admits(null)).toBe(false);
    expect(sink.room()).toBeUndefined();
    expect(sink.heldBytes).toBe(0);
    // A listener that comes late is told too.
    const late = new Promise<Error>((resolve) => sink.onFailure(resolve));
    expect(await late).toBe(told[0]);
  });

  it("fails on the stream's 'error' alone (ENOSPC with nothing being written), without an unhandled error", async () => {
    const stream = new RecordingStream();
    const fallback = new RecordingStream();
    const sink = stdoutAuditSink({ stream, fallback, maxDelayMs: 60_000 });
    const failed = new Promise<Error>((resolve) => sink.onFailure(resolve));
    sink.write(seq(0)); // gathering in the batch
    stream.destroy(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
    expect(await failed).toMatchObject({ code: 'ENOSPC' });
    await sink.flush();
    expect(stream.writes).toEqual([]);
    expect(paths(fallback.lines())).toEqual(['/seq/0']);
  });
});

describe('stdoutAuditSink: bounded by admission, never by dropping', () => {
  /** A stream that takes the first write and then never completes it: a log reader that stopped. */
  function stuck() {
    const stream = new RecordingStream(1);
    stream.hold = true;
    return stream;
  }
  const line = serializeAuditRecord(seq(0)).length;

  it('holds every record while the stream does not drain, and stops admitting calls at its bound', async () => {
    const stream = stuck();
    // Batches of one record; the bound is four batches (the least it can be): four records.
    const sink = stdoutAuditSink({ stream, maxBatchBytes: line, maxDelayMs: 60_000, maxHeldBytes: 1 });
    for (let i = 0; i < 3; i++) sink.write(seq(i));
    expect(sink.heldBytes).toBe(3 * line);
    expect(sink.admits('agents/k')).toBe(true);
    sink.write(seq(3));
    expect(sink.heldBytes).toBe(4 * line);
    expect(sink.admits('agents/k')).toBe(false);
    // Nothing is dropped past the bound: the records of calls refused meanwhile are kept too.
    for (let i = 4; i < 7; i++) sink.write(seq(i));
    expect(sink.heldBytes).toBe(7 * line);
    expect(sink.room()).toBeUndefined();
    const flushing = sink.flush();
    stream.release();
    await flushing;
    expect(sink.heldBytes).toBe(0);
    expect(sink.admits('agents/k')).toBe(true);
    expect(paths(stream.lines())).toEqual(Array.from({ length: 7 }, (_, i) => `/seq/${i}`));
  });

  it('at twice its bound, room() resolves only once the stream has taken what it holds', async () => {
    const stream = stuck();
    const sink = stdoutAuditSink({ stream, maxBatchBytes: line, maxDelayMs: 60_000, maxHeldBytes: 1 });
    for (let i = 0; i < 8; i++) sink.write(seq(i));
    const room = sink.room();
    expect(room).toBeInstanceOf(Promise);
    // What the HTTP layer's refusals ask before writing a record (refuse.ts): no waiting there.
    expect(sink.full).toBe(true);
    // The first write completes; the seven records gathered behind it go out as one more write.
    stream.release();
    await room;
    expect(sink.room()).toBeUndefined();
    expect(sink.full).toBe(false);
    await sink.flush();
    expect(paths(stream.lines())).toHaveLength(8);
  });

  it('room() does not wait for a stream that is gone: what it held is written to the fallback', async () => {
    const stream = stuck();
    const fallback = new RecordingStream();
    const sink = stdoutAuditSink({
      stream,
      fallback,
      maxBatchBytes: line,
      maxDelayMs: 60_000,
      maxHeldBytes: 1,
    });
    for (let i = 0; i < 8; i++) sink.write(seq(i));
    const room = sink.room();
    stream.destroy();
    await room;
    expect(sink.room()).toBeUndefined();
    // Once the stream failed every record goes to the fallback: none is refused room.
    expect(sink.full).toBe(false);
    await sink.flush();
    expect(paths(fallback.lines())).toEqual(Array.from({ length: 8 }, (_, i) => `/seq/${i}`));
  });

  // Fifth probe round: the backlog was one pool, so one key's calls with 16 KB records (refused
  // ones too) had another key's ordinary reads refused audit_backlog, 5 of 14 at 2 MB/s.
  it('past its bound, refuses the key whose records fill it and admits a key that wrote little', async () => {
    const stream = stuck();
    const of = (vaultKey: string, i: number) => record({ vaultKey, path: `/seq/${i}` });
    const line = serializeAuditRecord(of('agents/attack', 0)).length;
    // Batches of one record; every record the same length; a bound of ten records.
    const sink = stdoutAuditSink({ stream, maxBatchBytes: 1, maxDelayMs: 60_000, maxHeldBytes: 10 * line });
    sink.write(of('agents/victim', 0));
    let attacks = 0;
    while (sink.admits('agents/attack')) sink.write(of('agents/attack', attacks++));
    expect(attacks).toBe(9);
    expect(sink.heldBytes).toBe(10 * line);
    // Refused, the attacker's calls still write records; the victim (one record of ten) goes on.
    for (let i = 0; i < 3; i++) sink.write(of('agents/attack', attacks++));
    expect(sink.admits('agents/attack')).toBe(false);
    expect(sink.admits('agents/victim')).toBe(true);
    expect(sink.admits('agents/other')).toBe(true);
    // Up to its share (half the bound between two keys holding records), not past it.
    let victims = 1;
    while (sink.admits('agents/victim')) sink.write(of('agents/victim', victims++));
    expect(victims).toBe(5);
    expect(sink.room()).toBeUndefined();
    // Once the stream has taken a key's records, they no longer count against it.
    const flushing = sink.flush();
    stream.release();
    await flushing;
    expect(sink.heldBytes).toBe(0);
    expect(sink.admits('agents/attack')).toBe(true);
    expect(sink.admits('agents/victim')).toBe(true);
    expect(stream.lines()).toHaveLength(attacks + victims);
  });

  it('by default admits 16 MiB of unwritten records, and no more', () => {
    const stream = stuck();
    const sink = stdoutAuditSink({ stream, maxDelayMs: 60_000 });
    // The records a 15 000-character path makes (a finding: 6 000 of them grew a proxy by 200 MB).
    const big = record({ path: `/v1/customers/${'a'.repeat(15_000)}` });
    const size = serializeAuditRecord(big).length;
    let written = 0;
    while (sink.admits('agents/k')) {
      sink.write(big);
      written++;
    }
    expect(written).toBe(Math.ceil((16 * 1024 * 1024) / size));
    stream.release();
  });
});

const WRITER = path.resolve(import.meta.dirname, '../../test/fixtures/audit-writer.ts');

/**
 * The real stdout, a pipe to this process that nobody reads until the writer has written every
 * record: the pipe fills (EAGAIN on its non-blocking end) and the writer must neither lose nor tear
 * a line. Then every line is read and checked, in order.
 */
async function throughSlowPipe(records: number, batchBytes: number, mode: 'flush' | 'sigterm' | 'exit') {
  const child = spawn(process.execPath, [WRITER, String(records), String(batchBytes), mode], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit');
  const said: string[] = [];
  const saidLine = (what: string) =>
    new Promise<void>((resolve, reject) => {
      const rl = createInterface({ input: child.stderr! });
      rl.on('line', (l) => {
        said.push(l);
        if (l === what) resolve();
      });
      void exited.then(() => reject(new Error(`writer exited before saying ${what}: ${said.join(' | ')}`)));
    });
  child.stdout!.pause();
  await saidLine('written');
  if (mode === 'sigterm') child.kill('SIGTERM');
  // The slow reader starts only now.
  const chunks: Buffer[] = [];
  child.stdout!.on('data', (c: Buffer) => chunks.push(c));
  child.stdout!.resume();
  const [code] = await exited;
  if (!child.stdout!.readableEnded) await once(child.stdout!, 'end');
  const text = Buffer.concat(chunks).toString('utf8');
  return { code, said, text };
}

describe('stdoutAuditSink on a pipe nobody reads yet', () => {
  const RECORDS = 3_000; // about 1 MiB: far more than a pipe holds

  it.each([
    ['flush() resolves once every line is through', 'flush', 64 * 1024],
    ['SIGTERM, flush(), exit: the graceful shutdown', 'sigterm', 64 * 1024],
    ['a natural exit with a batch still gathering', 'exit', 64 * 1024],
    ['small batches (many writes queued behind a full pipe)', 'flush', 1024],
  ] as const)('%s: no line lost or torn', async (_name, mode, batchBytes) => {
    const { code, said, text } = await throughSlowPipe(RECORDS, batchBytes, mode);
    expect(code).toBe(0);
    if (mode !== 'exit') expect(said).toContain('flushed');
    // The pipe was full while the records were written: bytes waited in the stream (the rest
    // gathered in the sink until 'drain').
    const queued = Number(said.find((l) => l.startsWith('queued '))?.slice(7));
    expect(queued).toBeGreaterThan(0);
    expect(text.endsWith('\n')).toBe(true);
    const lines = text.slice(0, -1).split('\n');
    expect(lines).toHaveLength(RECORDS);
    lines.forEach((line, i) => {
      expect((JSON.parse(line) as AuditRecord).path).toBe(`/seq/${i}`);
    });
  });
});
