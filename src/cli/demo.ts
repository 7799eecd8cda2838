import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { systemClock } from '../clock.ts';
import { createCompileRunner } from '../compiler/runner.ts';
import { MemoryCounterStore } from '../counters/memory-store.ts';
import { startStripeEmulator } from '../emulators/stripe.ts';
import { parseUsd, USD_AMOUNT_RULE } from '../money/micro-usd.ts';
import { DEFAULT_PARSE_LIMITS } from '../proxy/defaults.ts';
import { startProxy } from '../proxy/runtime.ts';
import { DEFAULT_UPSTREAMS } from '../proxy/upstreams.ts';
import { createFileSource } from '../sources/file/source.ts';
import { memoryAuditSink } from '../telemetry/audit.ts';
import { silentLogger } from '../telemetry/logger.ts';
import { newToken } from '../tokens/token.ts';
import { createVendors } from '../vendors/registry.ts';
import { type Flags, parseFlags, UsageError } from './args.ts';

export const DEMO_SUMMARY =
  'Starts a local Stripe emulator and Keybrake in front of it, then lets a runaway "agent" charge a\n' +
  'card in a loop through the real stripe SDK. Watch the daily cap stop it, then read the audit trail.';

export const DEMO_FLAGS = {
  charges: {
    type: 'string',
    default: '80',
    help: 'how many times the agent tries to charge',
    placeholder: 'n',
  },
  amount: {
    type: 'string',
    default: '9.99',
    help: 'USD per charge, 0.50 to 999999.99 in whole cents',
    placeholder: 'usd',
  },
  cap: { type: 'string', default: '100', help: 'the daily cap in USD', placeholder: 'usd' },
  json: { type: 'boolean', help: 'print the raw audit records (JSON lines) instead of a table' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
} as const satisfies Flags;

const UPSTREAM_KEY = 'sk_test_keybrake_demo_upstream_key';

function manifests(token: string, cap: string): string {
  return `apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: demo-agent, namespace: demo }
spec:
  vendor: stripe
  limits: { perDayUsd: "${cap}", perCallUsd: "50" }
  allow:
    endpoints: ["POST /v1/charges", "GET /v1/**"]
    currencies: ["usd"]
---
apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: demo-agent-stripe, namespace: demo }
spec:
  vendor: stripe
  policyRef: { name: demo-agent }
  upstreamSecretRef: { name: stripe-upstream, key: apiKey }
  tokenSecretRef: { name: demo-agent-token, key: token }
---
apiVersion: v1
kind: Secret
metadata: { name: stripe-upstream, namespace: demo }
stringData: { apiKey: ${UPSTREAM_KEY} }
---
apiVersion: v1
kind: Secret
metadata: { name: demo-agent-token, namespace: demo }
stringData: { token: ${token} }
`;
}

/** Stripe's bounds on a USD charge, in cents ($0.50 and $999,999.99: eight digits). */
const MIN_CHARGE_CENTS = 50;
const MAX_CHARGE_CENTS = 99_999_999;
const CENTS_AMOUNT = /^(\d+)(?:\.(\d+))?$/;

/**
 * `--amount` in cents, each way it can be wrong named on its own (twelfth round): one message ("at
 * least 0.50") covered `1e3` and `99999999999` as well, and `10.123` was rounded to $10.12 without a
 * word. A charge is whole cents, so a third decimal is refused, not rounded.
 */
function amountCents(text: string): number {
  const m = CENTS_AMOUNT.exec(text);
  if (!m)
    throw new UsageError(
      `--amount must be a decimal USD amount such as 9.99 (digits and a point): ${JSON.stringify(text.slice(0, 32))}`,
    );
  const [, whole = '', fraction = ''] = m;
  if (fraction.length > 2)
    throw new UsageError(
      `--amount has more than two decimals (${text.slice(0, 32)}): a charge is whole cents, such as 10.12`,
    );
  const digits = whole.replace(/^0+(?=\d)/, '');
  const cents =
    digits.length > 6 ? Number.POSITIVE_INFINITY : Number(digits) * 100 + Number(fraction.padEnd(2, '0'));
  if (cents > MAX_CHARGE_CENTS)
    throw new UsageError("--amount must be at most 999999.99 (Stripe's largest USD charge)");
  if (cents < MIN_CHARGE_CENTS)
    throw new UsageError("--amount must be at least 0.50 (Stripe's smallest USD charge)");
  return cents;
}

/** A USD flag as written, without the surrounding whitespace parseUsd forgives. */
function usdFlag(text: string): number | undefined {
  return text === text.trim() ? parseUsd(text) : undefined;
}

export async function demo(
  argv: readonly string[],
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): Promise<number> {
  const { values } = parseFlags(argv, DEMO_FLAGS);
  // Decimal digits only, as the help writes them: read by Number(), `--charges 0x10` was 16 and
  // `--amount 1e1` $10 (seventh round).
  const charges = /^\d{1,5}$/.test(String(values.charges)) ? Number(values.charges) : 0;
  if (charges < 1 || charges > 10_000) throw new UsageError('--charges must be 1..10000');
  const cents = amountCents(String(values.amount));
  const cap = String(values.cap);
  if (usdFlag(cap) === undefined)
    throw new UsageError(`--cap must be a decimal USD amount such as 100 or 99.90: ${USD_AMOUNT_RULE}`);

  let Stripe: typeof import('stripe').default;
  try {
    Stripe = (await import('stripe')).default;
  } catch {
    throw new Error('the demo drives the real stripe SDK: run `npm ci` (it is a development dependency)');
  }

  // With --json stdout holds the audit records alone (JSON lines); the story goes to stderr.
  const story = values.json ? err : out;
  const say = (line = '') => story.write(`${line}\n`);
  const emulator = await startStripeEmulator({ validKeys: [UPSTREAM_KEY] });
  const dir = await mkdtemp(path.join(tmpdir(), 'keybrake-demo-'));
  const token = newToken('stripe');
  await writeFile(path.join(dir, 'demo.yaml'), manifests(token, cap));
  const log = silentLogger();
  const source = createFileSource([dir], { clock: systemClock, log, watch: false });
  const audit = memoryAuditSink();
  const counters = new MemoryCounterStore({ clock: systemClock });
  const proxy = await startProxy({
    vendorPorts: { stripe: { host: '127.0.0.1', port: 0 } },
    upstreams: { ...DEFAULT_UPSTREAMS, stripe: emulator.url },
    upstreamTimeoutMs: 10_000,
    vendors: createVendors(),
    counters,
    clock: systemClock,
    audit,
    log,
    parseLimits: DEFAULT_PARSE_LIMITS,
  });
  try {
    const runner = createCompileRunner({ clock: systemClock, refuseChangesWithErrors: true });
    runner.publishTo((o) => proxy.snapshots.apply(o.snapshot));
    runner.run(await source.start());
    const port = Number(new URL(proxy.urls.stripe!).port);
    const stripe = new Stripe(token, { host: '127.0.0.1', port, protocol: 'http', maxNetworkRetries: 0 });

    say(`Keybrake demo: an agent holding vault key ${token.slice(0, 10)}… (not the real Stripe key)`);
    say(`tries to charge $${(cents / 100).toFixed(2)} ${charges} times. Daily cap: $${cap}.`);
    say('');
    let allowed = 0;
    let firstDenial: string | undefined;
    for (let i = 1; i <= charges; i++) {
      try {
        const charge = await stripe.charges.create(
          { amount: cents, currency: 'usd', source: 'tok_visa', description: `runaway loop #${i}` },
          { headers: { 'Keybrake-Run-Id': 'demo-run-1' } },
        );
        allowed++;
        if (i <= 3 || i === charges) say(`  #${String(i).padStart(3)} charged   ${charge.id}`);
        else if (i === 4) say('  …');
      } catch (err) {
        const e = err as { type?: string; message?: string; code?: string };
        if (!firstDenial) {
          firstDenial = `${e.type}: ${e.message}`;
          say(`  #${String(i).padStart(3)} DENIED    ${e.type} (${e.code}): ${e.message}`);
        } else if (i === charges)
          say(`  #${String(i).padStart(3)} DENIED    (${charges - allowed} denials in all)`);
      }
    }
    say('');
    say(
      `Reached Stripe: ${emulator.requests.filter((r) => r.method === 'POST').length} charges, $${((allowed * cents) / 100).toFixed(2)}.`,
    );
    say(`Stopped by Keybrake: ${charges - allowed} charges, before they reached Stripe.`);
    const leaked = emulator.requests.some((r) => JSON.stringify(r).includes(token));
    say(`Vault token seen upstream: ${leaked ? 'YES (bug!)' : 'never'}; Stripe saw only the real key.`);
    say('');
    if (values.json) {
      for (const r of audit.records) out.write(`${JSON.stringify(r)}\n`);
    } else {
      say('Audit trail (one record per call; `keybrake serve` writes these as JSON lines on stdout):');
      const rows = audit.records;
      const show =
        rows.length <= 8
          ? rows
          : [...rows.slice(0, 3), ...rows.slice(allowed - 1, allowed + 2), ...rows.slice(-1)];
      say('  decision  reason              cost    upstream  run         path');
      let last = -1;
      for (const r of show) {
        const idx = rows.indexOf(r);
        if (last !== -1 && idx !== last + 1) say('  …');
        last = idx;
        say(
          `  ${r.decision.padEnd(8)}  ${r.reason.padEnd(18)}  ${r.costUsd.padStart(6)}  ${String(r.upstreamStatus ?? '-').padEnd(8)}  ${String(r.runId).padEnd(10)}  ${r.method} ${r.path}`,
        );
      }
    }
    return 0;
  } finally {
    source.close();
    await proxy.close();
    await counters.close();
    await emulator.close();
    await rm(dir, { recursive: true, force: true });
  }
}
