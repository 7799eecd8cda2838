// `keybrake policy-check --explain`, the real CLI spawned as a user runs it against the quick start
// manifests: exit codes (0 allow, 1 deny, 2 usage), the text and JSON forms, --help from the flag table.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { POLICY_CHECK_FLAGS } from '../../src/cli/policy-check.ts';
import { fingerprint } from '../../src/tokens/token.ts';
import { type CliResult, runKeybrake } from '../env/keybrake.ts';

const QUICKSTART = path.resolve(import.meta.dirname, '../../examples/quickstart');

describe.concurrent('keybrake policy-check --explain (the CLI)', () => {
  const cli = (args: string[]): Promise<CliResult> => runKeybrake(['policy-check', QUICKSTART, ...args]);
  const charge = (amount: number) => [
    '--explain',
    '--key',
    'agents/support-bot-stripe',
    '--request',
    'POST /v1/charges',
    '--body',
    `amount=${amount}&currency=usd`,
  ];

  it('exits 0 and prints the explanation of an allowed request', async () => {
    const r = await cli(charge(500));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(
      /^POST \/v1\/charges with agents\/support-bot-stripe \(policy agents\/support-bot, stripe\)$/m,
    );
    expect(r.stdout).toMatch(/^decision {3}allow: /m);
    expect(r.stdout).toMatch(
      /^ {2}authorize +per-call +pass +\$5\.00 is within the per-call limit of \$50\.00$/m,
    );
  });

  it('exits 1 for a denied request, the first failure as the reason', async () => {
    const r = await cli(charge(6000));
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      'decision   deny (per_call_limit_exceeded): This call costs $60.00, over the per-call limit of $50.00.',
    );
  });

  it('prints one JSON object with --json', async () => {
    const r = await cli([...charge(6000), '--json', '--header', 'Keybrake-Run-Id: run-9']);
    expect(r.code).toBe(1);
    const e = JSON.parse(r.stdout);
    expect(e).toMatchObject({
      decision: 'deny',
      reason: 'per_call_limit_exceeded',
      operation: { id: 'stripe.charges.create', costUsd: '60.00' },
    });
    expect(e.steps).toContainEqual({
      stage: 'reserve',
      check: 'run',
      outcome: 'fail',
      reason: 'run_cap_exceeded',
      detail: 'This call alone ($60.00) is over the spend cap of this run of $25.00.',
    });
  });

  it.each<[string, string[], RegExp]>([
    [
      '--explain without --request',
      ['--explain', '--key', 'agents/support-bot-stripe'],
      /--explain needs --request/,
    ],
    ['--key without --explain', ['--key', 'agents/support-bot-stripe'], /--key needs --explain/],
    ['--body with --body-file', [...charge(1), '--body-file', 'x'], /not both/],
    // Tenth round: read to its end, /dev/zero grew without bound; a device is refused like a FIFO.
    [
      '--body-file on a device',
      [
        '--explain',
        '--key',
        'agents/support-bot-stripe',
        '--request',
        'POST /v1/charges',
        '--body-file',
        '/dev/null',
      ],
      /^keybrake policy-check: --body-file: not a regular file \(a character device\); give a file$/m,
    ],
    [
      'an unknown key',
      ['--explain', '--key', 'agents/nobody', '--request', 'GET /v1/balance'],
      /no VaultKey agents\/nobody/,
    ],
  ])('exits 2 on a usage error: %s', async (_name, args, message) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  // A new-user walkthrough: the text printed the quick start's vault token whole in its heading, the
  // route step and the parties, and --json three times; the proxy records its fingerprint.
  it.each([[[]], [['--json']]])('never prints the vault token a request carries (%j)', async (extra) => {
    const token = (await readFile(path.join(QUICKSTART, 'secrets.yaml'), 'utf8')).match(/kb_stripe_\w+/)![0];
    const r = await cli([
      '--explain',
      '--key',
      'agents/support-bot-stripe',
      '--request',
      `GET /v1/customers/${token}`,
      ...extra,
    ]);
    expect(r.code).toBe(1);
    expect(`${r.stdout}${r.stderr}`).not.toContain(token);
    expect(r.stdout).toContain(`/v1/customers/${fingerprint(token)}`);
  });

  it('lists every flag in --help', async () => {
    const r = await runKeybrake(['policy-check', '--help']);
    expect(r.code).toBe(0);
    for (const flag of Object.keys(POLICY_CHECK_FLAGS))
      expect(r.stdout).toMatch(new RegExp(`^ {2}--${flag}\\b`, 'm'));
    expect(r.stdout).toContain('--explain');
  });
});
