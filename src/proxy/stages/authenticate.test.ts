import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadExchangeRates } from '../../money/exchange-rates.ts';
import type { CompiledKey, CompiledPolicy, Snapshot } from '../../snapshot/types.ts';
import { fingerprint, newToken } from '../../tokens/token.ts';
import { createResendAdapter } from '../../vendors/resend/index.ts';
import { createStripeAdapter } from '../../vendors/stripe/index.ts';
import { createTwilioAdapter } from '../../vendors/twilio/index.ts';
import type { VendorAdapter } from '../../vendors/types.ts';
import { newContext, type PipelineDeps } from '../context.ts';
import { authenticate } from './authenticate.ts';

const TOKEN = 'kb_stripe_0123456789abcdef0123456789abcdef';
const adapter = createStripeAdapter({ rates: loadExchangeRates() });

function deps(policy: Partial<CompiledPolicy>, fields: Partial<CompiledKey> = {}): PipelineDeps {
  const key: CompiledKey = {
    uid: 'agents/bot',
    namespace: 'agents',
    name: 'bot',
    vendor: 'stripe',
    tokenFingerprint: 'kb_stripe_…cdef',
    upstream: { kind: 'bearer', token: 'sk_test_real' },
    suspended: false,
    policy: { ref: 'agents/p', limits: {}, timezone: 'UTC', readsWhenStoreDown: false, ...policy },
    ...fields,
  };
  const snapshot: Snapshot = {
    version: 1,
    compiledAt: 0,
    keys: new Map([[createHash('sha256').update(TOKEN).digest('hex'), key]]),
  };
  return { snapshots: { current: snapshot }, clock: { now: () => 0 } } as unknown as PipelineDeps;
}

function run(lines: [string, string][], policy: Partial<CompiledPolicy> = {}, url = '/v1/customers') {
  const raw = [['Authorization', `Bearer ${TOKEN}`] as [string, string], ...lines];
  const headers: Record<string, string> = {};
  for (const [n, v] of raw) headers[n.toLowerCase()] ??= v;
  const ctx = newContext({
    method: 'GET',
    url,
    headers,
    rawHeaders: raw.flat(),
    body: Buffer.alloc(0),
  });
  ctx.adapter = adapter;
  ctx.path = url.split('?', 1)[0]!;
  return { denial: authenticate(ctx, deps(policy)), ctx };
}

describe('authenticate: the agent run', () => {
  it('records the run id of the header', () => {
    const { denial, ctx } = run([['Keybrake-Run-Id', 'run-1']]);
    expect(denial).toBeUndefined();
    expect(ctx.runId).toBe('run-1');
  });

  it('records no run when none is named and the policy does not require one', () => {
    const { denial, ctx } = run([]);
    expect(denial).toBeUndefined();
    expect(ctx.runId).toBeNull();
  });

  it.each([
    [
      'given twice (node keeps one of them in its parsed headers)',
      [
        ['Keybrake-Run-Id', 'a'],
        ['Keybrake-Run-Id', 'b'],
      ],
    ],
    ['malformed', [['Keybrake-Run-Id', 'a b']]],
    [
      'disagreeing with baggage',
      [
        ['Keybrake-Run-Id', 'a'],
        ['baggage', 'keybrake.run_id=b'],
      ],
    ],
  ] as [string, [string, string][]][])(
    'refuses a run id %s, never treating it as "no run"',
    (_name, lines) => {
      expect(run(lines).denial).toMatchObject({ reason: 'run_id_invalid' });
    },
  );

  it('refuses a call naming no run when the policy requires one', () => {
    expect(run([], { requireRunId: true }).denial).toMatchObject({ reason: 'run_id_required' });
  });

  it.each([
    ['the header', [['Keybrake-Run-Id', 'run-1']]],
    ['baggage', [['baggage', 'keybrake.run_id=run-1']]],
  ] as [string, [string, string][]][])('lets a run named in %s satisfy requireRunId', (_name, lines) => {
    const { denial, ctx } = run(lines, { requireRunId: true });
    expect(denial).toBeUndefined();
    expect(ctx.runId).toBe('run-1');
  });

  it('records the run a call names when a later check of the stage refuses it', () => {
    const { denial, ctx } = run([
      ['Keybrake-Run-Id', 'run-1'],
      ['X-Custom', TOKEN],
    ]);
    expect(denial).toMatchObject({ reason: 'header_invalid' });
    expect(ctx.runId).toBe('run-1');
  });

  it('answers an invalid run id before requireRunId', () => {
    expect(run([['Keybrake-Run-Id', '']], { requireRunId: true }).denial).toMatchObject({
      reason: 'run_id_invalid',
    });
  });
});

// Second probe round: an agent pasting its own key into the target or a run id had it written to
// the audit stream, every span of the run, and (in the target) sent to the vendor.
describe('authenticate: the vault key itself outside Authorization', () => {
  it.each([
    ['in the path', `/v1/customers/${TOKEN}`],
    ['in the query', `/v1/customers?starting_after=${TOKEN}`],
  ])('refuses it %s, and records the path with its fingerprint only', (_name, url) => {
    const { denial, ctx } = run([], {}, url);
    expect(denial).toMatchObject({ reason: 'path_invalid' });
    expect(ctx.path).not.toContain(TOKEN);
  });

  it('refuses a run id that carries it', () => {
    const { denial, ctx } = run([['Keybrake-Run-Id', `run-${TOKEN}`]]);
    expect(denial).toMatchObject({ reason: 'run_id_invalid' });
    expect(ctx.runId).toBeNull();
  });
});

// Third probe round: a brought token (any shape) percent-encoded twice went through and was recorded;
// one in a header other than Authorization was sent to the vendor.
describe('authenticate: the presented token, encoded or in another header', () => {
  const twice = [...TOKEN].map((c) => `%25${c.charCodeAt(0).toString(16).toUpperCase()}`).join('');
  const thrice = twice.replaceAll('%25', '%2525');

  it.each([
    ['percent-encoded twice', `/v1/customers/${twice}`],
    ['percent-encoded three times', `/v1/customers/${thrice}`],
  ])('refuses it in the path %s, and records its fingerprint only', (_name, url) => {
    const { denial, ctx } = run([], {}, url);
    expect(denial).toMatchObject({ reason: 'path_invalid' });
    expect(ctx.path).toBe(`/v1/customers/${fingerprint(TOKEN)}`);
  });

  it.each([
    ['User-Agent', `agent/1.0 (${TOKEN})`],
    ['X-Custom', TOKEN],
    ['baggage', `tenant=${TOKEN},keybrake.run_id=run-1`],
    ['tracestate', `vendor=${TOKEN}`],
    ['Idempotency-Key', TOKEN],
    ['Idempotency-Key', newToken('stripe', { random: () => new Uint8Array(24).fill(3) })],
  ])('refuses it in %s as header_invalid, without echoing it', (name, value) => {
    const { denial } = run([[name, value]]);
    expect(denial).toMatchObject({ reason: 'header_invalid' });
    expect(JSON.stringify(denial)).not.toContain(TOKEN);
  });

  it('lets ordinary headers through', () => {
    expect(
      run([
        ['User-Agent', 'Stripe/v1 NodeBindings/17.0.0'],
        ['Idempotency-Key', 'order-1'],
      ]).denial,
    ).toBeUndefined();
  });
});

// Eighth round: an agent given the vendor's own key was told only "Unknown or malformed Keybrake vault
// key", and its operator went looking for a revoked or mistyped vault token.
describe('authenticate: a vendor key presented as the vault key', () => {
  const refusal = (vendor: VendorAdapter, authorization: string) => {
    const ctx = newContext({
      method: 'GET',
      url: '/v1/customers',
      headers: { authorization },
      rawHeaders: ['Authorization', authorization],
      body: Buffer.alloc(0),
    });
    ctx.adapter = vendor;
    ctx.path = '/v1/customers';
    return authenticate(ctx, deps({}));
  };
  const basic = (user: string, password: string) =>
    `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const twilio = createTwilioAdapter();
  const resend = createResendAdapter();
  const STRIPE_LIVE = `sk_live_${'51Hx9'.repeat(20)}`;
  const AUTH_TOKEN = '0123456789abcdef0123456789abcdef';

  it.each<[string, VendorAdapter, string, string, string]>([
    [
      'a Stripe secret key',
      adapter,
      `Bearer ${STRIPE_LIVE}`,
      STRIPE_LIVE,
      'a Stripe secret or restricted key',
    ],
    [
      'a Stripe test key as Basic user',
      adapter,
      basic('sk_test_abcdefghijklmnop', ''),
      'abcdefghijklmnop',
      'a Stripe secret or restricted key',
    ],
    [
      'a Stripe restricted key',
      adapter,
      `Bearer ${'rk_live'}_abcdefghijklmnop`, // in two pieces: no live-key-shaped string in the tree
      'abcdefghijklmnop',
      'a Stripe secret or restricted key',
    ],
    [
      'a Resend key',
      resend,
      'Bearer re_123456789_abcdefghijklmnop',
      '123456789_abcdefghijklmnop',
      'a Resend API key',
    ],
    [
      'a Twilio auth token',
      twilio,
      basic('AC0123456789abcdef0123456789abcdef', AUTH_TOKEN),
      AUTH_TOKEN,
      'a Twilio auth token',
    ],
    [
      'a Twilio account SID as password',
      twilio,
      basic('AC1', `AC${AUTH_TOKEN}`),
      AUTH_TOKEN,
      'a Twilio account SID',
    ],
  ])('says %s is the vendor key, never quoting it', (_name, vendor, authorization, secretPart, what) => {
    const denial = refusal(vendor, authorization);
    expect(denial).toEqual({
      reason: 'key_unknown',
      message: `Unknown or malformed Keybrake vault key. The credential presented has the shape of ${what}: give the agent the Keybrake vault token of its VaultKey (the Secret its tokenSecretRef names), never the vendor's own key.`,
    });
    expect(JSON.stringify(denial)).not.toContain(secretPart.slice(0, 8));
  });

  it('keeps the plain refusal of an unknown credential of no vendor shape', () => {
    // No message of its own: the registry's default one.
    expect(refusal(adapter, 'Bearer kb_stripe_0123456789abcdef0123456789abcdeX')).toMatchObject({
      reason: 'key_unknown',
      message: undefined,
    });
  });
});

// Ninth round: a valid kb_stripe_ token on the Resend listener was "Unknown or malformed Keybrake vault
// key.", and its holder went looking for a typo.
describe('authenticate: a vault key of another vendor', () => {
  it('says whose key it is and where its calls go, records no key, and quotes no token', () => {
    const ctx = newContext({
      method: 'GET',
      url: '/emails/em_1',
      headers: { authorization: `Bearer ${TOKEN}` },
      rawHeaders: ['Authorization', `Bearer ${TOKEN}`],
      body: Buffer.alloc(0),
    });
    ctx.adapter = createResendAdapter();
    ctx.path = '/emails/em_1';
    const denial = authenticate(ctx, deps({}));
    expect(denial).toEqual({
      reason: 'key_unknown',
      message:
        "This Keybrake vault key is for stripe, not resend: send its calls to Keybrake's stripe listener (--vendor-port), or under /stripe/ on the prefix router (--listen).",
    });
    expect(JSON.stringify(denial)).not.toContain(TOKEN.slice(10));
    expect(ctx.key).toBeNull();
  });
});

// Ninth round: "This Keybrake vault key has expired." said neither when nor by which expiresAt.
describe('authenticate: an expired vault key', () => {
  it('says when it expired, records the key, and quotes no token', () => {
    const ctx = newContext({
      method: 'GET',
      url: '/v1/customers',
      headers: { authorization: `Bearer ${TOKEN}` },
      rawHeaders: ['Authorization', `Bearer ${TOKEN}`],
      body: Buffer.alloc(0),
    });
    ctx.adapter = adapter;
    ctx.path = '/v1/customers';
    const denial = authenticate(ctx, deps({}, { expiresAt: -86_400_000 }));
    expect(denial).toEqual({
      reason: 'key_expired',
      message:
        "This Keybrake vault key expired at 1969-12-31T00:00:00.000Z (the earlier of its VaultKey's and its SpendPolicy's expiresAt).",
    });
    expect(JSON.stringify(denial)).not.toContain(TOKEN.slice(10));
    expect(ctx.key?.name).toBe('bot');
  });
});
