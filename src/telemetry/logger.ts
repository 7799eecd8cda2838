import { type Logger, pino } from 'pino';

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

export function createLogger(opts: { level?: string; destination?: NodeJS.WritableStream } = {}): Log {
  return pino(
    {
      level: opts.level ?? process.env.KEYBRAKE_LOG_LEVEL ?? 'info',
      base: { component: 'keybrake' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    opts.destination ?? pino.destination({ fd: 2, sync: false }),
  );
}

/** A logger that drops everything (tests, benchmarks). */
export function silentLogger(): Log {
  return pino({ level: 'silent' });
}
