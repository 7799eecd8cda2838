// Stripe end to end: the real stripe-node SDK → `keybrake serve` (the real CLI, a child process) →
// stripe-mock, Stripe's own mock answering from Stripe's own API definition, behind a recording relay
// (`atStripe`) that shows exactly what reached "Stripe". What a user of Keybrake relies on: allowed
// calls arrive unchanged with the real key, every denial is a typed stripe-node error that never
// reaches Stripe, caps hold exactly, retries are counted once, file edits take effect live, bad input
// is refused, audit and metrics tell the truth, and no secret ever leaks.
//
// stripe-mock is stateless (it validates each request against the definition and answers from
// fixtures). The in-repo emulator (src/emulators/stripe.ts) stays for what only a stateful upstream
// can show: an idempotent replay of the same charge, and a card decline (failure injection); see
// "behaviour that needs Stripe's state".
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StripeEmulator, startStripeEmulator } from '../../src/emulators/stripe.ts';
import { newToken } from '../../src/tokens/token.ts';
import { type KeybrakeProcess, manifestDir, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { type RecordingRelay, startRecordingRelay } from '../env/recording-relay.ts';
import { saveFile } from '../env/save-file.ts';
import { type StripeMock, startStripeMock } from '../env/stripe-mock.ts';
import { type Failure, type FlakyUpstream, startFlakyUpstream } from './fixtures/flaky-upstream.ts';
import {
  bodyOf,
  metricValue,
  type RawRequest,
  type RawResponse,
  rawHttp,
  tapAgent,
} from './fixtures/http.ts';
import {
  type Allow,
  type Limits,
  secret,
  spendPolicy,
  stripeKey,
  vaultKey,
  yamlDocuments,
} from './fixtures/stripe-manifests.ts';

const UPSTREAM_KEY = `sk_test_e2e${randomBytes(12).toString('hex')}`;
const AUDIT_FIELDS = [
  'costUsd',
  'decision',
  'durationMs',
  'event',
  'method',
  'operation',
  'path',
  'reason',
  'runId',
  'traceId',
  'upstreamRequestId',
  'upstreamStatus',
  'ts',
  'vaultKey',
  'vendor',
].sort();

type KeyShape = { limits?: Limits; allow?: Allow; suspended?: boolean; expiresAt?: string };

/** The keys of the main process: one policy each, so every test owns its counters. */
const MAIN_KEYS = {
  shop: {
    limits: { perCallUsd: '50', perDayUsd: '1000' },
    allow: {
      endpoints: [
        'POST /v1/charges',
        'POST /v1/payment_intents',
        'POST /v1/customers',
        'POST /v1/refunds',
        'GET /v1/**',
      ],
      currencies: ['usd', 'eur'],
    },
  },
  suspended: { suspended: true },
  expired: { expiresAt: '2020-01-01T00:00:00Z' },
  members: { allow: { customers: ['cus_member1'] } },
  daily: { limits: { perDayUsd: '100' } },
  run: { limits: { perRunUsd: '25' } },
  monthly: { limits: { perMonthUsd: '30' } },
  rate: { limits: { requestsPerMinute: 3 } },
  open: {},
  refunds: {
    limits: { perCallUsd: '30' },
    allow: { endpoints: ['POST /v1/charges', 'POST /v1/refunds', 'GET /v1/**'] },
  },
  /** A per-call limit under stripe-mock's charge fixture ($1.00). */
  tight: {
    limits: { perCallUsd: '0.50' },
    allow: { endpoints: ['POST /v1/refunds', 'GET /v1/**'] },
  },
  metered: { limits: { perDayUsd: '20' } },
} satisfies Record<string, KeyShape>;

/** Keys of the process in front of the stateful emulator. */
const EMULATOR_KEYS = {
  idem: { limits: { perDayUsd: '10' } },
  declines: { limits: { perDayUsd: '10' } },
} satisfies Record<string, KeyShape>;

const RETRY_KEYS = {
  retry500: { limits: { perDayUsd: '10' } },
  retrydrop: { limits: { perDayUsd: '10' } },
  once: { limits: { perCallUsd: '5' } },
} satisfies Record<string, KeyShape>;

const tokens: Record<string, string> = {};
for (const name of [
  ...Object.keys(MAIN_KEYS),
  ...Object.keys(EMULATOR_KEYS),
  ...Object.keys(RETRY_KEYS),
  'hot',
])
  tokens[name] = newToken('stripe');
const token = (name: string) => tokens[name]!;
const strangerToken = newToken('stripe');

let mock: StripeMock;
/** Every request that reached stripe-mock, as it arrived. */
let atStripe: RecordingRelay;
/** stripe-node straight to stripe-mock, to ask Stripe's definition what it answers. */
let direct: Stripe;
let emulator: StripeEmulator;
const processes: KeybrakeProcess[] = [];
const relays: FlakyUpstream[] = [];
/** Every byte stripe-node received, and every raw response: for the leak checks at the end. */
const tap = tapAgent();
const rawResponses: RawResponse[] = [];

beforeAll(async () => {
  mock = await startStripeMock();
  atStripe = await startRecordingRelay(mock.url);
  direct = new Stripe(UPSTREAM_KEY, { host: '127.0.0.1', port: mock.port, protocol: 'http' });
  emulator = await startStripeEmulator({ validKeys: [UPSTREAM_KEY] });
});

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  await Promise.all(relays.map((r) => r.close()));
  await emulator?.close();
  await atStripe?.close();
  await mock?.stop();
  tap.agent.destroy();
});

async function serve(dir: string, extra: string[] = [], upstream?: string): Promise<KeybrakeProcess> {
  const kb = await startKeybrake([...serveArgs(dir, { stripe: upstream ?? atStripe.url }), ...extra]);
  processes.push(kb);
  return kb;
}

async function keyFiles(keys: Record<string, KeyShape>) {
  const files: Record<string, string> = {};
  for (const [name, shape] of Object.entries(keys)) {
    files[`${name}.yaml`] = yamlDocuments(
      ...stripeKey({ name, token: token(name), upstreamKey: UPSTREAM_KEY, ...shape }),
    );
  }
  return manifestDir(files);
}

const portOf = (kb: KeybrakeProcess) => Number(new URL(kb.urls.stripe!).port);

function stripeFor(kb: KeybrakeProcess, key: string, config: Partial<Stripe.StripeConfig> = {}): Stripe {
  return new Stripe(key, {
    host: '127.0.0.1',
    port: portOf(kb),
    protocol: 'http',
    maxNetworkRetries: 0,
    httpAgent: tap.agent,
    ...config,
  });
}

type StripeErr = InstanceType<typeof Stripe.errors.StripeError>;

async function failure(call: Promise<unknown>): Promise<StripeErr> {
  try {
    await call;
  } catch (err) {
    if (err instanceof Stripe.errors.StripeError) return err;
    throw err;
  }
  throw new Error('expected the call to be refused');
}

async function raw(baseUrl: string, req: RawRequest): Promise<RawResponse> {
  const res = await rawHttp(baseUrl, req);
  rawResponses.push(res);
  return res;
}

/** A W3C traceparent whose trace id names one call in the audit stream. */
function traced(): { traceId: string; traceparent: string } {
  const traceId = randomBytes(16).toString('hex');
  return { traceId, traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` };
}

const usd = (dollars: number, extra: Record<string, unknown> = {}) => ({
  amount: Math.round(dollars * 100),
  currency: 'usd',
  source: 'tok_visa',
  ...extra,
});

/** Adds parameters Stripe accepts but this SDK version's types do not list. */
const withExtra = <T extends object>(params: T, extra: Record<string, unknown>): T => ({
  ...params,
  ...extra,
});

describe('keybrake serve between stripe-node and Stripe', () => {
  let kb: KeybrakeProcess;
  let dir: Awaited<ReturnType<typeof manifestDir>>;
  const MAX_BODY = 32 * 1024;

  beforeAll(async () => {
    dir = await keyFiles(MAIN_KEYS);
    kb = await serve(dir.dir, ['--max-body', String(MAX_BODY)]);
  });
  afterAll(async () => {
    await dir?.remove();
  });

  describe('allowed calls', () => {
    type Opts = {
      idempotencyKey: string;
      apiVersion: string;
      headers: Record<string, string>;
    };
    it.each<
      [
        string,
        (s: Stripe, o: Opts) => Promise<{ lastResponse: Stripe.Response<object>['lastResponse'] }>,
        string,
        string,
        string | undefined,
      ]
    >([
      [
        'a PaymentIntent with metadata and a list',
        (s, o) =>
          s.paymentIntents.create(
            withExtra(
              { amount: 2000, currency: 'usd', metadata: { tier: 'gold' } },
              { payment_method_types: ['card'] },
            ),
            o,
          ),
        'POST',
        '/v1/payment_intents',
        'amount=2000&currency=usd&metadata[tier]=gold&payment_method_types[0]=card',
      ],
      [
        'a charge with a non-ASCII description',
        (s, o) => s.charges.create(usd(15, { currency: 'eur', description: 'Order #42 – café & co' }), o),
        'POST',
        '/v1/charges',
        undefined,
      ],
      [
        'a customer',
        (s, o) => s.customers.create({ email: 'ada@example.com', name: 'Ada Lovelace' }, o),
        'POST',
        '/v1/customers',
        undefined,
      ],
      [
        'a list read',
        (s, { idempotencyKey: _none, ...o }) => s.customers.list({ limit: 3 }, o),
        'GET',
        '/v1/customers?limit=3',
        '',
      ],
    ])(
      '%s arrives upstream unchanged, with the real key and not the vault token',
      async (_name, call, method, target, literal) => {
        const stripe = stripeFor(kb, token('shop'));
        const opts: Opts = {
          idempotencyKey: `e2e-${randomBytes(6).toString('hex')}`,
          apiVersion: '2024-06-20',
          headers: { 'Keybrake-Run-Id': 'run-allowed' },
        };
        const before = atStripe.requests.length;
        tap.clear();
        const res = await call(stripe, opts);
        const sentBody = bodyOf(tap.sent());

        expect(atStripe.requests.length).toBe(before + 1);
        const got = atStripe.requests.at(-1)!;
        expect(`${got.method} ${got.path}`).toBe(`${method} ${target}`);
        expect(got.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
        expect(got.body).toBe(sentBody);
        if (literal !== undefined) expect(got.body).toBe(literal);
        expect(got.headers['stripe-version']).toBe('2024-06-20');
        expect(got.headers['idempotency-key']).toBe(method === 'POST' ? opts.idempotencyKey : undefined);
        expect(got.headers['keybrake-run-id']).toBeUndefined();
        expect(res.lastResponse.headers['keybrake-decision']).toBe('allow; reason=ok');
        expect(res.lastResponse.requestId).toMatch(/^req_/);
      },
    );

    it('also answers on the main listener under the /stripe prefix', async () => {
      const before = atStripe.requests.length;
      const res = await raw(kb.urls.main!, {
        method: 'POST',
        target: '/stripe/v1/customers',
        headers: {
          Authorization: `Bearer ${token('shop')}`,
          'Content-Type': 'application/x-www-form-urlencoded',
        },
        body: 'email=prefix%40example.com',
      });
      expect(res.status).toBe(200);
      expect(res.headers['keybrake-decision']).toBe('allow; reason=ok');
      expect(JSON.parse(res.body)).toMatchObject({ object: 'customer', email: 'prefix@example.com' });
      expect(atStripe.requests.slice(before).map((r) => `${r.method} ${r.path}`)).toEqual([
        'POST /v1/customers',
      ]);
    });
  });

  describe('denials: a typed stripe-node error, and nothing reaches Stripe', () => {
    const E = Stripe.errors;
    const nested = (depth: number): Record<string, unknown> =>
      depth === 0 ? { x: '1' } : { a: nested(depth - 1) };
    it.each<
      [
        string,
        string,
        (s: Stripe) => Promise<unknown>,
        typeof Stripe.errors.StripeError,
        number,
        string,
        string,
      ]
    >([
      [
        'an unknown vault key',
        'stranger',
        (s) => s.charges.create(usd(10)),
        E.StripeAuthenticationError,
        401,
        'key_unknown',
        'Unknown or malformed Keybrake vault key.',
      ],
      [
        'a suspended key',
        'suspended',
        (s) => s.charges.create(usd(10)),
        E.StripeAuthenticationError,
        401,
        'key_suspended',
        'suspended',
      ],
      [
        'an expired key',
        'expired',
        (s) => s.customers.list(),
        E.StripeAuthenticationError,
        401,
        'key_expired',
        'expired',
      ],
      [
        'an endpoint outside the allowlist',
        'shop',
        (s) => s.payouts.create({ amount: 1000, currency: 'usd' }),
        E.StripePermissionError,
        403,
        'endpoint_not_allowed',
        "POST /v1/payouts is not in this key's endpoint allowlist.",
      ],
      [
        'a customer outside the allowlist',
        'members',
        (s) => s.charges.create(usd(10, { customer: 'cus_stranger' })),
        E.StripePermissionError,
        403,
        'customer_not_allowed',
        "Customer cus_stranger is not in this key's customer allowlist.",
      ],
      [
        'a charge that names no customer while a customer allowlist is set',
        'members',
        (s) => s.charges.create(usd(10)),
        E.StripePermissionError,
        403,
        'customer_not_allowed',
        'names none',
      ],
      [
        'a currency outside the allowlist',
        'shop',
        (s) => s.charges.create(usd(10, { currency: 'gbp' })),
        E.StripePermissionError,
        403,
        'currency_not_allowed',
        "Currency gbp is not allowed by this key's policy.",
      ],
      [
        'a charge over the per-call limit',
        'shop',
        (s) => s.charges.create(usd(60)),
        E.StripePermissionError,
        403,
        'per_call_limit_exceeded',
        'This call costs $60.00, over the per-call limit of $50.00.',
      ],
      [
        'an unknown money-moving endpoint (rawRequest)',
        'open',
        (s) =>
          s.rawRequest('POST', '/v1/issuing/cards', {
            cardholder: 'ich_1',
            currency: 'usd',
            type: 'virtual',
          }),
        E.StripePermissionError,
        403,
        'price_unknown',
        'POST /v1/issuing/cards is stripe.issuing.cards.create, which Keybrake cannot price',
      ],
      [
        'a refund that names neither charge nor payment_intent',
        'shop',
        (s) => s.refunds.create({ amount: 500 }),
        E.StripePermissionError,
        403,
        'price_unknown',
        'A refund must name a "charge" or a "payment_intent" for Keybrake to price it.',
      ],
      [
        'a body nested deeper than the limit',
        'shop',
        (s) => s.customers.create({ metadata: nested(8) as never }),
        E.StripeInvalidRequestError,
        400,
        'body_invalid',
        'levels deep; the limit is 8',
      ],
      [
        'an amount that is not a whole number',
        'shop',
        (s) => s.charges.create({ amount: 10.5, currency: 'usd', source: 'tok_visa' }),
        E.StripeInvalidRequestError,
        400,
        'body_invalid',
        'must be a non-negative integer amount',
      ],
    ])('refuses %s', async (_name, key, call, cls, status, reason, message) => {
      const stripe = stripeFor(kb, key === 'stranger' ? strangerToken : token(key));
      const before = atStripe.requests.length;
      const err = await failure(call(stripe));
      expect(err).toBeInstanceOf(cls);
      expect(err.statusCode).toBe(status);
      expect(err.code).toBe(reason);
      expect(err.message).toContain(message);
      expect(err.headers?.['keybrake-decision']).toBe(`deny; reason=${reason}`);
      expect(err.headers?.['stripe-should-retry']).toBe('false');
      expect(atStripe.requests.length).toBe(before);
    });

    it('holds a $100 daily cap exactly: ten $10 charges pass, the eleventh is refused', async () => {
      const stripe = stripeFor(kb, token('daily'));
      const before = atStripe.requests.length;
      for (let i = 0; i < 10; i++) await stripe.charges.create(usd(10));
      const err = await failure(stripe.charges.create(usd(10)));
      expect(err).toBeInstanceOf(Stripe.errors.StripePermissionError);
      expect(err.code).toBe('daily_cap_exceeded');
      expect(err.message).toBe(
        'Keybrake: daily spend cap of $100.00 would be exceeded ($100.00 used, this call $10.00).',
      );
      expect(atStripe.requests.length).toBe(before + 10);
      // A smaller call does not squeeze in either: the cap is spent to the cent.
      expect((await failure(stripe.charges.create(usd(0.5)))).code).toBe('daily_cap_exceeded');
    });

    it('holds a run cap per Keybrake-Run-Id: another run still has its own budget', async () => {
      const stripe = stripeFor(kb, token('run'));
      const inRun = (id: string) => ({ headers: { 'Keybrake-Run-Id': id } });
      await stripe.charges.create(usd(10), inRun('run-a'));
      await stripe.charges.create(usd(10), inRun('run-a'));
      const before = atStripe.requests.length;
      const err = await failure(stripe.charges.create(usd(10), inRun('run-a')));
      expect(err).toBeInstanceOf(Stripe.errors.StripePermissionError);
      expect(err.code).toBe('run_cap_exceeded');
      expect(atStripe.requests.length).toBe(before);
      const other = await stripe.charges.create(usd(10), inRun('run-b'));
      expect(other.lastResponse.headers['keybrake-decision']).toBe('allow; reason=ok');
      const viaBaggage = await failure(
        stripe.charges.create(usd(20), { headers: { baggage: 'keybrake.run_id=run-b' } }),
      );
      expect(viaBaggage.code).toBe('run_cap_exceeded');
    });

    it('holds a monthly cap', async () => {
      const stripe = stripeFor(kb, token('monthly'));
      await stripe.charges.create(usd(20));
      const before = atStripe.requests.length;
      const err = await failure(stripe.charges.create(usd(20)));
      expect(err).toBeInstanceOf(Stripe.errors.StripePermissionError);
      expect(err.code).toBe('monthly_cap_exceeded');
      expect(err.message).toContain('monthly spend cap of $30.00');
      expect(atStripe.requests.length).toBe(before);
    });

    it('rate-limits a key past requestsPerMinute with StripeRateLimitError (429), retryable', async () => {
      // Keep the four calls inside one fixed minute window.
      const deadline = Date.now() + 10_000;
      while (Date.now() % 60_000 > 55_000 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      const stripe = stripeFor(kb, token('rate'));
      for (let i = 0; i < 3; i++) await stripe.customers.list({ limit: 1 });
      const before = atStripe.requests.length;
      const err = await failure(stripe.customers.list({ limit: 1 }));
      expect(err).toBeInstanceOf(Stripe.errors.StripeRateLimitError);
      expect(err.statusCode).toBe(429);
      expect(err.code).toBe('rate_limited');
      expect(err.headers?.['stripe-should-retry']).toBeUndefined();
      expect(atStripe.requests.length).toBe(before);
    });

    it('refuses a body over --max-body with 413 body_too_large, and admits one just under it', async () => {
      const send = (bytes: number) =>
        raw(kb.urls.stripe!, {
          method: 'POST',
          target: '/v1/customers',
          headers: {
            Authorization: `Bearer ${token('shop')}`,
            'Content-Type': 'application/x-www-form-urlencoded',
          },
          body: `description=${'x'.repeat(bytes - 'description='.length)}`,
        });
      const before = atStripe.requests.length;
      const big = await send(MAX_BODY + 1);
      expect(big.status).toBe(413);
      expect(big.headers['keybrake-decision']).toBe('deny; reason=body_too_large');
      expect(JSON.parse(big.body)).toEqual({
        error: {
          type: 'invalid_request_error',
          code: 'body_too_large',
          message: `The request body exceeds ${MAX_BODY} bytes.`,
        },
      });
      expect(atStripe.requests.length).toBe(before);
      const fits = await send(MAX_BODY);
      expect(fits.status).toBe(200);
      expect(atStripe.requests.length).toBe(before + 1);
    });

    it('answers an unknown prefix on the main listener with 404 route_unknown', async () => {
      const before = atStripe.requests.length;
      const res = await raw(kb.urls.main!, {
        method: 'POST',
        target: '/paypal/v1/payments',
        headers: { Authorization: `Bearer ${token('shop')}` },
        body: 'amount=1',
      });
      expect(res.status).toBe(404);
      expect(res.headers['keybrake-decision']).toBe('deny; reason=route_unknown');
      expect(JSON.parse(res.body)).toMatchObject({
        error: { type: 'invalid_request_error', code: 'route_unknown' },
      });
      expect(atStripe.requests.length).toBe(before);
    });
  });

  describe('pricing by lookup and settling', () => {
    // stripe-mock answers every charge lookup from its fixture, so the refundable amount is whatever
    // Stripe's definition says the charge is: asked straight from stripe-mock, not assumed.
    const refundable = async (id: string) => {
      const charge = await direct.charges.retrieve(id);
      return charge.amount - charge.amount_refunded;
    };
    const dollars = (cents: number) => (cents / 100).toFixed(2);

    it('prices a refund without amount from the charge it refunds', async () => {
      const cents = await refundable('ch_1');
      expect(cents).toBeGreaterThan(0);
      const stripe = stripeFor(kb, token('refunds'));
      const before = atStripe.requests.length;
      const { traceId, traceparent } = traced();
      // `reason` is an ordinary Stripe parameter: it must not be mistaken for anything of ours.
      const refund = await stripe.refunds.create(
        { charge: 'ch_1', reason: 'requested_by_customer' },
        { headers: { traceparent } },
      );
      expect(refund.lastResponse.headers['keybrake-decision']).toBe('allow; reason=ok');
      // Keybrake's own read of the key's account, once per key (its leases' account, ADR 0007 §5) left out.
      const seen = atStripe.requests.slice(before).filter((r) => r.path !== '/v1/account');
      expect(seen.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /v1/charges/ch_1', 'POST /v1/refunds']);
      expect(seen[0]!.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
      const audit = await kb.waitForAudit((r) => r.traceId === traceId);
      expect(audit).toMatchObject({
        operation: 'stripe.refunds.create',
        costUsd: dollars(refund.amount),
        decision: 'allow',
      });
      expect(refund.amount).toBe(cents);
    });

    it('refuses a refund whose looked-up amount is over the per-call limit: only the lookup reaches Stripe', async () => {
      const cents = await refundable('ch_1');
      expect(cents).toBeGreaterThan(50); // over the tight key's $0.50
      const stripe = stripeFor(kb, token('tight'));
      const before = atStripe.requests.length;
      const err = await failure(stripe.refunds.create({ charge: 'ch_1' }));
      expect(err).toBeInstanceOf(Stripe.errors.StripePermissionError);
      expect(err.code).toBe('per_call_limit_exceeded');
      // The amount is the charge's, as Keybrake read it: not quoted (tenth round, a lookup oracle).
      expect(err.message).toBe(
        'The amount of the object this call acts on (which Keybrake read to price it) is over the per-call limit of $0.50.',
      );
      expect(err.message).not.toContain(dollars(cents));
      expect(atStripe.requests.slice(before).map((r) => `${r.method} ${r.path}`)).toEqual([
        'GET /v1/charges/ch_1',
      ]);
    });
  });

  describe('path tricks and bad input: refused in Stripe shape, never forwarded', () => {
    const form = { 'Content-Type': 'application/x-www-form-urlencoded' };
    const bearer = (t: string) => ({ Authorization: `Bearer ${t}`, ...form });
    const charge = 'amount=1000&currency=usd&source=tok_visa';
    it.each<[string, () => RawRequest, number, string]>([
      [
        'a dot-dot segment',
        () => ({ method: 'POST', target: '/v1/../v1/charges', headers: bearer(token('shop')), body: charge }),
        400,
        'path_invalid',
      ],
      [
        'an encoded slash',
        () => ({ method: 'POST', target: '/v1%2Fcharges', headers: bearer(token('shop')), body: charge }),
        400,
        'path_invalid',
      ],
      [
        'an encoded dot-dot',
        () => ({ method: 'GET', target: '/v1/%2e%2e/v1/charges', headers: bearer(token('shop')) }),
        400,
        'path_invalid',
      ],
      [
        'an absolute-form target',
        () => ({ method: 'GET', target: 'http://evil.example/v1/charges', headers: bearer(token('shop')) }),
        400,
        'path_invalid',
      ],
      [
        'a double slash inside the path',
        () => ({ method: 'POST', target: '/v1//charges', headers: bearer(token('shop')), body: charge }),
        400,
        'path_invalid',
      ],
      [
        '"Bearer" without a token',
        () => ({
          method: 'POST',
          target: '/v1/charges',
          headers: { Authorization: 'Bearer', ...form },
          body: charge,
        }),
        401,
        'key_unknown',
      ],
      [
        'a malformed Basic credential',
        () => ({
          method: 'POST',
          target: '/v1/charges',
          headers: { Authorization: 'Basic !!!', ...form },
          body: charge,
        }),
        401,
        'key_unknown',
      ],
      [
        'no Authorization header',
        () => ({ method: 'POST', target: '/v1/charges', headers: form, body: charge }),
        401,
        'key_unknown',
      ],
      [
        'an unknown token',
        () => ({ method: 'POST', target: '/v1/charges', headers: bearer(newToken('stripe')), body: charge }),
        401,
        'key_unknown',
      ],
      [
        'the real upstream key presented as a vault key',
        () => ({ method: 'POST', target: '/v1/charges', headers: bearer(UPSTREAM_KEY), body: charge }),
        401,
        'key_unknown',
      ],
      [
        'a malformed percent-encoding',
        () => ({
          method: 'POST',
          target: '/v1/charges',
          headers: bearer(token('shop')),
          body: `${charge}&description=%zz`,
        }),
        400,
        'body_invalid',
      ],
      [
        'nesting deeper than the limit',
        () => ({
          method: 'POST',
          target: '/v1/charges',
          headers: bearer(token('shop')),
          body: `${charge}&metadata${'[a]'.repeat(9)}=1`,
        }),
        400,
        'body_invalid',
      ],
      [
        'a __proto__ key',
        () => ({
          method: 'POST',
          target: '/v1/charges',
          headers: bearer(token('shop')),
          body: `${charge}&__proto__[admin]=1`,
        }),
        400,
        'body_invalid',
      ],
      [
        'a nested __proto__ key',
        () => ({
          method: 'POST',
          target: '/v1/charges',
          headers: bearer(token('shop')),
          body: `${charge}&metadata[__proto__][x]=1`,
        }),
        400,
        'body_invalid',
      ],
      [
        'a POST with parameters in the query string',
        () => ({
          method: 'POST',
          target: '/v1/payment_intents?confirm=true',
          headers: bearer(token('shop')),
          body: 'amount=1000&currency=usd',
        }),
        400,
        'body_invalid',
      ],
      [
        'a JSON body',
        () => ({
          method: 'POST',
          target: '/v1/charges',
          headers: { Authorization: `Bearer ${token('shop')}`, 'Content-Type': 'application/json' },
          body: '{"amount":1000}',
        }),
        400,
        'body_invalid',
      ],
    ])('refuses %s', async (_name, build, status, reason) => {
      const before = atStripe.requests.length;
      const res = await raw(kb.urls.stripe!, build());
      expect(res.status).toBe(status);
      expect(res.headers['keybrake-decision']).toBe(`deny; reason=${reason}`);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      const body = JSON.parse(res.body) as { error: Record<string, unknown> };
      expect(Object.keys(body)).toEqual(['error']);
      expect(body.error).toMatchObject({ type: 'invalid_request_error', code: reason });
      expect(typeof body.error.message).toBe('string');
      expect(atStripe.requests.length).toBe(before);
    });

    it('keeps serving after all of that', async () => {
      expect(kb.child.exitCode).toBeNull();
      const charge = await stripeFor(kb, token('shop')).charges.create(usd(1));
      expect(charge.lastResponse.headers['keybrake-decision']).toBe('allow; reason=ok');
    });
  });

  describe('audit records', () => {
    it.each<
      [
        string,
        string,
        (s: Stripe, o: { headers: Record<string, string> }) => Promise<unknown>,
        Record<string, unknown>,
      ]
    >([
      [
        'an allowed charge',
        'shop',
        (s, o) => s.charges.create(usd(12.34), o),
        {
          vaultKey: 'agents/shop',
          method: 'POST',
          path: '/v1/charges',
          operation: 'stripe.charges.create',
          decision: 'allow',
          reason: 'ok',
          costUsd: '12.34',
          upstreamStatus: 200,
        },
      ],
      [
        'a denied charge',
        'shop',
        (s, o) => s.charges.create(usd(99), o),
        {
          vaultKey: 'agents/shop',
          operation: 'stripe.charges.create',
          decision: 'deny',
          reason: 'per_call_limit_exceeded',
          costUsd: '0.00',
          upstreamStatus: null,
          upstreamRequestId: null,
        },
      ],
      [
        'a read with a query string',
        'shop',
        (s, o) => s.customers.list({ limit: 2 }, o),
        {
          method: 'GET',
          path: '/v1/customers',
          operation: 'stripe.customers.list',
          decision: 'allow',
          costUsd: '0.00',
          upstreamStatus: 200,
        },
      ],
      [
        'an unauthenticated call',
        'stranger',
        (s, o) => s.charges.create(usd(1), o),
        { vaultKey: null, operation: null, runId: null, decision: 'deny', reason: 'key_unknown' },
      ],
    ])(
      'writes exactly one line with exactly the contract fields for %s',
      async (_name, key, call, expected) => {
        const stripe = stripeFor(kb, key === 'stranger' ? strangerToken : token(key));
        const { traceId, traceparent } = traced();
        const runId = `audit-${randomBytes(4).toString('hex')}`;
        const started = Date.now();
        const result = await call(stripe, { headers: { traceparent, 'Keybrake-Run-Id': runId } }).catch(
          (err: unknown) => err,
        );
        const record = await kb.waitForAudit((r) => r.traceId === traceId);
        expect(Object.keys(record).sort()).toEqual(AUDIT_FIELDS);
        expect(record).toMatchObject({
          event: 'keybrake.call',
          vendor: 'stripe',
          traceId,
          runId,
          ...expected,
        });
        expect(Date.parse(record.ts as string)).toBeGreaterThanOrEqual(started - 1000);
        expect(record.durationMs).toBeTypeOf('number');
        expect(record.durationMs).toBeGreaterThanOrEqual(0);
        if (record.upstreamStatus !== null) {
          const requestId = (result as { lastResponse: { requestId: string } }).lastResponse.requestId;
          expect(record.upstreamRequestId).toBe(requestId);
          expect(requestId).toMatch(/^req_/);
        }
        // Records are written in order: once a later call's line is in, a duplicate would be too.
        const marker = traced();
        await stripeFor(kb, token('shop')).customers.list(
          { limit: 1 },
          { headers: { traceparent: marker.traceparent } },
        );
        await kb.waitForAudit((r) => r.traceId === marker.traceId);
        expect(kb.audit.filter((r) => r.traceId === traceId)).toHaveLength(1);
      },
    );
  });

  describe('admin listener', () => {
    it('exports calls by decision and reason, spend per key, overhead and the snapshot version', async () => {
      const stripe = stripeFor(kb, token('metered'));
      await stripe.charges.create(usd(10));
      await stripe.charges.create(usd(10));
      const { traceId, traceparent } = traced();
      expect((await failure(stripe.charges.create(usd(10), { headers: { traceparent } }))).code).toBe(
        'daily_cap_exceeded',
      );
      await kb.waitForAudit((r) => r.traceId === traceId);
      const res = await fetch(`${kb.urls.admin}/metrics`);
      expect(res.status).toBe(200);
      const text = await res.text();
      const capDenials = kb.audit.filter((r) => r.reason === 'daily_cap_exceeded').length;
      expect(capDenials).toBeGreaterThanOrEqual(1);
      expect(
        metricValue(text, 'keybrake_calls_total', {
          vendor: 'stripe',
          decision: 'deny',
          reason: 'daily_cap_exceeded',
        }),
      ).toBe(capDenials);
      const allowed = kb.audit.filter((r) => r.vendor === 'stripe' && r.decision === 'allow').length;
      expect(
        metricValue(text, 'keybrake_calls_total', { vendor: 'stripe', decision: 'allow', reason: 'ok' }),
      ).toBe(allowed);
      expect(
        metricValue(text, 'keybrake_spend_usd_total', {
          namespace: 'agents',
          vault_key: 'metered',
          vendor: 'stripe',
        }),
      ).toBe(20);
      expect(
        metricValue(text, 'keybrake_spend_usd_total', {
          namespace: 'agents',
          vault_key: 'daily',
          vendor: 'stripe',
        }),
      ).toBe(100);
      expect(metricValue(text, 'keybrake_overhead_seconds_count', { vendor: 'stripe' })).toBe(
        kb.audit.filter((r) => r.vendor === 'stripe').length,
      );
      expect(metricValue(text, 'keybrake_snapshot_version')).toBe(1);
      // The run id is never a label.
      expect(text).not.toContain('run-a');
    });

    it('answers /healthz and /readyz', async () => {
      const health = await fetch(`${kb.urls.admin}/healthz`);
      expect(health.status).toBe(200);
      const ready = await fetch(`${kb.urls.admin}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: 'ready', snapshotVersion: 1 });
    });
  });
});

// Behaviour that needs Stripe's state, or a failure Stripe's definition cannot be asked for: kept on
// the in-repo emulator (src/emulators/stripe.ts), which stores what it answered. stripe-mock is
// stateless: the same Idempotency-Key gets a fresh charge with a new id and no `Idempotent-Replayed`
// header, and it never declines a card.
describe("behaviour that needs Stripe's state: keybrake serve in front of the emulator", () => {
  let kb: KeybrakeProcess;
  let dir: Awaited<ReturnType<typeof manifestDir>>;

  beforeAll(async () => {
    dir = await keyFiles(EMULATOR_KEYS);
    kb = await serve(dir.dir, [], emulator.url);
  });
  afterAll(async () => {
    await dir?.remove();
  });

  it('counts the same Idempotency-Key once: a $10 day cap admits the same $10 charge twice, not a new one', async () => {
    // Emulator: the replay must come back as the same charge (`id`, `Idempotent-Replayed: true`),
    // which takes an upstream that remembers the first answer.
    const stripe = stripeFor(kb, token('idem'));
    const idempotencyKey = `e2e-${randomBytes(6).toString('hex')}`;
    const first = await stripe.charges.create(usd(10), { idempotencyKey });
    const again = await stripe.charges.create(usd(10), { idempotencyKey });
    expect(again.id).toBe(first.id);
    expect(again.lastResponse.headers['idempotent-replayed']).toBe('true');
    expect(again.lastResponse.headers['keybrake-decision']).toBe('allow; reason=ok');
    const err = await failure(stripe.charges.create(usd(10), { idempotencyKey: `${idempotencyKey}-2` }));
    expect(err.code).toBe('daily_cap_exceeded');
  });

  it("passes a vendor 402 through as stripe-node's StripeCardError and releases the reservation", async () => {
    // Emulator: failure injection. stripe-mock never declines (and its definition refuses
    // `payment_method` on a charge with a 400, a different path through settle).
    const stripe = stripeFor(kb, token('declines'));
    const { traceId, traceparent } = traced();
    const err = await failure(
      stripe.charges.create(
        withExtra({ amount: 1000, currency: 'usd' }, { payment_method: 'pm_card_chargeDeclined' }),
        { headers: { traceparent } },
      ),
    );
    expect(err).toBeInstanceOf(Stripe.errors.StripeCardError);
    expect(err.statusCode).toBe(402);
    expect(err.code).toBe('card_declined');
    expect(err.message).toBe('Your card was declined.');
    expect(err.headers?.['keybrake-decision']).toBe('allow; reason=ok');
    expect(await kb.waitForAudit((r) => r.traceId === traceId)).toMatchObject({
      decision: 'allow',
      upstreamStatus: 402,
      costUsd: '0.00',
    });
    // The whole $10 budget is still there.
    const charge = await stripe.charges.create(usd(10));
    expect(charge.status).toBe('succeeded');
  });
});

describe('stripe-node retries through keybrake serve', () => {
  let kb: KeybrakeProcess;
  let relay: FlakyUpstream;
  let dir: Awaited<ReturnType<typeof manifestDir>>;

  beforeAll(async () => {
    // The relay injects the failures; behind it, stripe-mock (through the recording relay).
    relay = await startFlakyUpstream(atStripe.url);
    relays.push(relay);
    dir = await keyFiles(RETRY_KEYS);
    kb = await serve(dir.dir, [], relay.url);
  });
  afterAll(async () => {
    await dir?.remove();
  });

  it.each<[string, Failure, string, number, string]>([
    ['a Stripe 500', 'status500', 'retry500', 500, 'ok'],
    [
      'a dropped upstream connection (502 upstream_unavailable)',
      'drop',
      'retrydrop',
      502,
      'upstream_unavailable',
    ],
  ])(
    'retries after %s with the same Idempotency-Key and counts the charge once',
    async (_name, kind, key, firstStatus, firstReason) => {
      const stripe = stripeFor(kb, token(key), { maxNetworkRetries: 2 });
      const relayed = relay.requests.length;
      const arrived = atStripe.requests.length;
      relay.failNext(kind);
      const charge = await stripe.charges.create(usd(10));
      expect(charge.status).toBe('succeeded');
      const attempts = relay.requests.slice(relayed);
      expect(attempts.map((r) => `${r.method} ${r.path}`)).toEqual(['POST /v1/charges', 'POST /v1/charges']);
      expect(attempts[1]!.headers['idempotency-key']).toBe(attempts[0]!.headers['idempotency-key']);
      expect(attempts[0]!.headers['idempotency-key']).toMatch(/^stripe-node-retry-/);
      expect(atStripe.requests.length).toBe(arrived + 1);
      const vaultKey = `agents/${key}`;
      await kb.waitForAudit((r) => r.vaultKey === vaultKey && r.upstreamStatus === 200);
      const records = kb.audit.filter((r) => r.vaultKey === vaultKey);
      expect(records.map((r) => [r.upstreamStatus ?? null, r.reason, r.costUsd])).toEqual([
        [firstStatus === 502 ? null : firstStatus, firstReason, '10.00'],
        [200, 'ok', '0.00'],
      ]);
      // Counted once: the $10 day cap is spent, a new charge is refused.
      const err = await failure(stripe.charges.create(usd(10)));
      expect(err.code).toBe('daily_cap_exceeded');
    },
  );

  it('sends a denial once even with default retries (Stripe-Should-Retry: false)', async () => {
    const stripe = new Stripe(token('once'), {
      host: '127.0.0.1',
      port: portOf(kb),
      protocol: 'http',
      httpAgent: tap.agent,
    });
    const { traceId, traceparent } = traced();
    const relayed = relay.requests.length;
    const err = await failure(stripe.charges.create(usd(10), { headers: { traceparent } }));
    expect(err.code).toBe('per_call_limit_exceeded');
    expect(err.headers?.['stripe-should-retry']).toBe('false');
    await kb.waitForAudit((r) => r.traceId === traceId);
    const marker = traced();
    await stripe.customers.list({ limit: 1 }, { headers: { traceparent: marker.traceparent } });
    await kb.waitForAudit((r) => r.traceId === marker.traceId);
    expect(kb.audit.filter((r) => r.traceId === traceId)).toHaveLength(1);
    expect(relay.requests.length).toBe(relayed + 1); // only the marker read
  });
});

describe('hot reload through the manifest files', () => {
  let kb: KeybrakeProcess;
  let dir: Awaited<ReturnType<typeof manifestDir>>;
  let stripe: Stripe;
  const policy = (spec: Parameters<typeof spendPolicy>[1]) => yamlDocuments(spendPolicy('hot', spec));
  const goodPolicy = policy({ limits: { perDayUsd: '1000' } });
  const key = (suspended: boolean) =>
    yamlDocuments(
      vaultKey('hot', { policy: 'hot', upstreamSecret: 'hot-upstream', tokenSecret: 'hot-token', suspended }),
    );

  beforeAll(async () => {
    dir = await manifestDir({
      'policy.yaml': goodPolicy,
      'key.yaml': key(false),
      'secrets.yaml': yamlDocuments(
        secret('hot-upstream', { apiKey: UPSTREAM_KEY }),
        secret('hot-token', { token: token('hot') }),
      ),
    });
    kb = await serve(dir.dir);
    stripe = stripeFor(kb, token('hot'));
  });
  afterAll(async () => {
    await dir?.remove();
  });

  /** Saves (or deletes) a file and waits for the process to say what it made of it. */
  async function edit(
    name: string,
    text: string | Uint8Array | null,
    outcome: 'policy reloaded' | 'manifest change rejected',
  ) {
    const logged = kb.waitForNextLog((l) => typeof l.msg === 'string' && l.msg.startsWith(outcome));
    if (text === null) await rm(path.join(dir.dir, name));
    else await saveFile(dir.dir, name, text);
    return logged;
  }

  it('refuses a body over the default limit (256 KiB) with 413', async () => {
    const before = atStripe.requests.length;
    const res = await raw(kb.urls.stripe!, {
      method: 'POST',
      target: '/v1/customers',
      headers: {
        Authorization: `Bearer ${token('hot')}`,
        'Content-Type': 'application/x-www-form-urlencoded',
      },
      body: `description=${'x'.repeat(300 * 1024)}`,
    });
    expect(res.status).toBe(413);
    expect(res.headers['keybrake-decision']).toBe('deny; reason=body_too_large');
    expect(JSON.parse(res.body).error.code).toBe('body_too_large');
    expect(atStripe.requests.length).toBe(before);
  });

  it.each([
    [
      'a limit written as a YAML number',
      policy({ limits: { perDayUsd: 12 } }),
      'spec.limits.perDayUsd',
      'decimal string',
    ],
    [
      'an unknown field',
      policy({ limits: { perDayUsd: '1000' }, allow: { endpoint: ['GET /v1/**'] } }),
      'spec.allow.endpoint',
      'unknown field',
    ],
  ])('keeps the last good policy after %s, and logs why', async (_name, bad, field, why) => {
    const rejected = await edit('policy.yaml', bad, 'manifest change rejected');
    const errors = (rejected.errors as string[]).join('\n');
    expect(errors).toContain('policy.yaml: document 1 (SpendPolicy agents/hot)');
    expect(errors).toContain(field);
    expect(errors).toContain(why);
    const charge = await stripe.charges.create(usd(20));
    expect(charge.lastResponse.headers['keybrake-decision']).toBe('allow; reason=ok');
    await edit('policy.yaml', goodPolicy, 'policy reloaded');
  });

  // Ninth round: `limits:` one indent short of spec was dropped, and the policy was served without caps.
  it('keeps the last good policy after a limits line one indent short of spec: its cap still refuses', async () => {
    const misindented = `${policy({})}limits: { perDayUsd: "1" }\n`;
    const rejected = await edit('policy.yaml', misindented, 'manifest change rejected');
    expect((rejected.errors as string[]).join('\n')).toContain(
      'policy.yaml: document 1 (SpendPolicy agents/hot): limits: unknown field "limits" at the top level, beside spec',
    );
    const before = atStripe.requests.length;
    expect((await failure(stripe.charges.create(usd(1001)))).code).toBe('daily_cap_exceeded');
    expect(atStripe.requests.length).toBe(before);
    await edit('policy.yaml', goodPolicy, 'policy reloaded');
  });

  /** serve's reload metrics, as its /metrics reports them. */
  async function reloadMetrics() {
    const text = await (await fetch(`${kb.urls.admin}/metrics`)).text();
    const value = (series: string) =>
      Number(
        text
          .split('\n')
          .find((l) => l.startsWith(`${series} `))
          ?.slice(series.length + 1),
      );
    return {
      applied: value('keybrake_manifest_reloads_total{result="applied"}'),
      rejected: value('keybrake_manifest_reloads_total{result="rejected"}'),
      lastSuccessful: value('keybrake_manifest_last_reload_successful'),
    };
  }

  /** The reload metrics of the first /metrics render that satisfies `done` (a newer render than the last). */
  async function rendered(done: (m: Awaited<ReturnType<typeof reloadMetrics>>) => boolean) {
    let seen = await reloadMetrics();
    const fresh = async () => {
      seen = await reloadMetrics();
      return done(seen);
    };
    await expect.poll(fresh, { timeout: 5_000 }).toBe(true);
    return seen;
  }

  // Fourth probe round: a rejected reload was visible only on stderr (/readyz rightly stays ready).
  it('reports a rejected edit on /metrics, /readyz staying ready, until a valid edit', async () => {
    const before = await reloadMetrics();
    expect(before.lastSuccessful).toBe(1);
    // A save heard twice reloads once (FileSource.refresh); the counts are still compared as growing.
    try {
      await edit('policy.yaml', policy({ limits: { perDayUsd: 12 } }), 'manifest change rejected');
      // /metrics reuses a render for nine times its duration (scrape-cache.ts): under load the one
      // taken just before the edit can still be served, so ask until a render after it comes back.
      const rejected = await rendered((m) => m.rejected > before.rejected);
      expect(rejected.lastSuccessful).toBe(0);
      expect((await fetch(`${kb.urls.admin}/readyz`)).status).toBe(200);
    } finally {
      await edit('policy.yaml', goodPolicy, 'policy reloaded');
    }
    const fixed = await rendered((m) => m.applied > before.applied);
    expect(fixed.lastSuccessful).toBe(1);
  });

  it('suspends the key on the next call after `suspended: true` is saved, without a restart', async () => {
    await edit('key.yaml', key(true), 'policy reloaded');
    const before = atStripe.requests.length;
    const err = await failure(stripe.charges.create(usd(1)));
    expect(err).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
    expect(err.code).toBe('key_suspended');
    expect(atStripe.requests.length).toBe(before);
    await edit('key.yaml', key(false), 'policy reloaded');
    expect((await stripe.charges.create(usd(1))).status).toBe('succeeded');
  });

  // Fifteenth round (probe newuser, finding 1): a suspension written with a mistake in the key's own
  // document was held back, and the key kept forwarding.
  /**
   * Saves key.yaml as `text`: the change is rejected, the key taken out (key_unknown, nothing at the
   * upstream) until the file is fixed, then it charges again. The rejection, for more checks.
   */
  async function takenOutUntilFixed(text: string | Buffer) {
    const rejected = await edit('key.yaml', text, 'manifest change rejected');
    expect(rejected.revoked).toEqual(['VaultKey agents/hot invalid: not served until its document is fixed']);
    const before = atStripe.requests.length;
    expect((await failure(stripe.charges.create(usd(1)))).code).toBe('key_unknown');
    expect(atStripe.requests.length).toBe(before);
    await edit('key.yaml', key(false), 'policy reloaded');
    expect((await stripe.charges.create(usd(1))).status).toBe('succeeded');
    return rejected;
  }

  it('takes a key out when its own document is made invalid, a quoted suspension, until it is fixed', async () => {
    const quoted = key(true).replace('suspended: true', 'suspended: "true"');
    expect(quoted).not.toBe(key(true));
    await takenOutUntilFixed(quoted);
  });

  // Probe fixes15 finding 1: the same suspension saved by Windows PowerShell 5.1's `>` (UTF-16LE with
  // its byte order mark, CRLF) refused the file whole for its encoding, and the key kept forwarding.
  it('takes a key out when its file is saved as UTF-16 with a suspension in it, until it is fixed', async () => {
    const utf16 = Buffer.concat([
      Buffer.from([0xff, 0xfe]),
      Buffer.from(key(true).replaceAll('\n', '\r\n'), 'utf16le'),
    ]);
    const rejected = await takenOutUntilFixed(utf16);
    expect(rejected.errors).toEqual([expect.stringContaining('saved as UTF-16')]);
  });

  it('revokes a deleted key while another file has an error, and serves nothing new until it is fixed', async () => {
    const broken = yamlDocuments(spendPolicy('other', { limits: { perDayUsd: 5 } }));
    await edit('broken.yaml', broken, 'manifest change rejected');
    const rejected = await edit('key.yaml', null, 'manifest change rejected');
    expect(rejected.revoked).toEqual(['VaultKey agents/hot deleted']);
    expect(rejected.msg).toContain('except what it revokes: VaultKey agents/hot deleted');
    const before = atStripe.requests.length;
    const err = await failure(stripe.charges.create(usd(1)));
    expect(err.code).toBe('key_unknown');
    // Back while the error stays: a refused change revokes, it adds nothing.
    await edit('key.yaml', key(false), 'manifest change rejected');
    expect((await failure(stripe.charges.create(usd(1)))).code).toBe('key_unknown');
    expect(atStripe.requests.length).toBe(before);
    await edit('broken.yaml', null, 'policy reloaded');
    expect((await stripe.charges.create(usd(1))).status).toBe('succeeded');
  });

  // Fifteenth round (probe fixes15b, finding 3): a token rotated in a Secret file saved with a
  // mistake in that Secret's own document was held, and the old (leaked) token kept charging.
  it('takes a key out when its token Secret is rotated with a mistake in its document, until it is fixed', async () => {
    const secrets = (hotToken: string) =>
      yamlDocuments(
        secret('hot-upstream', { apiKey: UPSTREAM_KEY }),
        secret('hot-token', { token: hotToken }),
      );
    const broken = `${secrets(newToken('stripe'))}  : [\n`;
    const rejected = await edit('secrets.yaml', broken, 'manifest change rejected');
    expect(rejected.revoked).toEqual(['token of VaultKey agents/hot replaced']);
    const before = atStripe.requests.length;
    expect((await failure(stripe.charges.create(usd(1)))).code).toBe('key_unknown');
    expect(atStripe.requests.length).toBe(before);
    await edit('secrets.yaml', secrets(token('hot')), 'policy reloaded');
    expect((await stripe.charges.create(usd(1))).status).toBe('succeeded');
  });

  it('stops serving a rotated token while another file has an error, and serves the new one once it is fixed', async () => {
    const secrets = (hotToken: string) =>
      yamlDocuments(
        secret('hot-upstream', { apiKey: UPSTREAM_KEY }),
        secret('hot-token', { token: hotToken }),
      );
    const rotated = newToken('stripe');
    await edit(
      'broken.yaml',
      yamlDocuments(spendPolicy('other', { limits: { perDayUsd: 5 } })),
      'manifest change rejected',
    );
    const rejected = await edit('secrets.yaml', secrets(rotated), 'manifest change rejected');
    expect(rejected.revoked).toEqual(['token of VaultKey agents/hot replaced']);
    const before = atStripe.requests.length;
    expect((await failure(stripe.charges.create(usd(1)))).code).toBe('key_unknown');
    const next = stripeFor(kb, rotated);
    expect((await failure(next.charges.create(usd(1)))).code).toBe('key_unknown');
    expect(atStripe.requests.length).toBe(before);
    await edit('broken.yaml', null, 'policy reloaded');
    expect((await next.charges.create(usd(1))).status).toBe('succeeded');
    expect((await failure(stripe.charges.create(usd(1)))).code).toBe('key_unknown');
    await edit('secrets.yaml', secrets(token('hot')), 'policy reloaded');
  });

  // Sixteenth round: the same rotation saved with an error elsewhere in its own file (a policy kept
  // beside the Secrets, its cap unquoted) was held back, and the leaked token kept charging.
  it('stops serving a rotated token whose file has an error elsewhere, until it is fixed', async () => {
    const secrets = (hotToken: string) =>
      yamlDocuments(
        secret('hot-upstream', { apiKey: UPSTREAM_KEY }),
        secret('hot-token', { token: hotToken }),
      );
    const rotated = newToken('stripe');
    const beside = yamlDocuments(spendPolicy('other', { limits: { perDayUsd: 5 } }));
    const rejected = await edit(
      'secrets.yaml',
      `${secrets(rotated)}---\n${beside}`,
      'manifest change rejected',
    );
    expect(rejected.revoked).toEqual(['token of VaultKey agents/hot replaced']);
    const before = atStripe.requests.length;
    expect((await failure(stripe.charges.create(usd(1)))).code).toBe('key_unknown');
    expect((await failure(stripeFor(kb, rotated).charges.create(usd(1)))).code).toBe('key_unknown');
    expect(atStripe.requests.length).toBe(before);
    await edit('secrets.yaml', secrets(token('hot')), 'policy reloaded');
    expect((await stripe.charges.create(usd(1))).status).toBe('succeeded');
  });

  // Sixteenth round (probe fixes16, finding 1): the rotation regenerated as `kubectl create secret
  // … --dry-run=client -o yaml` writes it, without `-n` (no namespace: `default`), and then given
  // its token in plain text under `data:`, was held back: the old token kept charging.
  it('stops serving a token whose Secret its file now names, broken, in another namespace', async () => {
    const secrets = (hotToken: string, namespace?: string) =>
      yamlDocuments(secret('hot-upstream', { apiKey: UPSTREAM_KEY }), {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'hot-token', ...(namespace && { namespace }) },
        data: { token: hotToken },
      });
    const rejected = await edit('secrets.yaml', secrets(newToken('stripe')), 'manifest change rejected');
    expect(rejected.revoked).toEqual([
      'Secret agents/hot-token deleted (its file names default/hot-token instead)',
    ]);
    const before = atStripe.requests.length;
    expect((await failure(stripe.charges.create(usd(1)))).code).toBe('key_unknown');
    expect(atStripe.requests.length).toBe(before);
    await edit(
      'secrets.yaml',
      yamlDocuments(
        secret('hot-upstream', { apiKey: UPSTREAM_KEY }),
        secret('hot-token', { token: token('hot') }),
      ),
      'policy reloaded',
    );
    expect((await stripe.charges.create(usd(1))).status).toBe('succeeded');
  });

  // Sixteenth round: a leaked token's Secret deleted from its file while a mistake stood elsewhere
  // in that file (a policy kept there, its cap unquoted) was held back, and the token kept charging.
  it('stops serving a token whose Secret is deleted from a file with an error elsewhere in it', async () => {
    const upstreamSecret = secret('hot-upstream', { apiKey: UPSTREAM_KEY });
    const beside = spendPolicy('other', { limits: { perDayUsd: 5 } });
    const rejected = await edit(
      'secrets.yaml',
      yamlDocuments(upstreamSecret, beside),
      'manifest change rejected',
    );
    expect(rejected.revoked).toEqual(['Secret agents/hot-token deleted']);
    const before = atStripe.requests.length;
    expect((await failure(stripe.charges.create(usd(1)))).code).toBe('key_unknown');
    expect(atStripe.requests.length).toBe(before);
    await edit(
      'secrets.yaml',
      yamlDocuments(upstreamSecret, secret('hot-token', { token: token('hot') })),
      'policy reloaded',
    );
    expect((await stripe.charges.create(usd(1))).status).toBe('succeeded');
  });

  it('revokes the token when the VaultKey file is deleted', async () => {
    const reloaded = await edit('key.yaml', null, 'policy reloaded');
    expect(reloaded.keys).toBe(0);
    const before = atStripe.requests.length;
    const err = await failure(stripe.charges.create(usd(1)));
    expect(err).toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
    expect(err.code).toBe('key_unknown');
    expect(atStripe.requests.length).toBe(before);
    expect(kb.child.exitCode).toBeNull();
  });
});

describe('secrets never leak', () => {
  const allTokens = () => [...Object.values(tokens), strangerToken];

  it('keeps the vault tokens and the upstream key out of every process output and /metrics', async () => {
    for (const kb of processes) {
      const output = kb.output();
      expect(output.length).toBeGreaterThan(0);
      const metrics = await (await fetch(`${kb.urls.admin}/metrics`)).text();
      for (const secretText of [UPSTREAM_KEY, ...allTokens()]) {
        expect(output).not.toContain(secretText);
        expect(metrics).not.toContain(secretText);
      }
    }
  });

  it('never shows the upstream key to a client', () => {
    const received = tap.received();
    expect(received).toContain('keybrake-decision');
    expect(received).not.toContain(UPSTREAM_KEY);
    expect(rawResponses.length).toBeGreaterThan(10);
    for (const r of rawResponses) expect(r.raw).not.toContain(UPSTREAM_KEY);
  });

  it('never sends a vault token upstream', () => {
    const upstream = JSON.stringify([atStripe.requests, emulator.requests, ...relays.map((r) => r.requests)]);
    expect(upstream).toContain(UPSTREAM_KEY);
    for (const t of allTokens()) expect(upstream).not.toContain(t);
  });
});
