// Transparency: an allowed call through Keybrake gets exactly the answer Stripe would give. Each of the
// calls below is made twice with the real stripe SDK: straight to stripe-mock (Stripe's own mock,
// answering from Stripe's own API definition) and through `keybrake serve` (the real CLI) to the same
// stripe-mock. Status, JSON body and response headers must be equal; the one header Keybrake adds is
// `Keybrake-Decision`.
//
// What is normalised, and why (nothing else is):
// - the id of an object a call creates: stripe-mock makes a fresh random id for every created object
//   (`cus_Rn2p…`), so the two answers name different ids. Every occurrence of the created object's id in
//   each answer (its `id`, and where the object repeats it: a file's `filename`, its links' `file`, a
//   payment intent's `client_secret`) becomes `<created id>`; every other byte is compared as is.
// - what Keybrake withholds on purpose (docs/vendors/stripe.md, "Answers"): in the direct answer, every
//   `client_secret`, `password`, `hosted_invoice_url` and `invoice_pdf` value, every string shaped like
//   a client secret and a file link's `url` becomes `withheld_by_keybrake`, as Keybrake's answer has it.
// - response headers that belong to one hop, not to the answer: `Date` (the clock), `Connection` and
//   `Keep-Alive` (each hop's connection management, RFC 9110 §7.6.1), `Content-Length` and
//   `Transfer-Encoding` (each hop's message framing, RFC 9112 §6: stripe-mock streams bodies over 4 KiB
//   chunked, Keybrake answers with a length). Every other header (`Request-Id`, `Idempotency-Key`,
//   `Stripe-Mock-Version`, `Content-Type`) is compared.
// Both calls of a pair send the same Idempotency-Key (stripe-mock echoes it in a header), so it needs no
// normalising.
import { randomBytes } from 'node:crypto';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newToken } from '../../src/tokens/token.ts';
import { type KeybrakeProcess, manifestDir, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { type RecordingRelay, startRecordingRelay } from '../env/recording-relay.ts';
import { type StripeMock, startStripeMock } from '../env/stripe-mock.ts';
import { bodyOf, tapAgent } from './fixtures/http.ts';
import { stripeKey, yamlDocuments } from './fixtures/stripe-manifests.ts';

const UPSTREAM_KEY = `sk_test_tr${randomBytes(12).toString('hex')}`;
const token = newToken('stripe');

/**
 * A caps-only policy in spirit: a generous day cap, every glob-admissible operation (reads, writes,
 * priced money) and the three destructive deletes this suite makes, which Keybrake admits only by
 * an exact entry (ADR 0007 §1).
 */
const DELETES = [
  'DELETE /v1/customers/{customer}',
  'DELETE /v1/products/{id}',
  'DELETE /v1/coupons/{coupon}',
];
const MANIFESTS = yamlDocuments(
  ...stripeKey({
    name: 'transparency',
    token,
    upstreamKey: UPSTREAM_KEY,
    limits: { perDayUsd: '100000' },
    allow: { endpoints: ['GET /v1/**', 'POST /v1/**', ...DELETES] },
  }),
);

/** What a caller can observe of one call. */
interface Answer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: unknown;
  /** Collected with `for await`: the items of every page, no single response's headers. */
  readonly paged?: true;
}

type Opts = Stripe.RequestOptions;
interface Call {
  readonly name: string;
  /** The call creates an object: its generated id is normalised (see the header comment). */
  readonly creates?: boolean;
  readonly run: (s: Stripe, o: Opts) => Promise<Answer>;
}

/** One object (or list page) and its response. */
async function one(p: Promise<Stripe.Response<object>>): Promise<Answer> {
  try {
    const res = await p;
    return {
      status: res.lastResponse.statusCode,
      headers: { ...(res.lastResponse.headers as Record<string, string>) },
      body: JSON.parse(JSON.stringify(res)),
    };
  } catch (err) {
    if (!(err instanceof Stripe.errors.StripeError)) throw err;
    // stripe-node keeps the parsed `error` object's fields; `rawType` is its `type`.
    const { rawType, code, message, param, statusCode } = err;
    return {
      status: statusCode ?? 0,
      headers: { ...(err.headers as Record<string, string>) },
      body: { error: { type: rawType, code, message, param } },
    };
  }
}

/** Every item of a list, fetched the way stripe-node pages through it (`for await`). */
async function every<T>(list: AsyncIterable<T>): Promise<Answer> {
  const items: T[] = [];
  for await (const item of list) items.push(item);
  return { status: 200, headers: {}, body: JSON.parse(JSON.stringify(items)), paged: true };
}

const CUS = 'cus_transparency1';
const PROD = 'prod_transparency1';
const PRICE = 'price_transparency1';

const CALLS: Call[] = [
  // Customers: create, retrieve, expand, update, list (auto-paginated and with a nested expand),
  // search (a page, and auto-paginated), delete.
  {
    name: 'customers.create',
    creates: true,
    run: (s, o) =>
      one(
        s.customers.create(
          { email: 'ada@example.com', name: 'Ada Lovelace', metadata: { tier: 'gold', note: 'café & co' } },
          o,
        ),
      ),
  },
  { name: 'customers.retrieve', run: (s, o) => one(s.customers.retrieve(CUS, {}, o)) },
  {
    name: 'customers.retrieve (expand default_source, test_clock)',
    run: (s, o) => one(s.customers.retrieve(CUS, { expand: ['default_source', 'test_clock'] }, o)),
  },
  {
    name: 'customers.update',
    run: (s, o) => one(s.customers.update(CUS, { description: 'VIP – café', metadata: { tier: 'p' } }, o)),
  },
  { name: 'customers.list (for await)', run: (s, o) => every(s.customers.list({ limit: 3 }, o)) },
  {
    name: 'customers.list (expand data.default_source)',
    run: (s, o) => one(s.customers.list({ limit: 2, expand: ['data.default_source'] }, o)),
  },
  {
    name: 'customers.search',
    run: (s, o) => one(s.customers.search({ query: "email:'ada@example.com'", limit: 5 }, o)),
  },
  {
    name: 'customers.search (for await)',
    run: (s, o) => every(s.customers.search({ query: "metadata['tier']:'gold'" }, o)),
  },
  { name: 'customers.listPaymentMethods', run: (s, o) => one(s.customers.listPaymentMethods(CUS, {}, o)) },
  { name: 'customers.del', run: (s, o) => one(s.customers.del(CUS, {}, o)) },
  // Products and prices.
  {
    name: 'products.create',
    creates: true,
    run: (s, o) => one(s.products.create({ name: 'Gold plan', metadata: { sku: 'g-1' } }, o)),
  },
  { name: 'products.retrieve', run: (s, o) => one(s.products.retrieve(PROD, {}, o)) },
  { name: 'products.update', run: (s, o) => one(s.products.update(PROD, { description: 'Shiny' }, o)) },
  { name: 'products.list (for await)', run: (s, o) => every(s.products.list({ active: true }, o)) },
  { name: 'products.search', run: (s, o) => one(s.products.search({ query: "active:'true'" }, o)) },
  { name: 'products.del', run: (s, o) => one(s.products.del(PROD, {}, o)) },
  {
    name: 'prices.create',
    creates: true,
    run: (s, o) =>
      one(
        s.prices.create(
          { product: PROD, unit_amount: 1500, currency: 'usd', recurring: { interval: 'month' } },
          o,
        ),
      ),
  },
  {
    name: 'prices.retrieve (expand product)',
    run: (s, o) => one(s.prices.retrieve(PRICE, { expand: ['product'] }, o)),
  },
  { name: 'prices.update', run: (s, o) => one(s.prices.update(PRICE, { nickname: 'monthly' }, o)) },
  { name: 'prices.list', run: (s, o) => one(s.prices.list({ limit: 3, currency: 'usd' }, o)) },
  { name: 'prices.search', run: (s, o) => one(s.prices.search({ query: "currency:'usd'" }, o)) },
  // Coupons, including the destructive delete.
  {
    name: 'coupons.create',
    creates: true,
    run: (s, o) => one(s.coupons.create({ percent_off: 25, duration: 'once', name: 'Spring' }, o)),
  },
  { name: 'coupons.retrieve', run: (s, o) => one(s.coupons.retrieve('SPRING25', {}, o)) },
  { name: 'coupons.list (for await)', run: (s, o) => every(s.coupons.list({ limit: 5 }, o)) },
  { name: 'coupons.del', run: (s, o) => one(s.coupons.del('SPRING25', {}, o)) },
  // Payment intents: money priced from the request, fixtures for reads.
  {
    name: 'paymentIntents.create',
    creates: true,
    run: (s, o) =>
      one(
        s.paymentIntents.create(
          { amount: 2000, currency: 'usd', description: 'Order #42', metadata: { order: '42' } },
          o,
        ),
      ),
  },
  { name: 'paymentIntents.retrieve', run: (s, o) => one(s.paymentIntents.retrieve('pi_123', {}, o)) },
  {
    name: 'paymentIntents.retrieve (expand latest_charge, customer)',
    run: (s, o) => one(s.paymentIntents.retrieve('pi_123', { expand: ['latest_charge', 'customer'] }, o)),
  },
  {
    name: 'paymentIntents.update',
    run: (s, o) => one(s.paymentIntents.update('pi_123', { description: 'Order #42' }, o)),
  },
  { name: 'paymentIntents.list (for await)', run: (s, o) => every(s.paymentIntents.list({ limit: 10 }, o)) },
  {
    name: 'paymentIntents.search',
    run: (s, o) => one(s.paymentIntents.search({ query: "status:'succeeded'" }, o)),
  },
  {
    name: 'paymentIntents.cancel',
    run: (s, o) =>
      one(s.paymentIntents.cancel('pi_123', { cancellation_reason: 'requested_by_customer' }, o)),
  },
  // Charges and refunds.
  {
    name: 'charges.create',
    creates: true,
    run: (s, o) =>
      one(
        s.charges.create(
          { amount: 1500, currency: 'eur', source: 'tok_visa', description: 'Order #42 – café & co' },
          o,
        ),
      ),
  },
  {
    name: 'charges.retrieve (expand balance_transaction)',
    run: (s, o) => one(s.charges.retrieve('ch_1', { expand: ['balance_transaction'] }, o)),
  },
  {
    name: 'charges.update',
    run: (s, o) => one(s.charges.update('ch_1', { metadata: { shipped: 'yes' } }, o)),
  },
  { name: 'charges.list (for await)', run: (s, o) => every(s.charges.list({ limit: 5 }, o)) },
  { name: 'charges.search', run: (s, o) => one(s.charges.search({ query: 'amount>999' }, o)) },
  {
    name: 'refunds.create (an amount)',
    creates: true,
    run: (s, o) => one(s.refunds.create({ charge: 'ch_1', amount: 50 }, o)),
  },
  {
    name: 'refunds.create (priced by looking up the payment intent)',
    creates: true,
    run: (s, o) => one(s.refunds.create({ payment_intent: 'pi_123' }, o)),
  },
  { name: 'refunds.retrieve', run: (s, o) => one(s.refunds.retrieve('re_1', {}, o)) },
  { name: 'refunds.list', run: (s, o) => one(s.refunds.list({ charge: 'ch_1' }, o)) },
  // Balance, events, files (reads; the upload is its own test below).
  { name: 'balance.retrieve', run: (s, o) => one(s.balance.retrieve({}, o)) },
  {
    name: 'balanceTransactions.list (for await)',
    run: (s, o) => every(s.balanceTransactions.list({ limit: 2 }, o)),
  },
  { name: 'events.list', run: (s, o) => one(s.events.list({ type: 'charge.succeeded' }, o)) },
  { name: 'events.retrieve', run: (s, o) => one(s.events.retrieve('evt_1', {}, o)) },
  // An upload is a multipart/form-data body (the one Stripe operation that takes only that); stripe-node
  // sends it to the configured host, so it reaches Keybrake like every other call.
  {
    name: 'files.create (a multipart upload)',
    creates: true,
    run: (s, o) =>
      one(
        s.files.create(
          {
            purpose: 'dispute_evidence',
            file: {
              data: Buffer.from('receipt #42\ncafé – 12 €\r\n'),
              name: 'receipt.txt',
              type: 'text/plain',
            },
            expand: ['links'],
            file_link_data: { create: false },
          },
          o,
        ),
      ),
  },
  { name: 'files.list', run: (s, o) => one(s.files.list({ purpose: 'dispute_evidence' }, o)) },
  { name: 'files.retrieve', run: (s, o) => one(s.files.retrieve('file_1', {}, o)) },
  // Invoices and subscriptions (reads).
  {
    name: 'invoices.retrieve (expand customer)',
    run: (s, o) => one(s.invoices.retrieve('in_1', { expand: ['customer'] }, o)),
  },
  { name: 'invoices.list (for await)', run: (s, o) => every(s.invoices.list({ customer: CUS }, o)) },
  { name: 'invoices.search', run: (s, o) => one(s.invoices.search({ query: "status:'open'" }, o)) },
  { name: 'subscriptions.list', run: (s, o) => one(s.subscriptions.list({ status: 'active' }, o)) },
  { name: 'subscriptions.retrieve', run: (s, o) => one(s.subscriptions.retrieve('sub_1', {}, o)) },
  // Stripe's own refusal of a parameter its definition does not know passes through unchanged.
  {
    name: 'customers.create with an unknown parameter (Stripe answers 400)',
    run: (s, o) => one(s.customers.create({ email: 'x@example.com', not_a_param: 'x' } as never, o)),
  },
];

const HOP_HEADERS = ['date', 'connection', 'keep-alive', 'content-length', 'transfer-encoding'];

/**
 * A direct answer's body as Keybrake passes it on: its client secrets and passwords withheld, an
 * invoice's hosted page and PDF, and the `url` of a file link (tenth round: a public download).
 */
function withheld(value: unknown, key = ''): unknown {
  if (typeof value === 'string') {
    const secret =
      ['client_secret', 'password', 'hosted_invoice_url', 'invoice_pdf'].includes(key) ||
      /_secret_[A-Za-z0-9]/.test(value);
    return secret ? 'withheld_by_keybrake' : value;
  }
  if (Array.isArray(value)) return value.map((v) => withheld(v));
  if (typeof value !== 'object' || value === null) return value;
  const fields = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withheld(v, k)]));
  const isFileLink = fields['object'] === 'file_link' && typeof fields['url'] === 'string';
  return isFileLink ? { ...fields, url: 'withheld_by_keybrake' } : fields;
}

/** The header comment's normalisations. */
function normalise(answer: Answer, creates: boolean): Answer {
  let text = JSON.stringify(answer.body);
  const id = (answer.body as { id?: unknown }).id;
  if (creates && typeof id === 'string') text = text.split(id).join('<created id>');
  const headers = { ...answer.headers };
  for (const name of HOP_HEADERS) delete headers[name];
  return { status: answer.status, headers, body: JSON.parse(text) };
}

let mock: StripeMock;
let relay: RecordingRelay;
let dir: Awaited<ReturnType<typeof manifestDir>>;
let kb: KeybrakeProcess;
let direct: Stripe;
let via: Stripe;

beforeAll(async () => {
  mock = await startStripeMock();
  relay = await startRecordingRelay(mock.url);
  dir = await manifestDir({ 'keys.yaml': MANIFESTS });
  kb = await startKeybrake(serveArgs(dir.dir, { stripe: relay.url }));
  const base = { host: '127.0.0.1', protocol: 'http', maxNetworkRetries: 0 } as const;
  direct = new Stripe(UPSTREAM_KEY, { ...base, port: mock.port });
  via = new Stripe(token, { ...base, port: Number(new URL(kb.urls.stripe!).port) });
});

afterAll(async () => {
  await kb?.stop();
  await relay?.close();
  await mock?.stop();
  await dir?.remove();
});

describe('the same answer with and without Keybrake (stripe-node → stripe-mock)', () => {
  it('makes at least 40 distinct calls across resources', () => {
    expect(new Set(CALLS.map((c) => c.name)).size).toBe(CALLS.length);
    expect(CALLS.length).toBeGreaterThanOrEqual(40);
  });

  it.each(CALLS.map((c) => [c.name, c] as const))('%s', async (_name, call) => {
    const traceId = randomBytes(16).toString('hex');
    const opts: Opts = {
      idempotencyKey: `transparency-${randomBytes(8).toString('hex')}`,
      headers: { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` },
    };
    const straight = await call.run(direct, opts);
    const forwarded = relay.requests.length;
    const through = await call.run(via, opts);

    // The call really went through Keybrake, which allowed it, and reached stripe-mock.
    expect(relay.requests.length).toBeGreaterThan(forwarded);
    await kb.waitForAudit((r) => r.traceId === traceId);
    const records = kb.audit.filter((r) => r.traceId === traceId);
    expect(records.map((r) => `${r.decision}; reason=${r.reason}`)).toEqual(
      records.map(() => 'allow; reason=ok'),
    );
    const { 'keybrake-decision': decision, ...throughHeaders } = through.headers;
    // An auto-paginated list has no single response: its pages' decisions are in the audit above.
    if (!through.paged) expect(decision).toBe('allow; reason=ok');
    const a = normalise({ ...straight, body: withheld(straight.body) }, call.creates === true);
    const b = normalise({ ...through, headers: throughHeaders }, call.creates === true);
    expect(b.status).toBe(a.status);
    expect(b.body).toEqual(a.body);
    expect(b.headers).toEqual(a.headers);
  });

  // The upload's body reaches Stripe as stripe-node wrote it: Keybrake reads the multipart fields to
  // judge the call and forwards the bytes unchanged, the file's included.
  it('forwards an upload byte for byte, and audits it as stripe.files.create', async () => {
    const tap = tapAgent();
    const port = Number(new URL(kb.urls.stripe!).port);
    const tapped = new Stripe(token, {
      host: '127.0.0.1',
      protocol: 'http',
      port,
      maxNetworkRetries: 0,
      httpAgent: tap.agent,
    });
    const traceId = randomBytes(16).toString('hex');
    const data = Buffer.from('%PDF-1.4\n--boundary-lookalike\r\n\u00e9t\u00e9\n');
    const forwarded = relay.requests.length;
    const through = await one(
      tapped.files.create(
        { purpose: 'identity_document', file: { data, name: 'id.pdf', type: 'application/pdf' } },
        { headers: { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` } },
      ),
    );
    tap.agent.destroy();
    expect(through.status).toBe(200);
    expect(through.headers['keybrake-decision']).toBe('allow; reason=ok');
    expect(relay.requests.length).toBe(forwarded + 1);
    const upstream = relay.requests.at(-1)!;
    expect(upstream.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    expect(upstream.body).toBe(bodyOf(tap.sent()));
    expect(upstream.body).toContain(data.toString('utf8'));
    expect(await kb.waitForAudit((r) => r.traceId === traceId)).toMatchObject({
      decision: 'allow',
      operation: 'stripe.files.create',
      costUsd: '0.00',
    });
  });

  // file_link_data makes Stripe create a public link to the file with it: the sensitive
  // stripe.file_links.create, which Keybrake never allows (ADR 0007 §1), however it is asked for.
  it('refuses an upload that would also create a file link (credential_operation) and forwards nothing', async () => {
    const upload = (s: Stripe) =>
      one(
        s.files.create({
          purpose: 'dispute_evidence',
          file: { data: Buffer.from('receipt #42\n'), name: 'receipt.txt', type: 'text/plain' },
          file_link_data: { create: true },
        }),
      );
    const straight = await upload(direct);
    expect(straight.status).toBe(200);
    const forwarded = relay.requests.length;
    const through = await upload(via);
    expect(through.status).toBe(403);
    expect(through.headers['keybrake-decision']).toBe('deny; reason=credential_operation');
    expect(through.body).toMatchObject({ error: { code: 'credential_operation' } });
    expect(relay.requests.length).toBe(forwarded);
  });

  it('gives the upstream the real key, never the vault token', () => {
    expect(relay.requests.length).toBeGreaterThanOrEqual(CALLS.length);
    for (const r of relay.requests) {
      expect(r.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
      expect(JSON.stringify(r)).not.toContain(token);
    }
  });
});
