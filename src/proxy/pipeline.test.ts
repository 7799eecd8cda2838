import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { withStripeAccount } from '../../test/fixtures/stripe-pipeline.ts';
import { fixedClock } from '../clock.ts';
import { MemoryCounterStore } from '../counters/memory-store.ts';
import { type CounterStore, CounterStoreUnavailableError } from '../counters/store.ts';
import { type Denial, decisionHeader, deny, type Reason } from '../decision/reasons.ts';
import { loadExchangeRates } from '../money/exchange-rates.ts';
import { compileEndpointPattern } from '../patterns/glob.ts';
import { SnapshotHolder } from '../snapshot/holder.ts';
import type { CompiledPolicy } from '../snapshot/types.ts';
import { type AuditSink, memoryAuditSink, stdoutAuditSink } from '../telemetry/audit.ts';
import { silentLogger } from '../telemetry/logger.ts';
import { createProxyMetrics } from '../telemetry/metrics.ts';
import { newToken } from '../tokens/token.ts';
import { createStripeAdapter } from '../vendors/stripe/index.ts';
import { createTwilioAdapter } from '../vendors/twilio/index.ts';
import { NO_PARTIES, type VendorAdapter } from '../vendors/types.ts';
import { LeaseBackoff } from './lease-backoff.ts';
import { createPipeline } from './pipeline.ts';
import { type ForwardRequest, UnsentDenial, type UpstreamResponse, type Upstreams } from './upstreams.ts';

const TOKEN = 'kb_stripe_pipeline_test_token';

/** A vendor whose refunds are priced from the charge they name: $40 upstream. */
const adapter: VendorAdapter = {
  name: 'stripe',
  requestIdHeader: 'request-id',
  honoursIdempotencyKey: () => true,
  credential: (headers) => ({ token: String(headers.authorization ?? '').replace(/^Bearer /, '') }),
  parse: () => ({}),
  price: () => ({
    id: 'stripe.refunds.create',
    class: 'money',
    movesMoney: true,
    costMicros: 0,
    parties: NO_PARTIES,
    lookup: { path: '/v1/charges/ch_1', price: (body) => (body as { amount: number }).amount * 10_000 },
  }),
  upstreamAuthorization: () => 'Bearer sk_real',
  settle: () => undefined,
  error: (reason, message, status) => ({ status, headers: {}, body: JSON.stringify({ reason, message }) }),
};

function proxyWith(policy: Partial<CompiledPolicy>, sink?: AuditSink) {
  const clock = fixedClock('2026-11-26T12:00:00Z');
  const snapshots = new SnapshotHolder(clock);
  const digest = createHash('sha256').update(TOKEN).digest('hex');
  snapshots.apply({
    version: 1,
    compiledAt: clock.now(),
    keys: new Map([
      [
        digest,
        {
          uid: 'agents/k',
          namespace: 'agents',
          name: 'k',
          vendor: 'stripe',
          tokenFingerprint: 'kb_stripe_…oken',
          upstream: { kind: 'bearer', token: 'sk_real' },
          suspended: false,
          policy: { ref: 'agents/p', limits: {}, timezone: 'UTC', readsWhenStoreDown: true, ...policy },
        },
      ],
    ]),
  });
  const sent: string[] = [];
  const upstreams: Upstreams = {
    forward: withStripeAccount(async (req: ForwardRequest) => {
      sent.push(`${req.method} ${req.pathAndQuery}`);
      return { status: 200, headers: {}, body: Buffer.from('{"amount":4000}') };
    }),
    close: async () => {},
  };
  const audit = memoryAuditSink();
  const handle = createPipeline({
    snapshots,
    vendors: { stripe: adapter },
    upstreams,
    counters: new MemoryCounterStore({ clock, sweepIntervalMs: 0 }),
    clock,
    audit: sink ?? audit,
    metrics: createProxyMetrics({ snapshotAgeSeconds: () => 0 }),
    log: silentLogger(),
    parseLimits: { maxBytes: 1024, maxDepth: 4, maxParams: 10 },
  });
  const refund = () =>
    handle({
      method: 'POST',
      url: '/stripe/v1/refunds',
      headers: { authorization: `Bearer ${TOKEN}` },
      body: Buffer.from('charge=ch_1'),
    });
  return { refund, sent, audit };
}

describe('pipeline: the cost lookup runs between the checks that need it and those that do not', () => {
  it.each<[string, Partial<CompiledPolicy>, Reason, string[]]>([
    [
      'an endpoint outside the allowlist is refused without any upstream read',
      { endpoints: [compileEndpointPattern('POST /v1/charges')] },
      'endpoint_not_allowed',
      [],
    ],
    [
      'an account the request itself settles (the platform, not allowlisted) is refused without any upstream read',
      { accounts: new Set(['acct_1']) },
      'account_not_allowed',
      [],
    ],
    [
      'a looked-up amount over the per-call limit is refused after the lookup alone',
      { limits: { perCallMicros: 30_000_000 } },
      'per_call_limit_exceeded',
      ['GET /v1/charges/ch_1'],
    ],
    [
      'an allowed refund is looked up, then forwarded',
      { endpoints: [compileEndpointPattern('POST /v1/refunds')], limits: { perCallMicros: 40_000_000 } },
      'ok',
      ['GET /v1/charges/ch_1', 'POST /v1/refunds'],
    ],
  ])('%s', async (_name, policy, reason, upstreamCalls) => {
    const { refund, sent, audit } = proxyWith(policy);
    const res = await refund();
    expect(res.headers['keybrake-decision']).toBe(decisionHeader(reason));
    expect(sent).toEqual(upstreamCalls);
    expect(audit.records).toMatchObject([{ reason, path: '/v1/refunds', vaultKey: 'agents/k' }]);
  });
});

// ── DESIGN.md §7 fail closed: a call goes ahead only while the audit stream keeps up ─────────────────

/** An audit stream whose writes complete only when released: a log reader that stopped reading. */
class StuckStream extends Writable {
  readonly written: string[] = [];
  #held: (() => void)[] = [];
  #stuck = true;

  constructor() {
    super({ decodeStrings: false, highWaterMark: 1 });
  }

  override _write(chunk: string, _encoding: string, done: () => void): void {
    this.written.push(chunk);
    if (this.#stuck) this.#held.push(done);
    else done();
  }

  release(): void {
    this.#stuck = false;
    for (const done of this.#held.splice(0)) done();
  }

  reasons(): string[] {
    return this.written
      .join('')
      .split('\n')
      .slice(0, -1)
      .map((l) => (JSON.parse(l) as { reason: string }).reason);
  }
}

describe('pipeline: a call goes ahead only while the audit stream keeps up', () => {
  const allowRefunds = {
    endpoints: [compileEndpointPattern('POST /v1/refunds')],
    limits: { perCallMicros: 40_000_000 },
  };
  const BOUND = 10_000;
  /**
   * A sink holding one record of more than `chars` characters that its stream does not take, made by
   * a call of `vaultKey` (by default the key the tests call with, agents/k).
   */
  function stuckSink(chars: number, vaultKey = 'agents/k') {
    const stream = new StuckStream();
    const sink = stdoutAuditSink({ stream, maxBatchBytes: 1, maxDelayMs: 60_000, maxHeldBytes: BOUND });
    sink.write(filler(chars, vaultKey));
    return { stream, sink };
  }
  const filler = (chars: number, vaultKey: string) => ({
    ts: '2026-11-26T12:00:00.000Z',
    event: 'keybrake.call' as const,
    vaultKey,
    vendor: 'stripe',
    method: 'GET',
    path: `/v1/customers/${'a'.repeat(chars)}`,
    operation: null,
    runId: null,
    decision: 'allow' as const,
    reason: 'ok' as const,
    costUsd: '0.00',
    upstreamStatus: 200,
    upstreamRequestId: null,
    durationMs: 1,
    traceId: null,
  });

  it('at its bound, refuses a call 503 audit_backlog with nothing read or forwarded, keeps its record, and admits calls again once the stream drains', async () => {
    const { stream, sink } = stuckSink(BOUND);
    const { refund, sent } = proxyWith(allowRefunds, sink);
    const refused = await refund();
    expect(refused.status).toBe(503);
    expect(refused.headers['keybrake-decision']).toBe(decisionHeader('audit_backlog'));
    expect(sent).toEqual([]);
    stream.release();
    await sink.flush();
    expect(stream.reasons()).toEqual(['ok', 'audit_backlog']);
    const admitted = await refund();
    expect(admitted.headers['keybrake-decision']).toBe(decisionHeader('ok'));
    expect(sent).toEqual(['GET /v1/charges/ch_1', 'POST /v1/refunds']);
    await sink.flush();
    expect(stream.reasons()).toEqual(['ok', 'audit_backlog', 'ok']);
  });

  // Fifth probe round: one key's refused calls, each with a 16 KB record, filled the backlog and had
  // another key's reads refused audit_backlog.
  it('at its bound, still admits and forwards a call of a key whose records hold less than its share', async () => {
    const { stream, sink } = stuckSink(BOUND, 'agents/attacker');
    const { refund, sent } = proxyWith(allowRefunds, sink);
    const admitted = await refund();
    expect(admitted.headers['keybrake-decision']).toBe(decisionHeader('ok'));
    expect(sent).toEqual(['GET /v1/charges/ch_1', 'POST /v1/refunds']);
    stream.release();
    await sink.flush();
    expect(stream.reasons()).toEqual(['ok', 'ok']);
  });

  it('at twice its bound, answers no call, not even with a refusal, until the stream has taken what it holds', async () => {
    const { stream, sink } = stuckSink(2 * BOUND);
    const { refund, sent } = proxyWith(allowRefunds, sink);
    let answered = false;
    const answer = refund().then((res) => {
      answered = true;
      return res;
    });
    // One turn of the event loop: a refusal takes none (every step before it is synchronous).
    await new Promise((resolve) => setImmediate(resolve));
    expect(answered).toBe(false);
    expect(stream.reasons()).toEqual(['ok']);
    stream.release();
    expect((await answer).headers['keybrake-decision']).toBe(decisionHeader('ok'));
    expect(sent).toEqual(['GET /v1/charges/ch_1', 'POST /v1/refunds']);
  });

  // Tenth round: an audit stream that fails (EPIPE, ENOSPC) took the process down with the records it
  // held. Now the proxy drains and exits; a call that reaches the pipeline meanwhile (one waiting for
  // room, say) is refused, not forwarded, and its record goes to the fallback.
  it('once the stream has failed, refuses a call 503 shutting_down with nothing read or forwarded, its record on the fallback', async () => {
    const stream = new StuckStream();
    const fallback = new StuckStream();
    fallback.release();
    const failing = stdoutAuditSink({
      stream,
      fallback,
      maxBatchBytes: 1,
      maxDelayMs: 60_000,
      maxHeldBytes: BOUND,
    });
    failing.write(filler(2 * BOUND, 'agents/k'));
    const { refund, sent } = proxyWith(allowRefunds, failing);
    // Waits for room at twice the bound; the stream's reader goes away meanwhile.
    const answer = refund();
    await new Promise((resolve) => setImmediate(resolve));
    stream.destroy(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    const refused = await answer;
    expect(refused.status).toBe(503);
    expect(refused.headers['keybrake-decision']).toBe(decisionHeader('shutting_down'));
    expect(JSON.parse(String(refused.body)).message).toMatch(/cannot write its audit log/);
    expect(sent).toEqual([]);
    await failing.flush();
    expect(fallback.reasons()).toEqual(['ok', 'shutting_down']);
  });
});

// ── ADR 0007 §4, §5, §8 at the pipeline: replays, leases, lookups counted and ordered ──────────────

const USD = 1_000_000;
const STRIPE_TOKEN_B = 'kb_stripe_pipeline_test_token_b';
const STRIPE_TOKEN_OTHER_ACCOUNT = 'kb_stripe_pipeline_test_token_c';
/** A vault key holding another secret (a restricted key) of the account sk_real is of. */
const STRIPE_TOKEN_OTHER_SECRET = 'kb_stripe_pipeline_test_token_d';
const NOW = '2026-11-26T12:00:00Z';
const MINUTE = `minute:${Math.floor(Date.parse(NOW) / 60_000)}`;

/** Store calls by method, so a test can state what one call costs in counter-store round trips. */
function countingStore(inner: CounterStore): { store: CounterStore; calls: string[] } {
  const calls: string[] = [];
  const counted = ['reserve', 'settle', 'acquireLeases', 'renewLeases', 'releaseLeases', 'used', 'lastUsed'];
  const store = new Proxy(inner, {
    get(target, name, receiver) {
      const v = Reflect.get(target, name, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (counted.includes(String(name))) calls.push(String(name));
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store, calls };
}

type Upstream = (req: ForwardRequest) => Promise<UpstreamResponse | Denial>;

interface StripeCall {
  method?: string;
  path: string;
  body?: string;
  headers?: Record<string, string>;
  token?: string;
}

/**
 * A pipeline with the real Stripe adapter over a memory store; three vault keys: two share the
 * upstream secret `sk_real` (so they share leases), the third has its own upstream account.
 */
function stripeProxy(policy: Partial<CompiledPolicy>, upstream: Upstream) {
  const clock = fixedClock(NOW);
  const snapshots = new SnapshotHolder(clock);
  const key = (token: string, name: string, secret: string) =>
    [
      createHash('sha256').update(token).digest('hex'),
      {
        uid: `agents/${name}`,
        namespace: 'agents',
        name,
        vendor: 'stripe' as const,
        tokenFingerprint: 'kb_stripe_…',
        upstream: { kind: 'bearer' as const, token: secret },
        suspended: false,
        policy: { ref: 'agents/p', limits: {}, timezone: 'UTC', readsWhenStoreDown: true, ...policy },
      },
    ] as const;
  snapshots.apply({
    version: 1,
    compiledAt: clock.now(),
    keys: new Map([
      key(TOKEN, 'a', 'sk_real'),
      key(STRIPE_TOKEN_B, 'b', 'sk_real'),
      key(STRIPE_TOKEN_OTHER_ACCOUNT, 'c', 'sk_other_account'),
      key(STRIPE_TOKEN_OTHER_SECRET, 'd', 'rk_restricted_same_account'),
    ]),
  });
  const memory = new MemoryCounterStore({ clock, sweepIntervalMs: 0 });
  const { store, calls } = countingStore(memory);
  const audit = memoryAuditSink();
  const sent: string[] = [];
  const upstreams: Upstreams = {
    // Every key's secret is of one account but sk_other_account's (ADR 0007 §5, fourteenth round).
    forward: withStripeAccount(
      async (req) => {
        sent.push(`${req.method} ${req.pathAndQuery}`);
        return upstream(req);
      },
      (authorization) =>
        authorization.endsWith('sk_other_account') ? 'acct_1OtherAccount' : 'acct_1Account',
    ),
    close: async () => {},
  };
  const handle = createPipeline({
    snapshots,
    vendors: { stripe: createStripeAdapter({ rates: loadExchangeRates() }) },
    upstreams,
    counters: store,
    clock,
    audit,
    metrics: createProxyMetrics({ snapshotAgeSeconds: () => 0 }),
    log: silentLogger(),
    parseLimits: { maxBytes: 4096, maxDepth: 5, maxParams: 50 },
    leaseTtlMs: 35_000,
    // On the test's clock, so a test moves it (a monotonic one in the process).
    leaseBackoff: new LeaseBackoff({ monotonic: () => clock.now() }),
  });
  const call = (c: StripeCall) =>
    handle({
      method: c.method ?? 'POST',
      url: `/stripe${c.path}`,
      headers: {
        authorization: `Bearer ${c.token ?? TOKEN}`,
        ...(c.body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        ...c.headers,
      },
      body: Buffer.from(c.body ?? ''),
    });
  const spentToday = () => memory.used('agents/a', 'day:2026-11-26');
  return { call, sent, calls, clock, memory, spentToday, audit };
}

const json = (status: number, body: unknown): UpstreamResponse => ({
  status,
  headers: { 'content-type': 'application/json' },
  body: Buffer.from(JSON.stringify(body)),
});

/** Stripe as far as these tests need it: charges echo their amount; pi_1 is a $40 intent. */
const stripeLike: Upstream = async (req) => {
  if (req.method === 'GET' && req.pathAndQuery.startsWith('/v1/payment_intents/pi_1'))
    return json(200, { id: 'pi_1', object: 'payment_intent', amount: 4000, currency: 'usd' });
  if (req.pathAndQuery.endsWith('/confirm'))
    return json(200, {
      id: 'pi_1',
      amount: 4000,
      amount_received: 4000,
      currency: 'usd',
      status: 'succeeded',
    });
  if (req.pathAndQuery === '/v1/payment_intents') {
    const amount = Number(new URLSearchParams(req.body?.toString() ?? '').get('amount'));
    return json(200, { id: 'pi_2', amount, amount_received: amount, currency: 'usd', status: 'succeeded' });
  }
  if (req.pathAndQuery.startsWith('/v1/charges')) {
    const amount = Number(new URLSearchParams(req.body?.toString() ?? '').get('amount'));
    return json(200, {
      id: 'ch_1',
      object: 'charge',
      amount,
      currency: 'usd',
      captured: true,
      amount_captured: amount,
    });
  }
  return json(200, { id: 'pi_1', object: 'payment_intent', amount: 4000, currency: 'usd' });
};

const decision = (res: { headers: Record<string, string | string[]> }) => res.headers['keybrake-decision'];

// From a new-user walkthrough: the audit record of a refused credential operation named none.
describe('pipeline: a refused operation Keybrake recognised is named in the audit record', () => {
  it('names the credential operation it refused', async () => {
    const { call, sent, audit } = stripeProxy({}, stripeLike);
    const res = await call({ path: '/v1/apps/secrets', body: 'name=x&payload=y&scope[type]=account' });
    expect(res.headers['keybrake-decision']).toBe(decisionHeader('credential_operation'));
    expect(sent).toEqual([]);
    expect(audit.records).toMatchObject([
      { reason: 'credential_operation', operation: 'stripe.apps.secrets.create' },
    ]);
  });
});

describe('pipeline: a replay is only a replay (ADR 0007 §4)', () => {
  const charge = (body: string, headers: Record<string, string> = {}, path = '/v1/charges'): StripeCall => ({
    path,
    body,
    headers: { 'idempotency-key': 'order-1', ...headers },
  });

  it('passes the same call again free, even re-encoded, and forwards the key unchanged', async () => {
    const p = stripeProxy({ limits: { perDayMicros: 100 * USD } }, stripeLike);
    expect(decision(await p.call(charge('amount=1000&currency=usd&metadata[a]=1&metadata[b]=2')))).toBe(
      decisionHeader('ok'),
    );
    expect(await p.spentToday()).toBe(10 * USD);
    expect(decision(await p.call(charge('metadata[b]=2&currency=usd&metadata[a]=1&amount=1000')))).toBe(
      decisionHeader('ok'),
    );
    expect(await p.spentToday()).toBe(10 * USD);
    expect(p.sent).toEqual(['POST /v1/charges', 'POST /v1/charges']);
  });

  it.each<[string, StripeCall, number]>([
    ['another amount', charge('amount=5000&currency=usd'), 50],
    ['another array order', charge('amount=1000&currency=usd&expand[]=b&expand[]=a'), 10],
    ['another endpoint', charge('amount=1000&currency=usd&confirm=true', {}, '/v1/payment_intents'), 10],
    ['another Stripe-Account', charge('amount=1000&currency=usd', { 'stripe-account': 'acct_1' }), 10],
    ['another Stripe-Context', charge('amount=1000&currency=usd', { 'stripe-context': 'acct_1' }), 10],
    ['another vault key', { ...charge('amount=1000&currency=usd'), token: STRIPE_TOKEN_B }, 10],
  ])('counts the same Idempotency-Key on %s as a new call', async (_name, second, secondUsd) => {
    const first = charge('amount=1000&currency=usd&expand[]=a&expand[]=b');
    const p = stripeProxy({ limits: { perDayMicros: 1_000 * USD } }, stripeLike);
    const spent = async () => (await p.spentToday()) + (await p.memory.used('agents/b', 'day:2026-11-26'));
    await p.call(first);
    expect(await spent()).toBe(10 * USD);
    expect(decision(await p.call(second))).toBe(decisionHeader('ok'));
    expect(await spent()).toBe((10 + secondUsd) * USD);
    // The first call's record stands: the first call again is still its free replay.
    await p.call(first);
    expect(await spent()).toBe((10 + secondUsd) * USD);
    expect(p.sent).toHaveLength(3);
  });

  it('gives no replay discount to a key the vendor would not see (Connection: Idempotency-Key)', async () => {
    const p = stripeProxy({ limits: { perDayMicros: 100 * USD } }, stripeLike);
    await p.call(charge('amount=1000&currency=usd'));
    const res = await p.call(
      charge('amount=1000&currency=usd', { connection: 'keep-alive, Idempotency-Key' }),
    );
    // Refused outright (header_invalid) or forwarded and counted: never forwarded for free.
    if (decision(res) === decisionHeader('ok')) expect(await p.spentToday()).toBe(20 * USD);
    else expect(p.sent).toHaveLength(1);
  });

  it('counts a retry again once the first call was refused by the vendor (settled to 0)', async () => {
    let status = 402;
    const p = stripeProxy({ limits: { perDayMicros: 100 * USD } }, async (req) =>
      status === 402 ? json(402, { error: { type: 'card_error' } }) : stripeLike(req),
    );
    await p.call(charge('amount=1000&currency=usd'));
    expect(await p.spentToday()).toBe(0);
    status = 200;
    await p.call(charge('amount=1000&currency=usd'));
    expect(await p.spentToday()).toBe(10 * USD);
  });

  // The race an agent can provoke: it sends the retry while the first call is still at the vendor,
  // the retry is admitted free and succeeds, and then the vendor refuses the first (a 429 stores
  // no idempotent result). Each round moved $10; without the mark each was given back.
  it('keeps a call counted that the vendor refused after its replay was admitted in flight', async () => {
    // The first attempt of each order is held at the vendor until the test answers it.
    let hold: ((answer: (res: UpstreamResponse) => void) => void) | undefined;
    const p = stripeProxy({ limits: { perDayMicros: 20 * USD } }, (req) => {
      const arrived = hold;
      hold = undefined;
      return arrived ? new Promise((answer) => arrived(answer)) : stripeLike(req);
    });
    for (const order of ['order-1', 'order-2']) {
      const atVendor = new Promise<(res: UpstreamResponse) => void>((resolve) => {
        hold = resolve;
      });
      const first = p.call(charge('amount=1000&currency=usd', { 'idempotency-key': order }));
      const answerFirst = await atVendor;
      const retry = await p.call(charge('amount=1000&currency=usd', { 'idempotency-key': order }));
      expect(decision(retry)).toBe(decisionHeader('ok'));
      answerFirst(json(429, { error: { type: 'rate_limit_error' } }));
      expect(decision(await first)).toBe(decisionHeader('ok'));
    }
    // Two charges reached Stripe and went through; both are counted, and the cap is reached.
    expect(p.sent).toEqual(Array(4).fill('POST /v1/charges'));
    expect(await p.spentToday()).toBe(20 * USD);
    const over = await p.call(charge('amount=1000&currency=usd', { 'idempotency-key': 'order-3' }));
    expect(decision(over)).toBe(decisionHeader('daily_cap_exceeded'));
    expect(p.sent).toHaveLength(4);
  });

  // Sixth round: a confirm is priced from the intent Stripe holds, so the same request can cost more
  // the second time. Its first attempt's connection dropped ($1 counted, the record kept); the intent
  // was raised to $90 once the lease lapsed; the same confirm again went out free and Stripe charged
  // $90, and a $99 charge fitted under the $100 cap beside it.
  describe('a confirm priced from a lookup, retried with the same key after its first attempt got no answer', () => {
    const confirm: StripeCall = {
      path: '/v1/payment_intents/pi_r1/confirm',
      body: 'payment_method=pm_card_visa',
      headers: { 'idempotency-key': 'k-abc-1' },
    };
    /** pi_r1 at `amount` cents; its first confirm is dropped after it was sent. */
    function intentStripe() {
      const intent = { amount: 100, confirms: 0, charged: [] as number[] };
      const upstream: Upstream = async (req) => {
        const view = { id: 'pi_r1', object: 'payment_intent', amount: intent.amount, currency: 'usd' };
        if (req.method === 'GET') return json(200, { ...view, status: 'requires_confirmation' });
        if (req.pathAndQuery.endsWith('/confirm')) {
          if (intent.confirms++ === 0) return deny('upstream_unavailable', 'connection dropped');
          intent.charged.push(intent.amount);
          return json(200, { ...view, amount_received: intent.amount, status: 'succeeded' });
        }
        if (req.pathAndQuery === '/v1/payment_intents/pi_r1') {
          intent.amount = Number(new URLSearchParams(req.body?.toString() ?? '').get('amount'));
          return json(200, view);
        }
        return stripeLike(req);
      };
      return { intent, upstream };
    }
    const limits = { perCallMicros: 100 * USD, perDayMicros: 100 * USD };

    it('counts it in full at the raised price, so the cap holds what Stripe charged', async () => {
      const { intent, upstream } = intentStripe();
      const p = stripeProxy({ limits }, upstream);
      expect(decision(await p.call(confirm))).toBe(decisionHeader('upstream_unavailable'));
      expect(await p.spentToday()).toBe(1 * USD);
      p.clock.advance(36_000);
      expect(decision(await p.call({ path: '/v1/payment_intents/pi_r1', body: 'amount=9000' }))).toBe(
        decisionHeader('ok'),
      );

      expect(decision(await p.call(confirm))).toBe(decisionHeader('ok'));
      expect(intent.charged).toEqual([9000]);
      expect(await p.spentToday()).toBe(91 * USD);
      expect(p.audit.records.at(-1)).toMatchObject({ costUsd: '90.00' });

      const sent = p.sent.length;
      const charge = await p.call({ path: '/v1/charges', body: 'amount=9900&currency=usd' });
      expect(decision(charge)).toBe(decisionHeader('daily_cap_exceeded'));
      expect(p.sent).toHaveLength(sent);
    });

    it('still passes it free at the price it was counted at', async () => {
      const { intent, upstream } = intentStripe();
      const p = stripeProxy({ limits }, upstream);
      await p.call(confirm);
      p.clock.advance(36_000);
      expect(decision(await p.call(confirm))).toBe(decisionHeader('ok'));
      expect(intent.charged).toEqual([100]);
      expect(await p.spentToday()).toBe(1 * USD);
    });
  });
});

describe('pipeline: Twilio retries are never free', () => {
  it('counts every retry of a money call with the same Idempotency-Key', async () => {
    const twilio = createTwilioAdapter();
    const message = {
      id: 'twilio.messages.create',
      class: 'money',
      movesMoney: true,
      costMicros: USD,
      parties: NO_PARTIES,
    } as const;
    const post = { method: 'POST', path: '/2010-04-01/Accounts/AC1/Messages.json', query: '', headers: {} };
    expect(twilio.honoursIdempotencyKey(message, post)).toBe(false);
    // The real answer on the fixture adapter: a $1 money call priced in the request.
    const fake: VendorAdapter = {
      ...adapter,
      name: 'twilio',
      honoursIdempotencyKey: twilio.honoursIdempotencyKey,
      price: () => message,
    };
    const clock = fixedClock(NOW);
    const snapshots = new SnapshotHolder(clock);
    snapshots.apply({
      version: 1,
      compiledAt: clock.now(),
      keys: new Map([
        [
          createHash('sha256').update(TOKEN).digest('hex'),
          {
            uid: 'agents/t',
            namespace: 'agents',
            name: 't',
            vendor: 'twilio',
            tokenFingerprint: 'kb_twilio_…',
            upstream: { kind: 'basic', username: 'AC1', password: 'x' },
            suspended: false,
            policy: {
              ref: 'agents/p',
              limits: { perDayMicros: 100 * USD },
              timezone: 'UTC',
              readsWhenStoreDown: true,
            },
          },
        ],
      ]),
    });
    const counters = new MemoryCounterStore({ clock, sweepIntervalMs: 0 });
    const handle = createPipeline({
      snapshots,
      vendors: { twilio: fake },
      upstreams: { forward: async () => json(201, { sid: 'SM1' }), close: async () => {} },
      counters,
      clock,
      audit: memoryAuditSink(),
      metrics: createProxyMetrics({ snapshotAgeSeconds: () => 0 }),
      log: silentLogger(),
      parseLimits: { maxBytes: 1024, maxDepth: 4, maxParams: 10 },
    });
    for (let i = 0; i < 3; i++) {
      await handle({
        method: 'POST',
        url: '/twilio/2010-04-01/Accounts/AC1/Messages.json',
        headers: { authorization: `Bearer ${TOKEN}`, 'idempotency-key': 'same' },
        body: Buffer.from('To=%2B14155550100&Body=hi'),
      });
    }
    expect(await counters.used('agents/t', 'day:2026-11-26')).toBe(3 * USD);
  });
});

describe('pipeline: lookups are counted, ordered and leased (ADR 0007 §5, §8)', () => {
  const confirm: StripeCall = { path: '/v1/payment_intents/pi_1/confirm', body: '' };
  const update = (token = STRIPE_TOKEN_B): StripeCall => ({
    path: '/v1/payment_intents/pi_1',
    body: 'amount=900000',
    token,
  });

  // The call and its one read count two (ADR 0003, fifth round), both before the read.
  it('counts the call rate before the lookup, the read included, and does no lookup over the rate', async () => {
    let minuteAtLookup: number | undefined;
    const p = stripeProxy({ limits: { perDayMicros: 1_000 * USD, requestsPerMinute: 3 } }, async (req) => {
      if (req.method === 'GET') minuteAtLookup = await p.memory.used('agents/a', MINUTE);
      return stripeLike(req);
    });
    expect(decision(await p.call(confirm))).toBe(decisionHeader('ok'));
    expect(minuteAtLookup).toBe(2);
    expect(await p.memory.used('agents/a', MINUTE)).toBe(2);
    expect(await p.spentToday()).toBe(40 * USD);

    const limited = await p.call(confirm);
    expect(decision(limited)).toBe(decisionHeader('rate_limited'));
    expect(limited.status).toBe(429);
    expect(p.sent).toEqual(['GET /v1/payment_intents/pi_1', 'POST /v1/payment_intents/pi_1/confirm']);
  });

  it.each<[string, Partial<CompiledPolicy>, StripeCall, string[]]>([
    [
      'a plain read without a call rate',
      { limits: { perDayMicros: USD } },
      { method: 'GET', path: '/v1/charges' },
      [],
    ],
    [
      'a plain money call',
      { limits: { perDayMicros: 100 * USD, requestsPerMinute: 9 } },
      { path: '/v1/charges', body: 'amount=100&currency=usd' },
      ['reserve'],
    ],
    [
      'a lookup call',
      { limits: { perDayMicros: 100 * USD, requestsPerMinute: 9 } },
      confirm,
      ['acquireLeases', 'renewLeases', 'reserve', 'releaseLeases'],
    ],
    [
      // An intent's update is read for its customer (tenth round): leased, renewed for the forward.
      'a locked free write read for its customer',
      { limits: { perDayMicros: 100 * USD, requestsPerMinute: 9 } },
      update(TOKEN),
      ['acquireLeases', 'renewLeases', 'releaseLeases'],
    ],
  ])('costs %s exactly these store round trips', async (_name, policy, c, expected) => {
    const p = stripeProxy(policy, stripeLike);
    expect(decision(await p.call(c))).toBe(decisionHeader('ok'));
    expect(p.calls).toEqual(expected);
  });

  it('answers object_busy to an update of an intent a confirm is pricing, for every key of the account', async () => {
    let releaseConfirm!: () => void;
    const held = new Promise<void>((resolve) => {
      releaseConfirm = resolve;
    });
    let confirmArrived!: () => void;
    const arrived = new Promise<void>((resolve) => {
      confirmArrived = resolve;
    });
    const p = stripeProxy({ limits: { perDayMicros: 100_000 * USD } }, async (req) => {
      if (req.pathAndQuery.endsWith('/confirm')) {
        confirmArrived();
        await held;
      }
      return stripeLike(req);
    });
    const inFlight = p.call(confirm);
    await arrived;
    const busy = await p.call(update());
    expect(busy.status).toBe(409);
    expect(decision(busy)).toBe(decisionHeader('object_busy'));
    // Another confirm on the same intent waits too, and does no lookup.
    expect(decision(await p.call(confirm))).toBe(decisionHeader('object_busy'));
    // A vault key holding another secret of the same account meets it too (fourteenth round: leases
    // were the secret's, and a restricted key's raise went out during the confirm's lookup).
    expect(decision(await p.call(update(STRIPE_TOKEN_OTHER_SECRET)))).toBe(decisionHeader('object_busy'));
    // A vault key of another upstream account does not share the lease.
    expect(decision(await p.call(update(STRIPE_TOKEN_OTHER_ACCOUNT)))).toBe(decisionHeader('ok'));
    releaseConfirm();
    expect(decision(await inFlight)).toBe(decisionHeader('ok'));
    expect(decision(await p.call(update()))).toBe(decisionHeader('ok'));
    // The confirm's read, and the read of each update that passed for its customer (tenth round);
    // the busy ones read nothing.
    expect(p.sent.filter((s) => s.startsWith('GET'))).toHaveLength(3);
  });

  // Fourth round: a lease counted from when it was taken expired while the price was looked up; an
  // update got in, and the call was forwarded priced from what the update had just changed.
  it('refuses, forwarding nothing, a call whose lease expired while its price was looked up', async () => {
    let lookupArrived!: () => void;
    const arrived = new Promise<void>((resolve) => {
      lookupArrived = resolve;
    });
    let answerLookup!: () => void;
    const answered = new Promise<void>((resolve) => {
      answerLookup = resolve;
    });
    let held = false;
    const p = stripeProxy({ limits: { perDayMicros: 100_000 * USD } }, async (req) => {
      // Only the confirm's read is held: the update's own read of the intent (for its customer,
      // tenth round) is answered at once.
      if (req.method === 'GET' && !held) {
        held = true;
        lookupArrived();
        await answered;
      }
      return stripeLike(req);
    });
    const inFlight = p.call(confirm);
    await arrived;
    p.clock.advance(35_000);
    // The lease is gone: another call may take it and change what the lookup is reading.
    expect(decision(await p.call(update()))).toBe(decisionHeader('ok'));
    answerLookup();

    const res = await inFlight;
    expect(res.status).toBe(409);
    expect(decision(res)).toBe(decisionHeader('object_busy'));
    expect(p.sent).toEqual([
      'GET /v1/payment_intents/pi_1',
      'GET /v1/payment_intents/pi_1',
      'POST /v1/payment_intents/pi_1',
    ]);
    expect(await p.spentToday()).toBe(0);
  });

  it('holds a renewed lease a full TTL past the renewal, up to the forward', async () => {
    let forwardArrived!: () => void;
    const arrived = new Promise<void>((resolve) => {
      forwardArrived = resolve;
    });
    let answerForward!: () => void;
    const answered = new Promise<void>((resolve) => {
      answerForward = resolve;
    });
    const p = stripeProxy({ limits: { perDayMicros: 100_000 * USD } }, async (req) => {
      if (req.method === 'GET') p.clock.advance(30_000);
      if (req.pathAndQuery.endsWith('/confirm')) {
        forwardArrived();
        await answered;
      }
      return stripeLike(req);
    });
    const inFlight = p.call(confirm);
    await arrived;
    // 30 s + 34.999 s after the lease was taken, 34.999 s after it was renewed before the forward.
    p.clock.advance(34_999);
    expect(decision(await p.call(update()))).toBe(decisionHeader('object_busy'));
    answerForward();
    expect(decision(await inFlight)).toBe(decisionHeader('ok'));
    expect(p.sent.filter((s) => s === 'POST /v1/payment_intents/pi_1')).toEqual([]);
  });

  it('releases the lease of a call denied after it took it', async () => {
    const p = stripeProxy({ limits: { perCallMicros: 10 * USD } }, stripeLike);
    expect(decision(await p.call(confirm))).toBe(decisionHeader('per_call_limit_exceeded'));
    expect(decision(await p.call(update()))).toBe(decisionHeader('ok'));
  });

  it('keeps the lease of a call the upstream did not answer until its TTL', async () => {
    const p = stripeProxy({ limits: { perDayMicros: 100 * USD } }, async (req) =>
      req.pathAndQuery.endsWith('/confirm') ? deny('upstream_timeout') : stripeLike(req),
    );
    expect(decision(await p.call(confirm))).toBe(decisionHeader('upstream_timeout'));
    expect(decision(await p.call(update()))).toBe(decisionHeader('object_busy'));
    p.clock.advance(34_999);
    expect(decision(await p.call(update()))).toBe(decisionHeader('object_busy'));
    p.clock.advance(1);
    expect(decision(await p.call(update()))).toBe(decisionHeader('ok'));
  });

  // A new-user walkthrough: a call whose vendor could not be reached at all still used up the cap.
  it('gives back the lease and the money of a call that never left the proxy', async () => {
    const p = stripeProxy({ limits: { perDayMicros: 100 * USD } }, async (req) =>
      req.pathAndQuery.endsWith('/confirm')
        ? new UnsentDenial('upstream_unavailable', 'not reached (ECONNREFUSED)')
        : stripeLike(req),
    );
    expect(decision(await p.call(confirm))).toBe(decisionHeader('upstream_unavailable'));
    expect(await p.spentToday()).toBe(0);
    expect(decision(await p.call(update()))).toBe(decisionHeader('ok'));
    expect(p.audit.records[0]).toMatchObject({ reason: 'upstream_unavailable', costUsd: '0.00' });
  });

  it('fails closed before any lookup when the store cannot lease', async () => {
    const p = stripeProxy({ limits: { perDayMicros: 100 * USD } }, stripeLike);
    p.memory.acquireLeases = async () => {
      throw new CounterStoreUnavailableError('down');
    };
    const res = await p.call(confirm);
    expect(decision(res)).toBe(decisionHeader('counter_store_unavailable'));
    expect(p.sent).toEqual([]);
  });
});

// Sixth round: one key looped calls refused after their lookups (over its $1 call cap) and, spending
// nothing, held a Price every key of the account shares leased ~90 % of the time.
describe('pipeline: a key refused after its lookup is held off the objects it leased (ADR 0007 §5)', () => {
  const confirm = (token = TOKEN): StripeCall => ({
    path: '/v1/payment_intents/pi_1/confirm',
    body: '',
    token,
  });
  const update = (token = TOKEN): StripeCall => ({
    path: '/v1/payment_intents/pi_1',
    body: 'metadata[a]=1',
    token,
  });
  const messageOf = (res: { body: Buffer | string }) =>
    (JSON.parse(String(res.body)) as { error: { message: string } }).error.message;
  // pi_1 is $40: over this call cap, refused after its read.
  const capped = { limits: { perCallMicros: 10 * USD } };

  it('refuses its next call on the object 429 before any lease or read, while other keys pass', async () => {
    const p = stripeProxy(capped, stripeLike);
    expect(decision(await p.call(confirm()))).toBe(decisionHeader('per_call_limit_exceeded'));
    expect(p.sent).toEqual(['GET /v1/payment_intents/pi_1']);
    p.calls.length = 0;

    const held = await p.call(confirm());
    expect(held.status).toBe(429);
    expect(decision(held)).toBe(decisionHeader('rate_limited'));
    expect(messageOf(held)).toContain(
      "this key's last call on pi_1 was refused after its price lookup, having held pi_1 while spending nothing",
    );
    expect(messageOf(held)).toContain('retry after 250 ms');
    // A write of the same key that would lease pi_1 waits too.
    expect(decision(await p.call(update()))).toBe(decisionHeader('rate_limited'));
    expect(p.sent).toEqual(['GET /v1/payment_intents/pi_1']);
    expect(p.calls).toEqual([]);

    // Another key of the same account is not held off, and its lease is free.
    expect(decision(await p.call(update(STRIPE_TOKEN_B)))).toBe(decisionHeader('ok'));
    // Its update reads the intent for its customer first (tenth round).
    expect(p.sent).toEqual([
      'GET /v1/payment_intents/pi_1',
      'GET /v1/payment_intents/pi_1',
      'POST /v1/payment_intents/pi_1',
    ]);
  });

  it('doubles the wait with each further refusal after a lookup, and starts over after a call that passed', async () => {
    const p = stripeProxy(capped, stripeLike);
    const waitAfterRefusal = async () => {
      expect(decision(await p.call(confirm()))).toBe(decisionHeader('per_call_limit_exceeded'));
      const held = await p.call(confirm());
      expect(decision(held)).toBe(decisionHeader('rate_limited'));
      return Number(/retry after (\d+) ms/.exec(messageOf(held))?.[1]);
    };
    const waits: number[] = [];
    for (let i = 0; i < 3; i++) {
      const wait = await waitAfterRefusal();
      waits.push(wait);
      p.clock.advance(wait);
    }
    expect(waits).toEqual([250, 500, 1_000]);
    // A write of pi_1 the vendor took: the key used its lease for something, and starts over.
    expect(decision(await p.call(update()))).toBe(decisionHeader('ok'));
    expect(await waitAfterRefusal()).toBe(250);
  });

  const intent = (amount: number) =>
    json(200, { id: 'pi_1', object: 'payment_intent', amount, currency: 'usd' });
  it.each<[string, Upstream]>([
    ['its read timed out (upstream_timeout)', async () => deny('upstream_timeout')],
    [
      'the vendor refused it (402)',
      async (req) => (req.method === 'GET' ? intent(500) : json(402, { error: { type: 'card_error' } })),
    ],
  ])('holds a key off after a refusal of its own, not after %s', async (_name, firstCall) => {
    let calls = 0;
    const p = stripeProxy(capped, async (req) => {
      if (req.method === 'GET') calls++;
      return calls === 1 ? firstCall(req) : intent(4000);
    });
    expect(decision(await p.call(confirm()))).not.toBe(decisionHeader('per_call_limit_exceeded'));
    // Read again: the first call did not hold the key off.
    expect(decision(await p.call(confirm()))).toBe(decisionHeader('per_call_limit_exceeded'));
    expect(calls).toBe(2);
    expect(decision(await p.call(confirm()))).toBe(decisionHeader('rate_limited'));
    expect(calls).toBe(2);
  });

  // A call whose read finds a held-off object must not keep the objects it leased before that read.
  it('holds a key off the object it leased before its read found one it is held off', async () => {
    const p = stripeProxy(capped, async (req) =>
      req.pathAndQuery.startsWith('/v1/charges/ch_1') && req.method === 'GET'
        ? json(200, { id: 'ch_1', object: 'charge', amount: 4000, currency: 'usd', payment_intent: 'pi_1' })
        : stripeLike(req),
    );
    const capture: StripeCall = { path: '/v1/charges/ch_1/capture', body: '' };
    expect(decision(await p.call(confirm()))).toBe(decisionHeader('per_call_limit_exceeded'));
    const found = await p.call(capture);
    expect(decision(found)).toBe(decisionHeader('rate_limited'));
    expect(messageOf(found)).toContain('pi_1');
    expect(p.sent).toEqual(['GET /v1/payment_intents/pi_1', 'GET /v1/charges/ch_1']);

    const again = await p.call(capture);
    expect(decision(again)).toBe(decisionHeader('rate_limited'));
    expect(messageOf(again)).toContain("this key's last call on ch_1");
    expect(p.sent).toEqual(['GET /v1/payment_intents/pi_1', 'GET /v1/charges/ch_1']);
  });
});

// Fifth round: with Redis down, six deletes of a customer and free creates passed uncounted and past
// requestsPerMinute; every call that was not money-moving had the reads' exception.
describe('pipeline: while the counter store cannot answer, only reads pass', () => {
  const deleteEntry = { endpoints: [compileEndpointPattern('DELETE /v1/customers/{customer}')] };
  it.each<[string, Partial<CompiledPolicy>, StripeCall, Reason]>([
    [
      'refuses a destructive call',
      { ...deleteEntry, limits: { requestsPerMinute: 5 } },
      { method: 'DELETE', path: '/v1/customers/cus_x' },
      'counter_store_unavailable',
    ],
    [
      'refuses a destructive call on a key without a call rate',
      deleteEntry,
      { method: 'DELETE', path: '/v1/customers/cus_x' },
      'counter_store_unavailable',
    ],
    [
      'refuses a free write',
      { limits: { requestsPerMinute: 5 } },
      { path: '/v1/customers', body: 'email=a%40example.com' },
      'counter_store_unavailable',
    ],
    [
      'refuses a free write on a key without a call rate',
      {},
      { path: '/v1/customers', body: 'email=a%40example.com' },
      'counter_store_unavailable',
    ],
    [
      'lets a read through',
      { limits: { requestsPerMinute: 5 } },
      { method: 'GET', path: '/v1/customers/cus_x' },
      'ok',
    ],
    [
      'lets a read on a key without a call rate through',
      {},
      { method: 'GET', path: '/v1/customers/cus_x' },
      'ok',
    ],
    [
      'refuses a read under readsWhenCountersDown: deny',
      { readsWhenStoreDown: false },
      { method: 'GET', path: '/v1/customers/cus_x' },
      'counter_store_unavailable',
    ],
  ])('%s', async (_what, policy, call, reason) => {
    const p = stripeProxy(policy, async () => json(200, { id: 'cus_x', object: 'customer' }));
    p.memory.available = () => false;
    p.memory.reserve = async () => {
      throw new CounterStoreUnavailableError('down');
    };
    expect(decision(await p.call(call))).toBe(decisionHeader(reason));
    expect(p.sent).toEqual(reason === 'ok' ? [`${call.method ?? 'POST'} ${call.path}`] : []);
  });
});

describe('pipeline: a Stripe client secret never reaches the agent', () => {
  const SECRET = 'pi_9_secret_Zx9yW8vU7';
  const intent = { id: 'pi_9', object: 'payment_intent', amount: 1000, currency: 'usd' };

  it.each<[string, UpstreamResponse]>([
    ['a created intent', json(200, { ...intent, client_secret: SECRET })],
    [
      'a card error',
      json(402, { error: { type: 'card_error', payment_intent: { ...intent, client_secret: SECRET } } }),
    ],
  ])(
    'answers %s with the client secret withheld, and counts the call as the vendor answered it',
    async (_what, res) => {
      const p = stripeProxy({ limits: { perDayMicros: 100 * USD } }, async () => res);
      const answer = await p.call({
        path: '/v1/payment_intents',
        body: 'amount=1000&currency=usd&confirm=true',
      });
      expect(answer.status).toBe(res.status);
      const body = String(answer.body);
      expect(body).not.toContain(SECRET);
      expect(JSON.stringify(JSON.parse(body))).toContain('"client_secret":"withheld_by_keybrake"');
      expect(p.sent).toEqual(['POST /v1/payment_intents']);
      expect(await p.spentToday()).toBe(res.status === 200 ? 10 * USD : 0);
    },
  );

  it('withholds whole an answer that is not JSON but carries one (fail closed)', async () => {
    const p = stripeProxy({}, async () => ({
      status: 200,
      headers: { 'content-type': 'text/html', 'request-id': 'req_1' },
      body: Buffer.from(`<a href="/pay?client_secret=${SECRET}">pay</a>`),
    }));
    const answer = await p.call({ method: 'GET', path: '/v1/payment_intents/pi_9' });
    expect(decision(answer)).toBe(decisionHeader('credential_in_response'));
    expect(String(answer.body)).not.toContain(SECRET);
    expect(p.audit.records.at(-1)).toMatchObject({
      reason: 'credential_in_response',
      upstreamRequestId: null,
    });
  });
});

// Eleventh round (headers probe): a vendor that takes the caller's X-Request-Id as its own, keeping
// only the characters Rails' ActionDispatch::RequestId keeps, rebuilds a token the caller split.
describe('pipeline: a vendor request id holding a Keybrake key is not recorded', () => {
  const reflecting: Upstream = async (req) => {
    const asked = req.headers['x-request-id'];
    const id = String(Array.isArray(asked) ? asked[0] : (asked ?? 'req_1')).replace(/[^\w@-]/g, '');
    return { ...json(200, { id: 'cus_1', object: 'customer' }), headers: { 'request-id': id } };
  };
  // Split five times: a token with one character added is a near miss of it, refused as a header
  // (thirteenth round, below), and so is one with up to three in its body, or two for another key's
  // (fourteenth round): past those the vendor's rebuilding is what this test is about.
  const split = (token: string) =>
    [0, 10, 17, 24, 31, 38].map((at, i, all) => token.slice(at, all[i + 1])).join('.');
  const minted = newToken('stripe', { random: () => new Uint8Array(24).fill(11) });

  it.each([
    ['the credential presented', TOKEN],
    ["another key's vault token", minted],
  ])('%s rebuilt by the vendor from a split one', async (_what, token) => {
    const p = stripeProxy({}, reflecting);
    const answer = await p.call({
      method: 'GET',
      path: '/v1/customers/cus_1',
      headers: { 'x-request-id': split(token) },
    });
    expect(decision(answer)).toBe(decisionHeader('ok'));
    expect(p.sent).toEqual(['GET /v1/customers/cus_1']);
    const record = p.audit.records.at(-1);
    expect(record).toMatchObject({ reason: 'ok', upstreamRequestId: null });
    expect(JSON.stringify(record)).not.toContain(token);
  });

  // Thirteenth round: the presented token with one character added is as good as the token (its
  // checksum finds which one), so it is a key in a header: refused before anything is sent.
  it('refuses the credential presented with one character added, before anything is sent', async () => {
    const p = stripeProxy({}, reflecting);
    const answer = await p.call({
      method: 'GET',
      path: '/v1/customers/cus_1',
      headers: { 'x-request-id': `${TOKEN.slice(0, 20)}.${TOKEN.slice(20)}` },
    });
    expect(decision(answer)).toBe(decisionHeader('header_invalid'));
    expect(p.sent).toEqual([]);
  });

  it('an ordinary request id is still recorded', async () => {
    const p = stripeProxy({}, reflecting);
    await p.call({ method: 'GET', path: '/v1/customers/cus_1', headers: { 'x-request-id': 'req_abc' } });
    expect(p.audit.records.at(-1)).toMatchObject({ reason: 'ok', upstreamRequestId: 'req_abc' });
  });
});
