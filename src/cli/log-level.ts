import { UsageError } from './args.ts';

/** The variable the long-running commands (serve, proxy, operator) take their log level from. */
export const LOG_LEVEL_VARIABLE = 'KEYBRAKE_LOG_LEVEL';

/** pino's levels, most severe first; `silent` logs nothing. */
export const LOG_LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * The operational log's level, from KEYBRAKE_LOG_LEVEL (`info` when unset or empty, as an empty
 * KEYBRAKE_<FLAG> is). Checked here, with the flags, so a bad value exits 2 naming the variable: it
 * reached pino unchecked, which threw "default level:verbose must be included in custom levels" and
 * the command exited 1 (sixteenth round). No --log-level flag: the variable is the one way to set it.
 */
export function logLevelFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const value = env[LOG_LEVEL_VARIABLE];
  if (value === undefined || value === '') return 'info';
  if (LOG_LEVELS.includes(value)) return value;
  throw new UsageError(
    `${LOG_LEVEL_VARIABLE}=${JSON.stringify(value)}: expected one of ${LOG_LEVELS.join(', ')} (lower case)`,
  );
}
