import { readFile } from 'node:fs/promises';
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
    // Seventh round: Number() read each of these as a size, and the vendor given twice took the last.
    ['--max-body 0x10', ['--max-body', '0x10'], /--max-body 0x10: expected a positive whole number/],
    ['--max-body 1e3', ['--max-body', '1e3'], /--max-body 1e3: expected a positive whole number/],
    ['--max-body " 12 "', ['--max-body', ' 12 '], /--max-body {2}12 : expected a positive whole number/],
    ['--max-body +12', ['--max-body', '+12'], /--max-body \+12: expected a positive whole number/],
    ['--max-connections 1.0', ['--max-connections', '1.0'], /--max-connections 1\.0: expected/],
    [
      'a per-source bound above --max-connections',
      ['--max-connections', '4096', '--max-connections-per-source', '5000'],
      /^--max-connections-per-source 5000: must be at most --max-connections \(4096\)/,
    ],
    [
      '--upstream stripe=notaurl',
      ['--upstream', 'stripe=notaurl'],
      /^--upstream stripe=notaurl: expected an absolute URL for stripe, e\.g\. https:\/\/\{sub\}\.stripe\.com$/,
    ],
    [
      'one vendor given twice to --vendor-port',
      ['--vendor-port', 'stripe=45921', '--vendor-port', 'stripe=45925'],
      /^--vendor-port stripe=45925: stripe is also given as stripe=45921; give each vendor once$/,
    ],
    [
      'one vendor given twice to --upstream',
      ['--upstream', 'resend=http://127.0.0.1:1', '--upstream', 'resend=http://127.0.0.1:2'],
      /^--upstream resend=http:\/\/127\.0\.0\.1:2: resend is also given as resend=http:\/\/127\.0\.0\.1:1; give each vendor once$/,
    ],
    // Tenth round: the second bind failed with EADDRINUSE, "address already in use", as if another
    // process held the port.
    [
      '--listen and --vendor-port on one port',
      ['--listen', '127.0.0.1:53190', '--vendor-port', 'stripe=53190'],
      /^--vendor-port stripe=53190: the same port as --listen 127\.0\.0\.1:53190; give each listener a port of its own$/,
    ],
    [
      'two vendors on one port',
      ['--vendor-port', 'stripe=127.0.0.1:53191', '--vendor-port', 'resend=127.0.0.1:53191'],
      /^--vendor-port resend=127\.0\.0\.1:53191: the same port as --vendor-port stripe=127\.0\.0\.1:53191;/,
    ],
    [
      '--admin-listen on the --listen port of every interface',
      ['--listen', '0.0.0.0:53192', '--admin-listen', '127.0.0.1:53192'],
      /^--admin-listen 127\.0\.0\.1:53192: the same port as --listen 0\.0\.0\.0:53192;/,
    ],
    [
      '--admin-listen by name on a vendor port',
      ['--vendor-port', 'twilio=127.0.0.1:53193', '--admin-listen', 'localhost:53193'],
      /^--admin-listen localhost:53193: the same port as --vendor-port twilio=127\.0\.0\.1:53193;/,
    ],
  ])('refuses %s as a usage error', async (_name, argv, message) => {
    const { values } = parseFlags(['--manifests', 'm', ...argv], SERVE_FLAGS, {});
    const built = proxyConfigFromFlags(values, deps);
    await expect(built).rejects.toThrow(UsageError);
    await expect(built).rejects.toThrow(message);
  });

  it('refuses a vendor given twice in KEYBRAKE_VENDOR_PORT too', async () => {
    const { values } = parseFlags(['--manifests', 'm'], SERVE_FLAGS, {
      KEYBRAKE_VENDOR_PORT: 'twilio=1,twilio=2',
    });
    await expect(proxyConfigFromFlags(values, deps)).rejects.toThrow(/twilio is also given as twilio=1/);
  });

  it.each([
    ['port 0 for every listener', ['--listen', ':0', '--vendor-port', 'stripe=0', '--admin-listen', ':0']],
    ['one port on two addresses', ['--listen', '127.0.0.1:53194', '--admin-listen', '127.0.0.2:53194']],
  ])('takes %s', async (_name, argv) => {
    const { values } = parseFlags(['--manifests', 'm', ...argv], SERVE_FLAGS, {});
    await expect(proxyConfigFromFlags(values, deps)).resolves.toBeDefined();
  });

  it('reads --max-body in decimal digits', async () => {
    const { values } = parseFlags(['--manifests', 'm', '--max-body', '4096'], SERVE_FLAGS, {});
    expect((await proxyConfigFromFlags(values, deps)).parseLimits.maxBytes).toBe(4096);
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

  // Tenth round: README said idempotency and last-use records went first, serve --help (and the
  // store, memory-store.ts #makeRoom) expired entries, then last-use records, then idempotency records.
  it("states the --max-counter-entries eviction order the README states, the store's", async () => {
    const order =
      'expired entries go first, then last-use records, then idempotency records (each oldest first';
    expect(SERVE_FLAGS['max-counter-entries'].help).toContain(order);
    const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
    const row = readme.split('\n').find((l) => l.startsWith('| `--max-counter-entries` |'));
    expect(row).toContain(order);
  });
});
