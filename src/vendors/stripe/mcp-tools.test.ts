import { createRequire } from 'node:module';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { subscriptionAnswer } from '../../../test/fixtures/stripe-subscription.ts';
import { isDenial } from '../../decision/reasons.ts';
import { loadExchangeRates } from '../../money/exchange-rates.ts';
import { AUTHORIZE_CHAIN, authorize } from '../../proxy/stages/authorize.ts';
import type { CompiledKey, CompiledPolicy } from '../../snapshot/types.ts';
import type { CostLookup, Operation } from '../types.ts';
import { createStripeAdapter } from './index.ts';

// What the official Stripe MCP server (@stripe/mcp 0.2.5: agent-toolkit 0.7.12, stripe-node 17.7,
// API 2025-02-24.acacia) sends for each of its tools, captured from its own code with a recording
// fetch, then parsed, classified and priced by the Stripe adapter and authorised under a caps-only
// policy (limits, no allowlists): every tool passes, and its money tools are priced.

const ROOT = path.resolve(import.meta.dirname, '../../..');
const require = createRequire(path.join(ROOT, 'node_modules/@stripe/mcp/package.json'));
const toolkitRequire = createRequire(require.resolve('@stripe/agent-toolkit/modelcontextprotocol'));

interface Sent {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly headers: Record<string, string>;
  readonly body: string;
}

type Run = (method: string, arg: Record<string, unknown>) => Promise<string>;

const rates = loadExchangeRates();
const adapter = createStripeAdapter({ rates });
const limits = { maxBytes: 65_536, maxDepth: 8, maxParams: 512 };
const capsOnly: CompiledPolicy = {
  ref: 'agents/caps-only',
  limits: { perCallMicros: 500_000_000, perDayMicros: 2_000_000_000 },
  timezone: 'UTC',
  readsWhenStoreDown: true,
};

const sent: Sent[] = [];
let run: Run;

// Stripe-shaped answers for the tools' own calls and for Keybrake's lookups.
const invoice = {
  object: 'invoice',
  id: 'in_1',
  amount_due: 2000,
  currency: 'usd',
  customer: 'cus_1',
  collection_method: 'send_invoice',
  status: 'draft',
  default_tax_rates: [],
  automatic_tax: { enabled: false },
};
const ANSWERS: Record<string, unknown> = {
  'GET /v1/prices/price_1': {
    object: 'price',
    id: 'price_1',
    currency: 'usd',
    unit_amount: 2000,
    unit_amount_decimal: '2000',
    billing_scheme: 'per_unit',
  },
  // Read for its product before a preview that names it (ADR 0007 §5, seventh round).
  'GET /v1/prices/price_2': { object: 'price', id: 'price_2', product: 'prod_2' },
  'GET /v1/invoices/in_1': invoice,
  // Read under its lease before a preview of a change of it, for its customer and items (seventh round).
  'GET /v1/subscriptions/sub_1': subscriptionAnswer('sub_1'),
  'GET /v1/payment_intents/pi_1': {
    object: 'payment_intent',
    id: 'pi_1',
    amount: 5000,
    amount_received: 5000,
    currency: 'usd',
    customer: 'cus_1',
  },
  // A dispute names its charge, never a customer: the charge is read for that (eleventh round).
  'GET /v1/disputes/dp_1': {
    object: 'dispute',
    id: 'dp_1',
    charge: 'ch_1',
    payment_intent: null,
    currency: 'usd',
  },
  'GET /v1/charges/ch_1': { object: 'charge', id: 'ch_1', customer: 'cus_1', currency: 'usd' },
  'POST /v1/invoices/create_preview': {
    object: 'invoice',
    amount_due: 1000,
    currency: 'usd',
    customer: 'cus_1',
    collection_method: 'charge_automatically',
  },
};

function answerFor(method: string, p: string): unknown {
  return (
    ANSWERS[`${method} ${p}`] ?? {
      object: p.split('/')[2] === 'invoices' ? 'invoice' : 'list',
      id: 'obj_1',
      data: [],
      has_more: false,
      url: p,
      ...(p.startsWith('/v1/invoices') ? invoice : {}),
    }
  );
}

beforeAll(() => {
  const Stripe = toolkitRequire('stripe') as {
    new (key: string, opts: Record<string, unknown>): unknown;
    createFetchHttpClient(fetch: unknown): unknown;
  };
  const { StripeAgentToolkit } = toolkitRequire('@stripe/agent-toolkit/modelcontextprotocol') as {
    StripeAgentToolkit: new (o: unknown) => { _stripe: { stripe: unknown; run: Run } };
  };
  const fetch = async (
    url: string,
    init: { method: string; headers: Record<string, string>; body?: string },
  ) => {
    const u = new URL(url);
    sent.push({
      method: init.method,
      path: u.pathname,
      query: u.search.slice(1),
      headers: Object.fromEntries(Object.entries(init.headers).map(([k, v]) => [k.toLowerCase(), String(v)])),
      body: init.body ?? '',
    });
    return new Response(JSON.stringify(answerFor(init.method, u.pathname)), {
      status: 200,
      headers: { 'content-type': 'application/json', 'request-id': 'req_1' },
    });
  };
  // The server's own configuration for --tools=all (dist/index.js: every accepted tool).
  const actions = Object.fromEntries(
    [
      'coupons',
      'customers',
      'products',
      'prices',
      'paymentLinks',
      'invoices',
      'invoiceItems',
      'balance',
      'refunds',
      'paymentIntents',
      'subscriptions',
      'disputes',
    ].map((r) => [r, { create: true, read: true, update: true }]),
  );
  const toolkit = new StripeAgentToolkit({
    secretKey: 'sk_test_mcp',
    configuration: { actions, context: { mode: 'modelcontextprotocol' } },
  });
  toolkit._stripe.stripe = new Stripe('sk_test_mcp', {
    httpClient: Stripe.createFetchHttpClient(fetch),
    maxNetworkRetries: 0,
  });
  run = (method, arg) => toolkit._stripe.run(method, arg);
});

afterEach(() => {
  sent.length = 0;
});

/** The one request a tool sent, as the Stripe adapter parses and prices it. */
function priced(): { sent: Sent; op: Operation } {
  expect(sent).toHaveLength(1);
  const s = sent[0]!;
  const req = { method: s.method, path: s.path, query: s.query, headers: s.headers };
  const params = adapter.parse(req, Buffer.from(s.body), limits);
  if (isDenial(params)) throw new Error(`parse denied ${params.reason}: ${params.message}`);
  const op = adapter.price(req, params, { policy: capsOnly } as CompiledKey);
  if (isDenial(op)) throw new Error(`price denied ${op.reason}: ${op.message}`);
  return { sent: s, op };
}

/** The cost once Keybrake's lookups are answered, and the caps-only policy's verdict on the call. */
function settleLookups(s: Sent, op: Operation): { cost: number; verdict: string } {
  let final = op;
  let lookup: CostLookup | undefined = op.lookup;
  while (lookup) {
    const body = answerFor(lookup.method ?? 'GET', lookup.path.split('?')[0]!);
    const next: CostLookup | undefined = lookup.next?.(body);
    if (next === undefined) {
      const cost = lookup.price(body);
      if (cost === undefined) throw new Error(`lookup ${lookup.path} could not price`);
      final = { ...op, costMicros: cost };
    }
    lookup = next;
  }
  const denial = authorize({ policy: capsOnly, method: s.method, path: s.path, op: final }, AUTHORIZE_CHAIN);
  return { cost: final.costMicros, verdict: denial ? denial.reason : 'allow' };
}

describe('@stripe/mcp 0.2.5 tools through the Stripe adapter, under a caps-only policy', () => {
  it.each<[string, Record<string, unknown>, string, string, string]>([
    [
      'create_customer',
      { name: 'Ann', email: 'ann@example.com' },
      'POST /v1/customers',
      'stripe.customers.create',
      'write',
    ],
    ['list_customers', { limit: 3 }, 'GET /v1/customers', 'stripe.customers.list', 'read'],
    ['create_product', { name: 'Tea' }, 'POST /v1/products', 'stripe.products.create', 'write'],
    ['list_products', { limit: 3 }, 'GET /v1/products', 'stripe.products.list', 'read'],
    [
      'create_price',
      { product: 'prod_1', unit_amount: 2000, currency: 'usd' },
      'POST /v1/prices',
      'stripe.prices.create',
      'write',
    ],
    ['list_prices', { product: 'prod_1' }, 'GET /v1/prices', 'stripe.prices.list', 'read'],
    [
      'create_payment_link',
      { price: 'price_1', quantity: 2 },
      'POST /v1/payment_links',
      'stripe.payment_links.create',
      'write',
    ],
    ['list_invoices', { customer: 'cus_1' }, 'GET /v1/invoices', 'stripe.invoices.list', 'read'],
    ['retrieve_balance', {}, 'GET /v1/balance', 'stripe.balance.retrieve', 'read'],
    [
      'list_payment_intents',
      { customer: 'cus_1' },
      'GET /v1/payment_intents',
      'stripe.payment_intents.list',
      'read',
    ],
    [
      'list_subscriptions',
      { customer: 'cus_1' },
      'GET /v1/subscriptions',
      'stripe.subscriptions.list',
      'read',
    ],
    ['list_coupons', { limit: 3 }, 'GET /v1/coupons', 'stripe.coupons.list', 'read'],
    ['create_coupon', { name: 'TEN', percent_off: 10 }, 'POST /v1/coupons', 'stripe.coupons.create', 'write'],
    ['list_disputes', { limit: 3 }, 'GET /v1/disputes', 'stripe.disputes.list', 'read'],
  ])('%s sends %s (%s, %s): free and allowed', async (tool, arg, request, id, cls) => {
    await run(tool, arg);
    const { sent: s, op } = priced();
    expect(`${s.method} ${s.path}`).toBe(request);
    expect(op).toMatchObject({ id, class: cls, movesMoney: false, costMicros: 0 });
    expect(op.lookup).toBeUndefined();
    expect(settleLookups(s, op).verdict).toBe('allow');
  });

  it.each<[string, Record<string, unknown>, string, string, number, string[]]>([
    // customer, legacy `price` (acacia) and invoice: one price read, the invoice locked.
    [
      'create_invoice_item',
      { customer: 'cus_1', price: 'price_1', invoice: 'in_1' },
      'POST /v1/invoiceitems',
      'stripe.invoiceitems.create',
      20_000_000,
      ['in_1', 'price_1'],
    ],
    // The toolkit's invoices are send_invoice drafts: finalising one counts as if charged (Stripe
    // applies the customer's credit and cash balance to it).
    [
      'finalize_invoice',
      { invoice: 'in_1' },
      'POST /v1/invoices/in_1/finalize',
      'stripe.invoices.finalize_invoice',
      20_000_000,
      ['in_1'],
    ],
    [
      'create_refund',
      { payment_intent: 'pi_1', amount: 500 },
      'POST /v1/refunds',
      'stripe.refunds.create',
      5_000_000,
      ['pi_1'],
    ],
    [
      'create_refund',
      { payment_intent: 'pi_1' },
      'POST /v1/refunds',
      'stripe.refunds.create',
      50_000_000,
      ['pi_1'],
    ],
    [
      'update_subscription',
      {
        subscription: 'sub_1',
        proration_behavior: 'always_invoice',
        items: [
          { id: 'si_1', deleted: true },
          { price: 'price_2', quantity: 2 },
        ],
      },
      'POST /v1/subscriptions/sub_1',
      'stripe.subscriptions.update',
      10_000_000,
      ['sub_1', 'price_2'],
    ],
  ])('%s %j sends %s (%s): priced money, allowed', async (tool, arg, request, id, cost, locks) => {
    await run(tool, arg);
    const { sent: s, op } = priced();
    expect(`${s.method} ${s.path}`).toBe(request);
    expect(op).toMatchObject({ id, class: 'money', movesMoney: true, locks });
    expect(op.lookup).toBeDefined();
    expect(settleLookups(s, op)).toEqual({ cost, verdict: 'allow' });
  });

  // Twelfth round (fixes12e): the toolkit sends no pending_invoice_items_behavior, which under an API
  // version before 2022-08-01 takes in the customer's pending items: their credits are read and
  // counted (none here), the call stays allowed.
  it('create_invoice sends no pending_invoice_items_behavior: the pending items are read, free when none is a credit', async () => {
    await run('create_invoice', { customer: 'cus_1', days_until_due: 30 });
    const { sent: s, op } = priced();
    expect(`${s.method} ${s.path}`).toBe('POST /v1/invoices');
    expect(op).toMatchObject({ id: 'stripe.invoices.create', class: 'money', costMicros: 0 });
    expect(op.lookup?.path).toBe('/v1/invoiceitems?customer=cus_1&pending=true&limit=100');
    expect(settleLookups(s, op)).toEqual({ cost: 0, verdict: 'allow' });
  });

  it('cancel_subscription sends a plain DELETE: a cancellation without invoice_now, read for its customer, free, locked', async () => {
    await run('cancel_subscription', { subscription: 'sub_1' });
    const { sent: s, op } = priced();
    expect(`${s.method} ${s.path}`).toBe('DELETE /v1/subscriptions/sub_1');
    expect(op).toMatchObject({
      id: 'stripe.subscriptions.cancel',
      class: 'money',
      costMicros: 0,
      locks: ['sub_1'],
    });
    expect(op.lookup?.path).toBe('/v1/subscriptions/sub_1');
    expect(settleLookups(s, op)).toEqual({ cost: 0, verdict: 'allow' });
  });

  // Eleventh round (MCP probe): the dispute was forwarded unread, so allow.customers never saw whose it was.
  it("update_dispute is a free write read for its charge, then for that charge's customer", async () => {
    await run('update_dispute', { dispute: 'dp_1', evidence: { uncategorized_text: 'x' }, submit: true });
    const { sent: s, op } = priced();
    expect(`${s.method} ${s.path}`).toBe('POST /v1/disputes/dp_1');
    expect(op).toMatchObject({
      id: 'stripe.disputes.update',
      class: 'write',
      movesMoney: false,
      costMicros: 0,
    });
    expect(op.lookup?.path).toBe('/v1/disputes/dp_1');
    const charge = op.lookup!.next!(answerFor('GET', '/v1/disputes/dp_1'));
    expect(charge?.path).toBe('/v1/charges/ch_1');
    expect(charge!.parties!(answerFor('GET', '/v1/charges/ch_1'))).toMatchObject({ customers: ['cus_1'] });
    expect(settleLookups(s, op)).toEqual({ cost: 0, verdict: 'allow' });
  });

  it('update_subscription items reach the preview as subscription_details', async () => {
    await run('update_subscription', {
      subscription: 'sub_1',
      items: [{ id: 'si_1', price: 'price_2', quantity: 3 }],
    });
    const { op } = priced();
    // The subscription is read for its customer and items, then the Price for its product: this
    // adapter was told no link.
    expect(op.lookup).toMatchObject({ path: '/v1/subscriptions/sub_1' });
    const price = op.lookup!.next!(answerFor('GET', '/v1/subscriptions/sub_1'));
    expect(price).toMatchObject({ path: '/v1/prices/price_2?expand%5B%5D=currency_options' });
    const preview = price!.next!(answerFor('GET', '/v1/prices/price_2'));
    expect(preview).toMatchObject({ path: '/v1/invoices/create_preview', method: 'POST' });
    expect(decodeURIComponent(preview!.body!).split('&')).toEqual([
      'subscription=sub_1',
      'subscription_details[items][0][id]=si_1',
      'subscription_details[items][0][price]=price_2',
      'subscription_details[items][0][quantity]=3',
    ]);
  });

  it.each([
    [
      'POST',
      '/v1/checkout/sessions',
      'mode=payment&line_items[0][price]=price_1&line_items[0][quantity]=1',
      'write',
    ],
    ['GET', '/v1/checkout/sessions', '', 'read'],
    [
      'POST',
      '/v1/billing/meter_events',
      'event_name=tool_call&payload[stripe_customer_id]=cus_1&payload[value]=1',
      'write',
    ],
  ])('the paid-tool helper call %s %s (%s) is %s and free', (method, p, body, cls) => {
    const req = {
      method,
      path: p,
      query: method === 'GET' ? body : '',
      headers: method === 'GET' ? {} : { 'content-type': 'application/x-www-form-urlencoded' },
    };
    const params = adapter.parse(req, Buffer.from(method === 'GET' ? '' : body), limits);
    if (isDenial(params)) throw new Error(params.reason);
    const op = adapter.price(req, params, { policy: capsOnly } as CompiledKey);
    expect(op).toMatchObject({ class: cls, movesMoney: false, costMicros: 0 });
    if (!isDenial(op)) {
      expect(authorize({ policy: capsOnly, method, path: p, op }, AUTHORIZE_CHAIN)).toBeUndefined();
    }
  });
});
