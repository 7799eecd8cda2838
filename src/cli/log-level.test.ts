import { describe, expect, it } from 'vitest';
import { UsageError } from './args.ts';
import { LOG_LEVELS, logLevelFromEnv } from './log-level.ts';

describe('KEYBRAKE_LOG_LEVEL', () => {
  it('is info when unset or empty (as an empty KEYBRAKE_<FLAG> is unset)', () => {
    expect(logLevelFromEnv({})).toBe('info');
    expect(logLevelFromEnv({ KEYBRAKE_LOG_LEVEL: '' })).toBe('info');
  });

  it.each(LOG_LEVELS)('takes %s', (level) => {
    expect(logLevelFromEnv({ KEYBRAKE_LOG_LEVEL: level })).toBe(level);
  });

  // Sixteenth round: the value reached pino unchecked; `verbose` exited 1 with pino's own words.
  it.each(['verbose', 'DEBUG', ' info', 'warning', '30'])(
    'refuses %j as a usage error naming the variable and the levels',
    (value) => {
      const refusal = () => logLevelFromEnv({ KEYBRAKE_LOG_LEVEL: value });
      expect(refusal).toThrow(UsageError);
      expect(refusal).toThrow(
        `KEYBRAKE_LOG_LEVEL=${JSON.stringify(value)}: expected one of fatal, error, warn, info, debug, trace, silent`,
      );
    },
  );
});
