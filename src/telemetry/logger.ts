import { type DestinationStream, type Logger, pino } from 'pino';
import { isFileLike, writeWhole } from './fd-stream.ts';

/**
 * Operational log (start-up, reloads, invalid manifests, store faults) on stderr, so stdout stays a
 * pure stream of audit records. Nothing secret is ever passed to it; `redact` is a second net.
 */
export type Log = Logger;

export const REDACT_PATHS = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'password',
  '*.password',
  'apiKey',
  '*.apiKey',
];

/** `level` is checked by its caller: the CLI reads it from KEYBRAKE_LOG_LEVEL (cli/log-level.ts). */
export function createLogger(opts: { level?: string; destination?: NodeJS.WritableStream } = {}): Log {
  return pino(
    {
      level: opts.level ?? 'info',
      base: { component: 'keybrake' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    opts.destination ?? stderrDestination(),
  );
}

/**
 * A logger writing where `log` writes, at its level, whose lines name `component` alone: another
 * part's lines in the same log (OpenTelemetry's diagnostics). `log.child({ component })` would not do:
 * pino writes a child's bindings after its parent's, so the line carried the key twice,
 * `"component":"keybrake","component":"opentelemetry"` (sixteenth round), which a strict JSON reader
 * (an Elasticsearch ingest) refuses and most others read as whichever came last.
 */
export function componentLogger(log: Log, component: string): Log {
  return pino(
    { level: log.level, base: { component }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
    // pino.symbols is pino's API for integrations: the stream `log` (or its root) writes to.
    (log as unknown as Record<symbol, DestinationStream>)[pino.symbols.streamSym],
  );
}

/** Set once stderr could not be written: the operational log goes nowhere from then on. */
let stderrFailure: Error | undefined;

/** The error that stopped stderr, if it was stopped (the exit line then is not attempted). */
export function stderrFailed(): Error | undefined {
  return stderrFailure;
}

/**
 * Where the log goes: fd 2, each line whole or dropped, never waited on (tenth round, MEDIUM).
 *
 * It was `pino.destination({ fd: 2, sync: false })`, a sonic-boom. A write to a full disk (ENOSPC,
 * EFBIG) made it emit 'error', which pino re-emits with no listener: an uncaught exception, whose
 * exit hook (pino's flush on exit) called sonic-boom's flushSync, and that retries every error but
 * EAGAIN forever, 100 ms apart, on the main thread. The proxy hung, answering nothing, deaf to
 * SIGTERM: after an audit failure it never exited; with stderr full at start /readyz never answered.
 * Now a file or device is written synchronously, looping over short writes (fd-stream.ts); a pipe or
 * terminal through process.stderr (libuv queues what the reader has not taken). The first error stops
 * the log, nothing is retried, and nothing waits on it: the audit (stdout) is what records calls.
 */
export function stderrDestination(): { write(line: string): boolean } {
  const fileLike = isFileLike(2);
  // A failed write on process.stderr is an 'error' event: with no listener, a crash mid-drain.
  process.stderr.on('error', (err) => {
    stderrFailure ??= err;
  });
  return {
    write(line) {
      if (stderrFailure) return true;
      if (fileLike) {
        const err = writeWhole(2, line);
        if (err) stderrFailure = err;
        return true;
      }
      return process.stderr.write(line);
    },
  };
}

/**
 * Resolves once every line handed to stderr so far is written (true), or at `timeoutMs` (false):
 * what a command waits on the log before it exits. A pipe whose reader stopped reading (a log driver
 * in blocking mode whose backend is down, a stuck shipper) holds the lines past its 64 KiB in libuv,
 * and those kept the event loop, so the process, alive after a drained stop until a SIGKILL
 * (eleventh round, LOW). The lines still waiting at the deadline are lost with the process; the
 * audit (stdout) is flushed before this is asked.
 */
export function stderrSettled(timeoutMs: number): Promise<boolean> {
  if (stderrFailure || process.stderr.writableLength === 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    // Writes complete in order: an empty one's callback runs once every line before it is written.
    process.stderr.write('', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** A logger that drops everything (tests, benchmarks). */
export function silentLogger(): Log {
  return pino({ level: 'silent' });
}
