import { describe, expect, it } from 'vitest';
import { reasonOf, stripePipeline } from '../../../test/fixtures/stripe-pipeline.ts';
import { compileEndpointPattern } from '../../patterns/glob.ts';
import type { ForwardRequest, UpstreamResponse } from '../upstreams.ts';

// The largest calls Stripe takes go through the real pipeline with every lease they need, and one
// entry past Stripe's bound is refused clearly, unsent (ADR 0007 §5, "Since 2026-12-01 (seventh
// round)": a preview leasing the Product of each Price it names left room for about 8 Prices).

const TOKEN = 'kb_stripe_price_bounds_stage_test';

const json = (status: number, body: unknown): UpstreamResponse => ({
  status,
  headers: { 'content-type': 'application/json', 'request-id': 'req_1' },
  body: Buffer.from(JSON.stringify(body)),
});

const priceIds = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `price_${from + i}`);
const routes = (sent: ForwardRequest[]) => sent.map((r) => `${r.method} ${r.pathAndQuery}`);
const readOf = (price: string) => `GET /v1/prices/${price}?expand%5B%5D=currency_options`;
const list = (name: string, prices: readonly string[]) =>
  prices.map((p, i) => `${name}[${i}][price]=${p}&${name}[${i}][quantity]=1`).join('&');

/**
 * Stripe with a catalogue where `price_<n>` is $1 of its own `prod_<n>`, whose invoice preview waits
 * while `held` until the test lets it go.
 */
function stripe() {
  let arrived = () => {};
  let release = () => {};
  const state = { held: false };
  const atPreview = new Promise<void>((r) => {
    arrived = r;
  });
  const go = new Promise<void>((r) => {
    release = r;
  });
  const upstream = async (req: ForwardRequest): Promise<UpstreamResponse> => {
    const route = `${req.method} ${req.pathAndQuery}`;
    const price = /^GET \/v1\/prices\/price_(\d+)\?/.exec(route)?.[1];
    if (price !== undefined) {
      return json(200, {
        object: 'price',
        id: `price_${price}`,
        product: `prod_${price}`,
        currency: 'usd',
        unit_amount: 100,
      });
    }
    if (route === 'POST /v1/invoices/create_preview') {
      if (state.held) {
        arrived();
        await go;
      }
      return json(200, { object: 'invoice', amount_due: 4000, currency: 'usd', customer: 'cus_1' });
    }
    if (route === 'GET /v1/invoices/in_1') {
      return json(200, {
        object: 'invoice',
        id: 'in_1',
        status: 'draft',
        currency: 'usd',
        customer: 'cus_1',
        collection_method: 'charge_automatically',
        amount_due: 0,
        // Untaxed, as Stripe reports it: lines on an invoice that taxes them are refused.
        default_tax_rates: [],
        automatic_tax: { enabled: false },
      });
    }
    return json(200, { object: 'subscription', id: 'sub_1', status: 'active', latest_invoice: 'in_1' });
  };
  return { state, upstream, atPreview, release };
}

function proxy(upstream: (req: ForwardRequest) => Promise<UpstreamResponse>) {
  return stripePipeline({
    token: TOKEN,
    upstream,
    // Every call, and by exact entry a Product's tax_code update (money_unpriced since the
    // thirteenth round, tax-inputs.ts), so the writes below meet the lease, not the endpoint check.
    policy: {
      limits: { perDayMicros: 1_000_000_000 },
      endpoints: ['* /v1/**', 'POST /v1/products/{id}'].map(compileEndpointPattern),
    },
    now: '2026-12-01T12:00:00Z',
  });
}

describe('price stage: the largest calls Stripe takes get every lease they need (ADR 0007 §5, seventh round)', () => {
  it('creates a subscription of 20 items, each a Price it does not know: reads each, leases all 41 objects, then forwards', async () => {
    const s = stripe();
    s.state.held = true;
    const pipeline = proxy(s.upstream);
    const prices = priceIds(20);

    const created = pipeline.call('POST', '/v1/subscriptions', `customer=cus_1&${list('items', prices)}`);
    // A call refused before its preview settles first (and fails below) rather than waiting for it.
    await Promise.race([s.atPreview, created]);
    // While the preview is in flight, every object it depends on is leased: the customer, each
    // Price and the Product behind each. Nothing that could change them reaches Stripe.
    const writes = [
      pipeline.call('POST', '/v1/customers/cus_1', 'tax_exempt=exempt'),
      ...prices.map((p) =>
        pipeline.call('POST', `/v1/prices/${p}`, 'currency_options[eur][unit_amount]=900000'),
      ),
      ...prices.map((p) =>
        pipeline.call('POST', `/v1/products/${p.replace('price', 'prod')}`, 'tax_code=txcd_10000000'),
      ),
    ];
    const refused = await Promise.all(writes);
    s.release();
    const res = await created;

    expect(refused.map(reasonOf)).toEqual(Array(41).fill('object_busy'));
    expect(res.status).toBe(200);
    expect(routes(pipeline.sent)).toEqual([
      ...prices.map(readOf),
      'POST /v1/invoices/create_preview',
      'POST /v1/subscriptions',
    ]);
  });

  it('creates a subscription of 20 items and 20 invoice items, 40 Prices it does not know (81 leases)', async () => {
    const s = stripe();
    const pipeline = proxy(s.upstream);
    const items = priceIds(20);
    const added = priceIds(20, 20);

    const res = await pipeline.call(
      'POST',
      '/v1/subscriptions',
      `customer=cus_1&${list('items', items)}&${list('add_invoice_items', added)}`,
    );

    expect(res.status).toBe(200);
    expect(routes(pipeline.sent)).toEqual([
      // The preview's invoice items come before its subscription details, and are read first.
      ...[...added, ...items].map(readOf),
      'POST /v1/invoices/create_preview',
      'POST /v1/subscriptions',
    ]);
  });

  it.each([
    [
      '21 items on a subscription create',
      '/v1/subscriptions',
      `customer=cus_1&${list('items', priceIds(21))}`,
      'items',
    ],
    [
      '21 invoice items on a subscription update',
      '/v1/subscriptions/sub_1',
      list('add_invoice_items', priceIds(21)),
      'add_invoice_items',
    ],
    [
      '21 items in a schedule phase',
      '/v1/subscription_schedules',
      `customer=cus_1&${list('phases[0][items]', priceIds(21))}`,
      'phases[][items]',
    ],
  ])('refuses %s, one past what Stripe takes, before any read', async (_name, path, form, param) => {
    const pipeline = proxy(stripe().upstream);

    const res = await pipeline.call('POST', path, form);

    expect(res.status).toBe(400);
    expect(reasonOf(res)).toBe('body_invalid');
    expect(JSON.parse(res.body.toString()).error.message).toBe(
      `Parameter "${param}" has 21 entries; Stripe takes at most 20.`,
    );
    expect(pipeline.sent).toEqual([]);
  });

  it('refuses a schedule whose phases need more than 128 leases, naming both counts, and sends it not', async () => {
    const pipeline = proxy(stripe().upstream);
    // Four phases of 16 Prices each, 64 in all: the customer, 64 Prices and 64 Products are 129.
    const phases = [0, 1, 2, 3].map((n) => list(`phases[${n}][items]`, priceIds(16, 16 * n))).join('&');

    const res = await pipeline.call('POST', '/v1/subscription_schedules', `customer=cus_1&${phases}`);

    expect(reasonOf(res)).toBe('price_unknown');
    expect(JSON.parse(res.body.toString()).error.message).toMatch(
      /depends on 129 objects.*at most 128 at once/,
    );
    expect(routes(pipeline.sent)).toEqual(priceIds(64).map(readOf));
  });

  it('prices a Checkout Session of 100 line items by price, as many as Stripe takes, and forwards it', async () => {
    const pipeline = proxy(stripe().upstream);
    const prices = priceIds(100);

    const res = await pipeline.call(
      'POST',
      '/v1/checkout/sessions',
      `customer=cus_1&mode=payment&${list('line_items', prices)}`,
    );

    expect(res.status).toBe(200);
    expect(routes(pipeline.sent)).toEqual([...prices.map(readOf), 'POST /v1/checkout/sessions']);
    expect(pipeline.audit.records.at(-1)).toMatchObject({ decision: 'allow', costUsd: '100.00' });
  });

  it('refuses a Checkout Session of 101 line items by price before any read', async () => {
    const pipeline = proxy(stripe().upstream);

    const res = await pipeline.call(
      'POST',
      '/v1/checkout/sessions',
      `customer=cus_1&mode=payment&${list('line_items', priceIds(101))}`,
    );

    expect(reasonOf(res)).toBe('price_unknown');
    expect(JSON.parse(res.body.toString()).error.message).toBe(
      'Keybrake prices at most 100 line items by price in one Checkout Session, as many as Stripe takes.',
    );
    expect(pipeline.sent).toEqual([]);
  });

  it('adds 100 invoice lines of distinct Prices in one call, and refuses 101 before any read', async () => {
    const pipeline = proxy(stripe().upstream);
    const lines = (n: number) =>
      priceIds(n)
        .map((p, i) => `lines[${i}][pricing][price]=${p}&lines[${i}][quantity]=1`)
        .join('&');

    const added = await pipeline.call('POST', '/v1/invoices/in_1/add_lines', lines(100));
    const sent = routes(pipeline.sent);
    pipeline.sent.length = 0;
    const over = await pipeline.call('POST', '/v1/invoices/in_1/add_lines', lines(101));

    expect(added.status).toBe(200);
    expect(sent).toEqual([
      'GET /v1/invoices/in_1',
      ...priceIds(100).map(readOf),
      'POST /v1/invoices/in_1/add_lines',
    ]);
    expect(reasonOf(over)).toBe('price_unknown');
    expect(pipeline.sent).toEqual([]);
  });
});
