import { describe, expect, it } from 'vitest';
import { systemClock } from '../clock.ts';
import { DEFAULT_UPSTREAMS } from '../proxy/upstreams.ts';
import { silentLogger } from '../telemetry/logger.ts';
import { parseFlags, UsageError, usage } from './args.ts';
import { counterStoreFromFlags, proxyConfigFromFlags } from './proxy-options.ts';
import { SERVE_FLAGS } from './serve.ts';

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

// A contract probe (fifth round): a bad listener address exited 1, every other bad flag 2 (usage).
describe('proxyConfigFromFlags', () => {
  it.each([
    ['--vendor-port stripe=99999', ['--vendor-port', 'stripe=99999'], /--vendor-port stripe=99999: expected/],
    ['--vendor-port stripe=host:', ['--vendor-port', 'stripe=host:'], /--vendor-port stripe=host:: expected/],
    ['--listen 99999', ['--listen', '99999'], /--listen 99999: expected host:port/],
    ['--admin-listen nope', ['--admin-listen', 'nope'], /--admin-listen nope: expected host:port/],
    ['--lease-backoff soon', ['--lease-backoff', 'soon'], /--lease-backoff soon: expected a duration/],
  ])('refuses %s as a usage error', async (_name, argv, message) => {
    const { values } = parseFlags(['--manifests', 'm', ...argv], SERVE_FLAGS, {});
    const built = proxyConfigFromFlags(values, deps);
    await expect(built).rejects.toThrow(UsageError);
    await expect(built).rejects.toThrow(message);
  });

  it.each([
    ['by default', [], 250],
    ['given', ['--lease-backoff', '1s'], 1_000],
    ['given 0, which turns it off', ['--lease-backoff', '0'], 0],
  ])('reads the lease backoff %s', async (_name, argv, ms) => {
    const { values } = parseFlags(['--manifests', 'm', ...argv], SERVE_FLAGS, {});
    expect((await proxyConfigFromFlags(values, deps)).leaseBackoffMs).toBe(ms);
  });
});

describe('serve --help', () => {
  it('shows the --upstream defaults the README gives, and what a given one replaces', () => {
    const line = usage('serve', 'Runs it.', SERVE_FLAGS)
      .split('\n')
      .find((l) => l.startsWith('  --upstream '))!;
    for (const [vendor, url] of Object.entries(DEFAULT_UPSTREAMS)) expect(line).toContain(`${vendor}=${url}`);
    expect(line).toContain("its own vendor's default only");
  });
});
