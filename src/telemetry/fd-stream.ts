import { fstatSync, statSync, writeSync } from 'node:fs';
import { isatty } from 'node:tty';

/**
 * A standard stream (fd 1 or 2) that is a file or a device, written whole or not at all.
 *
 * For such an fd Node's process.stdout / process.stderr is a SyncWriteStream, whose write calls
 * `writeSync` once and ignores the count it returns. A disk that fills (or RLIMIT_FSIZE) makes the
 * kernel write what fits and return a short count without an error; only the next write fails. The
 * audit sink took that write as done, so the records cut in it were whole nowhere: not on stdout,
 * and never sent to stderr, its fallback (tenth round, MEDIUM). Here a write loops until every byte
 * is written, and any error (ENOSPC, EFBIG, EIO) fails the whole write, so its caller can write all
 * of it elsewhere: a record may then be both cut on stdout and whole on stderr, never in neither.
 *
 * Synchronous, as SyncWriteStream was (a write per audit batch, not per record); the callback runs
 * on the next tick, as a Writable's does, so no caller is re-entered from its own write.
 */
export interface FdStream {
  write(chunk: string, callback: (err?: Error | null) => void): boolean;
  once(event: 'drain', listener: () => void): FdStream;
  on(event: 'error' | 'close', listener: (...args: never[]) => void): FdStream;
}

export function fdStream(fd: number): FdStream {
  const stream: FdStream = {
    write(chunk, callback) {
      const err = writeWhole(fd, chunk);
      process.nextTick(callback, err);
      // Never past a high-water mark: nothing is queued.
      return true;
    },
    // No 'drain' (write never returns false), and a failure is told by the write's callback alone.
    once: () => stream,
    on: () => stream,
  };
  return stream;
}

/** Writes all of `text` to `fd`, looping over short writes; the error that stopped it, if any. */
export function writeWhole(fd: number, text: string): Error | null {
  const bytes = Buffer.from(text, 'utf8');
  let at = 0;
  try {
    while (at < bytes.length) {
      const n = writeSync(fd, bytes, at, bytes.length - at);
      // A count of 0 for a non-empty write makes no progress: a device that takes nothing.
      if (n <= 0) return new Error(`write to fd ${fd} took 0 of ${bytes.length - at} bytes`);
      at += n;
    }
  } catch (err) {
    return err as Error;
  }
  return null;
}

/**
 * Whether Node wrote `fd` through a SyncWriteStream: a regular file or a device that is not a
 * terminal (Node's guessHandleType 'FILE'). Pipes, sockets and terminals are libuv streams, which
 * write partial counts through to the end.
 */
export function isFileLike(fd: number): boolean {
  try {
    const st = fstatSync(fd);
    if (st.isFIFO() || st.isSocket()) return false;
    return !isatty(fd);
  } catch {
    return false;
  }
}

/**
 * Whether `fd` is the null device: every write to it succeeds and goes nowhere. A stdout closed
 * before start-up (`>&-` in a unit file or wrapper, a supervisor that closes stdio) is one: Node
 * opens /dev/null on a closed fd 0-2 as it starts, so the audit sink sees no error, ever
 * (sixteenth round). Compared by device number with /dev/null itself (Linux 1,3; macOS differs).
 */
export function isNullDevice(fd: number): boolean {
  try {
    const st = fstatSync(fd);
    return st.isCharacterDevice() && st.rdev === statSync('/dev/null').rdev;
  } catch {
    return false;
  }
}
