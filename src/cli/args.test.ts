import { describe, expect, it } from 'vitest';
import { nameFlagSource, parseFlags, UsageError, usage } from './args.ts';

const flags = {
  listen: { type: 'string', help: 'proxy address', default: '127.0.0.1:8080' },
  'vendor-port': { type: 'string', help: 'vendor port', multiple: true },
  verbose: { type: 'boolean', help: 'chatty' },
} as const;

describe('parseFlags', () => {
  it('takes flags over environment over defaults', () => {
    const env = { KEYBRAKE_LISTEN: '0.0.0.0:1', KEYBRAKE_VENDOR_PORT: 'stripe=1,resend=2' };
    expect(parseFlags([], flags, env).values).toMatchObject({
      listen: '0.0.0.0:1',
      'vendor-port': ['stripe=1', 'resend=2'],
    });
    expect(parseFlags(['--listen', ':9'], flags, env).values.listen).toBe(':9');
    expect(parseFlags([], flags, {}).values.listen).toBe('127.0.0.1:8080');
  });
  it('splits repeated and comma-separated values', () => {
    const { values } = parseFlags(
      ['--vendor-port', 'stripe=1,twilio=2', '--vendor-port', 'resend=3'],
      flags,
      {},
    );
    expect(values['vendor-port']).toEqual(['stripe=1', 'twilio=2', 'resend=3']);
  });
  it('rejects unknown flags with a usage error', () => {
    expect(() => parseFlags(['--lisen', 'x'], flags, {})).toThrow(UsageError);
  });
  // Eighth round: `serve --manifest` said only "Unknown option '--manifest'".
  it.each<[string[], { positionals?: boolean }, string]>([
    [['--lisen', 'x'], {}, "Unknown option '--lisen' (did you mean --listen?)"],
    [['--vendor-ports=a'], {}, "Unknown option '--vendor-ports' (did you mean --vendor-port?)"],
    [
      ['--verbsoe'],
      { positionals: true },
      "Unknown option '--verbsoe' (did you mean --verbose?). To specify a positional argument",
    ],
  ])('suggests the closest flag for %j', (argv, opts, message) => {
    expect(() => parseFlags(argv, flags, {}, opts)).toThrow(message);
  });
  it('suggests nothing for an option like no flag', () => {
    expect(() => parseFlags(['--quux'], flags, {})).toThrow(/^Unknown option '--quux'$/);
  });
  // From a new-user walkthrough: `Usage: keybrake token [flags] new`.
  it('puts the operands before the flags in the usage line', () => {
    expect(usage('token', 'Mints.', flags, 'new').split('\n')[0]).toBe('Usage: keybrake token new [flags]');
    expect(usage('serve', 'Runs it.', flags).split('\n')[0]).toBe('Usage: keybrake serve [flags]');
  });
  it('documents each flag with its environment variable', () => {
    expect(usage('serve', 'Runs it.', flags)).toContain('[env KEYBRAKE_VENDOR_PORT]');
  });
  // Seventh round: `serve --help` said `--manifests (repeatable)`, though `a,b` works too.
  it('says a repeated flag also takes a comma-separated list, unless its values are taken whole', () => {
    const repeated = {
      manifests: { type: 'string', multiple: true, help: 'a path' },
      header: { type: 'string', multiple: true, whole: true, help: 'a header' },
    } as const;
    const text = usage('serve', 'Runs it.', repeated);
    expect(text).toContain('a path (repeatable, or comma-separated)');
    expect(text).toMatch(/a header \(repeatable\) /);
  });
  // From a new-user walkthrough: `--max-connections-per-source <n>open connections…` ran together.
  it('keeps every flag apart from its help, however long the flag', () => {
    const long = {
      'max-connections-per-source': { type: 'string', placeholder: 'n', help: 'how many' },
      ...flags,
    } as const;
    const lines = usage('serve', 'Runs it.', long)
      .split('\n')
      .filter((l) => l.startsWith('  --'));
    const column = lines[0]!.indexOf('how many');
    expect(lines[0]!.slice(0, column)).toMatch(/<n> {2,}$/);
    for (const line of lines) expect(line.slice(column - 2, column)).toBe('  ');
  });
  // `run exec` gives its command KEYBRAKE_RUN_ID: read as --run-id, a nested exec took the outer run's.
  it('reads a noEnv flag from the command line only, and says no variable for it', () => {
    const own = { 'run-id': { type: 'string', help: 'the run id', noEnv: true }, ...flags } as const;
    expect(parseFlags([], own, { KEYBRAKE_RUN_ID: 'outer' }).values['run-id']).toBeUndefined();
    expect(parseFlags(['--run-id', 'mine'], own, { KEYBRAKE_RUN_ID: 'outer' }).values['run-id']).toBe('mine');
    const text = usage('run', 'Runs.', own);
    expect(text).not.toContain('KEYBRAKE_RUN_ID');
    expect(text).toContain('[env KEYBRAKE_LISTEN]');
  });
});

// Seventh round: `KEYBRAKE_MAX_BODY=1e3 keybrake serve` said "--max-body 1e3: expected a positive
// whole number", naming a flag the user never typed.
describe('nameFlagSource', () => {
  const flags = {
    'max-body': { type: 'string', help: 'bytes' },
    key: { type: 'string', help: 'a key', noEnv: true },
  } as const;
  const message = '--max-body 1e3: expected a positive whole number';

  it('names the variable a bad value came from', () => {
    expect(nameFlagSource(message, flags, [], { KEYBRAKE_MAX_BODY: '1e3' })).toBe(
      '--max-body 1e3 (from KEYBRAKE_MAX_BODY): expected a positive whole number',
    );
  });

  it.each([
    ['the flag was given', ['--max-body', '1e3']],
    ['the flag was given with =', ['--max-body=1e3']],
  ])('leaves the message alone when %s', (_, argv) => {
    expect(nameFlagSource(message, flags, argv, { KEYBRAKE_MAX_BODY: '5' })).toBe(message);
  });

  it('leaves a flag that reads no variable, and a message about no flag, alone', () => {
    expect(nameFlagSource('--key x: no such key', flags, [], { KEYBRAKE_KEY: 'x' })).toBe(
      '--key x: no such key',
    );
    expect(nameFlagSource('give a path', flags, [], { KEYBRAKE_MAX_BODY: '1e3' })).toBe('give a path');
  });
});
