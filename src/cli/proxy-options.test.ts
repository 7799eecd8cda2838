import { describe, expect, it } from 'vitest';
import { systemClock } from '../clock.ts';
import { silentLogger } from '../telemetry/logger.ts';
import { UsageError } from './args.ts';
import { counterStoreFromFlags } from './proxy-options.ts';

const DEFAULTS = { 'max-counter-entries': '1000000', 'redis-timeout': '50ms' };
const deps = { clock: systemClock, log: silentLogger() };

// A new-user walkthrough: each was read only by the store it configures, so a typo passed silently
// until --redis was added or removed.
describe('counterStoreFromFlags', () => {
  it.each([
    ['--redis-timeout abc without --redis', { 'redis-timeout': 'abc' }, /--redis-timeout abc/],
    ['--redis-timeout 1.5 without --redis', { 'redis-timeout': '1.5' }, /--redis-timeout 1\.5/],
    [
      '--max-counter-entries abc with --redis',
      { redis: 'redis://127.0.0.1:1', 'max-counter-entries': 'abc' },
      /--max-counter-entries abc/,
    ],
  ])('refuses %s', async (_name, flags, message) => {
    const built = counterStoreFromFlags({ ...DEFAULTS, ...flags }, deps);
    await expect(built).rejects.toThrow(UsageError);
    await expect(built).rejects.toThrow(message);
  });

  it('builds the memory store from valid flags', async () => {
    const { counters, kind } = await counterStoreFromFlags(DEFAULTS, deps);
    expect(kind).toBe('memory');
    await counters.close();
  });
});
