import { describe, expect, it } from 'vitest';
import { reasonOf, type StripeUpstream, stripePipeline } from '../../../test/fixtures/stripe-pipeline.ts';
import { subscriptionAnswer } from '../../../test/fixtures/stripe-subscription.ts';
import { compileEndpointPattern } from '../../patterns/glob.ts';
import type { CompiledPolicy } from '../../snapshot/types.ts';
import { ObjectLinks } from '../object-links.ts';
import type { ForwardRequest, UpstreamResponse } from '../upstreams.ts';
import { accountLease } from './lease-account.ts';

// A lookup may be a preview (CostLookup.method = POST, with a form body): through the real pipeline
// with the real Stripe adapter, a subscription change is priced by POST /v1/invoices/create_preview,
// sent with the real key, as a form, without the caller's Idempotency-Key, before the call itself.

const TOKEN = 'kb_stripe_price_preview_stage_test';
const REAL = 'sk_test_real';

const json = (status: number, body: unknown): UpstreamResponse => ({
  status,
  headers: { 'content-type': 'application/json', 'request-id': 'req_1' },
  body: Buffer.from(JSON.stringify(body)),
});

const preview = {
  object: 'invoice',
  amount_due: 1234,
  currency: 'usd',
  customer: 'cus_1',
  collection_method: 'charge_automatically',
};

function stripeLike(previewStatus = 200) {
  return (req: ForwardRequest): UpstreamResponse => {
    const route = `${req.method} ${req.pathAndQuery}`;
    if (route === 'POST /v1/invoices/create_preview') {
      return previewStatus === 200
        ? json(200, preview)
        : json(previewStatus, { error: { type: 'invalid_request_error', message: 'No upcoming invoice' } });
    }
    if (route === 'GET /v1/prices/price_2?expand%5B%5D=currency_options')
      return json(200, { object: 'price', id: 'price_2', product: 'prod_2' });
    if (route === 'GET /v1/subscription_items/si_1')
      return json(200, { object: 'subscription_item', id: 'si_1', subscription: 'sub_9' });
    const read = /^GET \/v1\/subscriptions\/(sub_[0-9])$/.exec(route)?.[1];
    if (read !== undefined) return json(200, subscriptionAnswer(read));
    if (/^POST \/v1\/(products|prices|customers)\//.test(route)) return json(200, { object: 'x' });
    if (route.startsWith('POST /v1/subscriptions/') || route.startsWith('POST /v1/subscription_items/'))
      return json(200, { object: 'subscription', id: 'sub_1', status: 'active', latest_invoice: 'in_1' });
    return json(404, { error: { type: 'invalid_request_error', message: 'Unrecognized request URL' } });
  };
}

const routes = (sent: ForwardRequest[]) => sent.map((r) => `${r.method} ${r.pathAndQuery}`);

/**
 * Every call, and by exact entry the writes that change what automatic tax reads (a Product's
 * tax_code, a Price's tax_behavior: money_unpriced since the thirteenth round, tax-inputs.ts), so
 * the races below meet the lease rather than the endpoint check.
 */
const ENDPOINTS = ['* /v1/**', 'POST /v1/products/{id}', 'POST /v1/prices/{price}'].map(
  compileEndpointPattern,
);

function proxy(
  upstream: StripeUpstream,
  policy: Partial<CompiledPolicy> = {},
  more: { objectLinks?: ObjectLinks; upstreamToken?: string } = {},
) {
  return stripePipeline({
    token: TOKEN,
    upstream,
    policy: { limits: { perDayMicros: 100_000_000 }, endpoints: ENDPOINTS, ...policy },
    now: '2026-11-29T12:00:00Z',
    ...more,
  });
}

describe('price stage: a preview lookup (POST)', () => {
  it('prices a subscription update by the invoice preview, then forwards the update', async () => {
    const { call, sent, audit } = proxy(stripeLike());
    const form =
      'items[0][id]=si_1&items[0][deleted]=true&items[1][price]=price_2&proration_behavior=always_invoice';

    const res = await call('POST', '/v1/subscriptions/sub_1', form, { 'idempotency-key': 'idem-1' });

    expect(res.status).toBe(200);
    // The subscription is read for its customer and items, and price_2 for its product (this pipeline
    // has not seen it): all leased before the preview.
    expect(sent.map((r) => `${r.method} ${r.pathAndQuery}`)).toEqual([
      'GET /v1/subscriptions/sub_1',
      'GET /v1/prices/price_2?expand%5B%5D=currency_options',
      'POST /v1/invoices/create_preview',
      'POST /v1/subscriptions/sub_1',
    ]);
    const [, , look, forwarded] = sent;
    expect(look!.headers).toMatchObject({
      authorization: `Bearer ${REAL}`,
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(look!.headers['idempotency-key']).toBeUndefined();
    expect(decodeURIComponent(look!.body!.toString('utf8')).split('&')).toEqual([
      'subscription=sub_1',
      'subscription_details[proration_behavior]=always_invoice',
      'subscription_details[items][0][id]=si_1',
      'subscription_details[items][0][deleted]=true',
      'subscription_details[items][1][price]=price_2',
    ]);
    expect(forwarded!.headers['idempotency-key']).toBe('idem-1');
    expect(audit.records.at(-1)).toMatchObject({
      operation: 'stripe.subscriptions.update',
      decision: 'allow',
      costUsd: '12.34',
    });
  });

  it('fails closed when the preview is refused: price_unknown, nothing forwarded', async () => {
    const { call, sent } = proxy(stripeLike(400));

    const res = await call('POST', '/v1/subscriptions/sub_1', 'billing_cycle_anchor=now');

    expect(res.status).toBe(403);
    expect(reasonOf(res)).toBe('price_unknown');
    expect(sent.map((r) => `${r.method} ${r.pathAndQuery}`)).toEqual([
      'GET /v1/subscriptions/sub_1',
      'POST /v1/invoices/create_preview',
    ]);
  });

  it('holds the price to the caps: a preview over the daily cap is refused before the call', async () => {
    const { call, sent } = proxy(stripeLike(), { limits: { perDayMicros: 10_000_000 } });

    const res = await call('POST', '/v1/subscriptions/sub_1', 'billing_cycle_anchor=now');

    expect(reasonOf(res)).toBe('daily_cap_exceeded');
    expect(sent.map((r) => r.method)).toEqual(['GET', 'POST']);
  });

  it("reads an item's subscription, then waits for that subscription while another call holds it", async () => {
    const { call, sent, memory } = proxy(stripeLike());
    const held = await memory.acquireLeases({
      scope: 'agents/other',
      windows: [],
      now: Date.parse('2026-11-29T12:00:00Z'),
      leases: {
        // The key's account as GET /v1/account named it (stripe-pipeline.ts; ADR 0007 §5, fourteenth round).
        account: accountLease('stripe', 'acct_1TestFixture'),
        objects: ['sub_9'],
        token: 'another-call',
        ttlMs: 60_000,
      },
    });
    expect(held.ok).toBe(true);

    const busy = await call('POST', '/v1/subscription_items/si_1', 'quantity=3');

    expect(reasonOf(busy)).toBe('object_busy');
    expect(sent.map((r) => `${r.method} ${r.pathAndQuery}`)).toEqual(['GET /v1/subscription_items/si_1']);
  });

  it('prices an item update by the item, then the preview of its subscription', async () => {
    const { call, sent, audit } = proxy(stripeLike());

    const res = await call('POST', '/v1/subscription_items/si_1', 'quantity=3');

    expect(res.status).toBe(200);
    expect(sent.map((r) => `${r.method} ${r.pathAndQuery}`)).toEqual([
      'GET /v1/subscription_items/si_1',
      'GET /v1/subscriptions/sub_9',
      'POST /v1/invoices/create_preview',
      'POST /v1/subscription_items/si_1',
    ]);
    expect(sent[0]!.body).toBeUndefined();
    expect(audit.records.at(-1)).toMatchObject({ decision: 'allow', costUsd: '12.34' });
  });
});

describe('price stage: a preview leases the product of each Price it names (ADR 0007 §5, seventh round)', () => {
  const CREATE = 'customer=cus_1&items[0][price]=price_1&automatic_tax[enabled]=true';
  const TAX_CODE = 'tax_code=txcd_10000000';
  const readOf = (price: string) => `GET /v1/prices/${price}?expand%5B%5D=currency_options`;
  /** A create whose item Stripe makes a Price for (the lines show it, under prod_3, which it names). */
  const PRICE_DATA =
    'customer=cus_1&items[0][price_data][currency]=usd&items[0][price_data][product]=prod_3&items[0][price_data][unit_amount]=100&items[0][price_data][recurring][interval]=month';

  /**
   * Stripe with a catalogue (Price → product, changeable: a Plan id made again), whose preview answers
   * with `lines` and, while `held`, waits until the test lets it go.
   */
  function catalogue(products: Record<string, string>) {
    const state = {
      products,
      lines: [] as unknown[],
      held: false,
      atPreview: Promise.resolve(),
      release: () => {},
    };
    const hold = () => {
      let arrived!: () => void;
      state.atPreview = new Promise<void>((r) => {
        arrived = r;
      });
      const go = new Promise<void>((r) => {
        state.release = r;
      });
      state.held = true;
      return { arrived: () => arrived(), go };
    };
    let gate = hold();
    state.held = false;
    const upstream = async (req: ForwardRequest): Promise<UpstreamResponse> => {
      const route = `${req.method} ${req.pathAndQuery}`;
      const price = /^GET \/v1\/prices\/([a-z0-9_]+)\?/.exec(route)?.[1];
      if (price !== undefined) {
        const product = state.products[price];
        return product === undefined
          ? json(404, { error: { type: 'invalid_request_error', code: 'resource_missing' } })
          : json(200, { object: 'price', id: price, product, currency: 'usd', unit_amount: 100 });
      }
      if (route === 'POST /v1/invoices/create_preview') {
        if (state.held) {
          gate.arrived();
          await gate.go;
        }
        return json(200, { ...preview, lines: { object: 'list', data: state.lines, has_more: false } });
      }
      if (route.startsWith('POST /v1/products/')) return json(200, { object: 'product', id: 'prod_1' });
      if (route === 'POST /v1/invoiceitems') return json(200, { object: 'invoiceitem', id: 'ii_1' });
      return json(200, { object: 'subscription', id: 'sub_1', status: 'active', latest_invoice: 'in_1' });
    };
    /** Holds the next preview; resolves once it has reached Stripe. */
    const holdNext = () => {
      gate = hold();
      return state.atPreview;
    };
    return { state, upstream, holdNext };
  }

  /** While `call`'s preview is held, a tax_code update of `product` by another call; both answers. */
  async function updateDuringPreview(
    stripe: ReturnType<typeof catalogue>,
    pipeline: ReturnType<typeof proxy>,
    form: string,
    product: string,
  ) {
    const arrived = stripe.holdNext();
    const created = pipeline.call('POST', '/v1/subscriptions', form);
    await arrived;
    const update = await pipeline.call('POST', `/v1/products/${product}`, TAX_CODE);
    const updatesSent = routes(pipeline.sent).filter((r) => r.startsWith('POST /v1/products/')).length;
    stripe.state.held = false;
    stripe.state.release();
    return { update, updatesSent, created: await created };
  }

  it('reads a Price it does not know for its product and leases the product before the preview', async () => {
    const stripe = catalogue({ price_1: 'prod_1' });
    const pipeline = proxy(stripe.upstream);

    const { update, updatesSent, created } = await updateDuringPreview(stripe, pipeline, CREATE, 'prod_1');

    expect(reasonOf(update)).toBe('object_busy');
    expect(updatesSent).toBe(0);
    expect(created.status).toBe(200);
    expect(routes(pipeline.sent)).toEqual([
      readOf('price_1'),
      'POST /v1/invoices/create_preview',
      'POST /v1/subscriptions',
    ]);
    expect((await pipeline.call('POST', '/v1/products/prod_1', TAX_CODE)).status).toBe(200);
  });

  it('leases the product of a Price it knows without reading the Price again', async () => {
    const stripe = catalogue({ price_1: 'prod_1' });
    const pipeline = proxy(stripe.upstream);
    expect((await pipeline.call('POST', '/v1/subscriptions', CREATE)).status).toBe(200);
    pipeline.sent.length = 0;

    const { update, updatesSent, created } = await updateDuringPreview(stripe, pipeline, CREATE, 'prod_1');

    expect(reasonOf(update)).toBe('object_busy');
    expect(updatesSent).toBe(0);
    expect(created.status).toBe(200);
    expect(routes(pipeline.sent).filter((r) => r.startsWith('GET '))).toEqual([]);
  });

  it.each<[string, string, string, (s: ReturnType<typeof catalogue>) => void]>([
    [
      "a preview's lines (a Price object, before API version 2025-03-31)",
      '/v1/subscriptions',
      PRICE_DATA,
      (s) => {
        s.state.lines = [
          // A subscription item's line (its amount and source: a preview is counted by its lines'
          // credits too, preview-credits.ts).
          {
            object: 'line_item',
            type: 'subscription',
            proration: false,
            amount: 1000,
            price: { object: 'price', id: 'price_3', product: 'prod_3' },
          },
        ];
      },
    ],
    [
      "a preview's lines (pricing.price_details, since API version 2025-03-31)",
      '/v1/subscriptions',
      PRICE_DATA,
      (s) => {
        s.state.lines = [
          {
            object: 'line_item',
            amount: 1000,
            parent: {
              type: 'subscription_item_details',
              subscription_item_details: { invoice_item: null, proration: false, subscription_item: 'si_3' },
            },
            pricing: { type: 'price_details', price_details: { price: 'price_3', product: 'prod_3' } },
          },
        ];
      },
    ],
    ['a Price read to price an invoice item', '/v1/invoiceitems', 'customer=cus_1&price=price_3', () => {}],
  ])("learns a Price's product from %s", async (_name, path, form, answer) => {
    const stripe = catalogue({ price_3: 'prod_3' });
    answer(stripe);
    const pipeline = proxy(stripe.upstream);
    expect((await pipeline.call('POST', path, form)).status).toBe(200);
    stripe.state.lines = [];
    pipeline.sent.length = 0;

    const { update, created } = await updateDuringPreview(
      stripe,
      pipeline,
      'customer=cus_1&items[0][price]=price_3',
      'prod_3',
    );

    expect(reasonOf(update)).toBe('object_busy');
    expect(created.status).toBe(200);
    expect(routes(pipeline.sent).filter((r) => r.startsWith('GET '))).toEqual([]);
  });

  it('keeps what it learnt to the account it learnt it in: another Stripe-Account or upstream key reads again', async () => {
    const stripe = catalogue({ price_1: 'prod_1' });
    const links = new ObjectLinks();
    const first = proxy(stripe.upstream, {}, { objectLinks: links });
    expect((await first.call('POST', '/v1/subscriptions', CREATE)).status).toBe(200);

    const connected = await first.call('POST', '/v1/subscriptions', CREATE, { 'stripe-account': 'acct_1' });
    const other = proxy(stripe.upstream, {}, { objectLinks: links, upstreamToken: 'sk_test_other' });
    const otherKey = await other.call('POST', '/v1/subscriptions', CREATE);

    expect([connected.status, otherKey.status]).toEqual([200, 200]);
    expect(routes(first.sent).filter((r) => r.startsWith('GET '))).toEqual([
      readOf('price_1'),
      readOf('price_1'),
    ]);
    expect(routes(other.sent).filter((r) => r.startsWith('GET '))).toEqual([readOf('price_1')]);
  });

  it('refuses a call whose preview shows a named Price under a product it did not lease, and learns it', async () => {
    const stripe = catalogue({ price_1: 'prod_1' });
    const links = new ObjectLinks();
    const pipeline = proxy(stripe.upstream, {}, { objectLinks: links });
    expect((await pipeline.call('POST', '/v1/subscriptions', CREATE)).status).toBe(200);
    // The Plan id deleted and made again for another product, through another replica.
    stripe.state.products = { price_1: 'prod_2' };
    stripe.state.lines = [
      {
        object: 'line_item',
        type: 'subscription',
        proration: false,
        amount: 1000,
        price: { object: 'price', id: 'price_1', product: 'prod_2' },
      },
    ];
    pipeline.sent.length = 0;

    const stale = await pipeline.call('POST', '/v1/subscriptions', CREATE);

    expect(reasonOf(stale)).toBe('price_unknown');
    expect(routes(pipeline.sent)).toEqual(['POST /v1/invoices/create_preview']);
    // The retry (on a pipeline whose lease backoff did not see the refusal) leases prod_2 unread.
    const retry = proxy(stripe.upstream, {}, { objectLinks: links });
    const { update, created } = await updateDuringPreview(stripe, retry, CREATE, 'prod_2');
    expect(reasonOf(update)).toBe('object_busy');
    expect(created.status).toBe(200);
    expect(routes(retry.sent).filter((r) => r.startsWith('GET '))).toEqual([]);
  });
});

describe('price stage: a preview of an existing subscription leases its customer and its items (ADR 0007 §5, seventh round)', () => {
  /** stripeLike, whose first preview answers `answer` once the test lets it go. */
  function holding(answer: unknown = preview) {
    let arrived!: () => void;
    const atPreview = new Promise<void>((r) => {
      arrived = r;
    });
    let release!: () => void;
    const go = new Promise<void>((r) => {
      release = r;
    });
    let first = true;
    const rest = stripeLike();
    const upstream = async (req: ForwardRequest): Promise<UpstreamResponse> => {
      if (req.method !== 'POST' || req.pathAndQuery !== '/v1/invoices/create_preview') return rest(req);
      if (first) {
        first = false;
        arrived();
        await go;
      }
      return json(200, answer);
    };
    return { upstream, atPreview, release };
  }

  /** What changes what such a preview read: the item's Product and Price, the customer's tax. */
  const WRITES: readonly [string, string][] = [
    ['/v1/products/prod_1', 'tax_code=txcd_10000000'],
    ['/v1/prices/price_1', 'tax_behavior=exclusive'],
    ['/v1/customers/cus_1', 'tax_exempt=none'],
    ['/v1/customers/cus_1', 'address[country]=DE'],
  ];
  const forwarded = (sent: ForwardRequest[], path: string) =>
    sent.filter((r) => r.method === 'POST' && r.pathAndQuery === path).length;

  it.each([
    [
      'a subscription update',
      '/v1/subscriptions/sub_1',
      'items[0][id]=si_1&items[0][quantity]=5&proration_behavior=always_invoice',
    ],
    ['an item update', '/v1/subscription_items/si_1', 'quantity=6&proration_behavior=always_invoice'],
    ['a resume', '/v1/subscriptions/sub_1/resume', 'billing_cycle_anchor=now'],
  ])(
    'holds %s at its preview against every change of what it bills, which goes through after',
    async (_name, path, form) => {
      const stripe = holding();
      const { call, sent } = proxy(stripe.upstream);

      const held = call('POST', path, form);
      await stripe.atPreview;
      for (const [write, body] of WRITES) {
        expect(reasonOf(await call('POST', write, body))).toBe('object_busy');
        expect(forwarded(sent, write)).toBe(0);
      }
      stripe.release();

      expect((await held).status).toBe(200);
      for (const [write, body] of WRITES) expect((await call('POST', write, body)).status).toBe(200);
      expect(WRITES.map(([write]) => forwarded(sent, write))).toEqual([1, 1, 2, 2]);
    },
  );

  // The backstop: whatever the preview bills that the call did not lease leaves it unpriced, unsent.
  it.each([
    [
      'a line under a Price and Product the call did not lease (a pending invoice item)',
      { ...preview, lines: { data: [{ price: { id: 'price_9', product: 'prod_9' } }], has_more: false } },
    ],
    [
      'a line of a leased Price under another Product',
      { ...preview, lines: { data: [{ price: { id: 'price_1', product: 'prod_9' } }], has_more: false } },
    ],
    ['another customer', { ...preview, customer: 'cus_2' }],
  ])('refuses a preview that bills %s: price_unknown, nothing forwarded', async (_name, answer) => {
    const { call, sent } = proxy(stripeLike());
    const stripe = holding(answer);
    stripe.release();
    const pipeline = proxy(stripe.upstream);

    const res = await pipeline.call('POST', '/v1/subscriptions/sub_1', 'billing_cycle_anchor=now');

    expect(reasonOf(res)).toBe('price_unknown');
    expect(routes(pipeline.sent)).toEqual([
      'GET /v1/subscriptions/sub_1',
      'POST /v1/invoices/create_preview',
    ]);
    // The same preview billing only what the call leased is priced and forwarded.
    expect((await call('POST', '/v1/subscriptions/sub_1', 'billing_cycle_anchor=now')).status).toBe(200);
    expect(forwarded(sent, '/v1/subscriptions/sub_1')).toBe(1);
  });

  it('refuses before the preview a subscription whose read does not show every item', async () => {
    const upstream = (req: ForwardRequest) =>
      req.pathAndQuery === '/v1/subscriptions/sub_1' && req.method === 'GET'
        ? json(200, { ...subscriptionAnswer('sub_1'), items: { object: 'list', data: [], has_more: true } })
        : stripeLike()(req);
    const { call, sent } = proxy(upstream);

    const res = await call('POST', '/v1/subscriptions/sub_1', 'billing_cycle_anchor=now');

    expect(reasonOf(res)).toBe('price_unknown');
    expect(routes(sent)).toEqual(['GET /v1/subscriptions/sub_1']);
  });
});
