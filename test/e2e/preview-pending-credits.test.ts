// A subscription's preview-priced invoice takes the customer's pending credits in, against the real
// `keybrake serve` and a recording Stripe stand-in (fourteenth round, probe fixmoney14, HIGH, bounded
// by the credits). Stripe adds a pending invoice item naming no invoice "to the next upcoming
// scheduled invoice", and its preview "will show you all the charges that are pending, including …
// invoice item charges": a new $100.00 subscription for a customer with a -$150.00 pending credit
// previews at total -$50.00, amount_due 0. Keybrake priced it at that amount_due: $0.00 under a
// $1.00 cap, forwarded, while the same credit swept by POST /v1/invoices is counted in full; Stripe
// then charged the renewal the credit was meant for that much more on its own. Now the preview counts
// the credit it takes in: $150.00, refused under a $120.00 cap before anything reaches Stripe, and
// forwarded and counted $150.00 under a wider one; a customer without pending credits is counted at
// its $100.00 as before (control).
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newToken } from '../../src/tokens/token.ts';
import { type KeybrakeProcess, manifestDir, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { stripeKey, yamlDocuments } from './fixtures/stripe-manifests.ts';

const WAIT_MS = 30_000;
const CAPPED = newToken('stripe');
const WIDE = newToken('stripe');

/** A line of the subscription's own item (price_1 of prod_1, $100.00), as API version 2025-03-31 on renders it. */
const chargeLine = {
  object: 'line_item',
  amount: 10000,
  currency: 'usd',
  parent: {
    type: 'subscription_item_details',
    subscription_item_details: { invoice_item: null, proration: false, subscription_item: 'si_1' },
  },
  pricing: { type: 'price_details', price_details: { price: 'price_1', product: 'prod_1' } },
  taxes: [],
};
/** The customer's -$150.00 pending credit item, as its line on the preview. */
const creditLine = {
  object: 'line_item',
  amount: -15000,
  currency: 'usd',
  parent: {
    type: 'invoice_item_details',
    invoice_item_details: { invoice_item: 'ii_credit', proration: false, subscription: null },
  },
  pricing: null,
  taxes: [],
};

/** Stripe's preview for `customer`: with the pending credit taken in for cus_credit, without for cus_plain. */
function preview(customer: string): Record<string, unknown> {
  const credited = customer === 'cus_credit';
  const total = credited ? -5000 : 10000;
  return {
    object: 'invoice',
    customer,
    currency: 'usd',
    collection_method: 'charge_automatically',
    automatic_tax: { enabled: false, status: null },
    subtotal: total,
    total,
    amount_due: Math.max(0, total),
    starting_balance: 0,
    lines: { object: 'list', has_more: false, data: credited ? [creditLine, chargeLine] : [chargeLine] },
  };
}

const SUBSCRIPTION = {
  object: 'subscription',
  id: 'sub_old',
  customer: 'cus_credit',
  status: 'active',
  automatic_tax: { enabled: false, liability: null },
  items: {
    object: 'list',
    has_more: false,
    data: [
      {
        object: 'subscription_item',
        id: 'si_1',
        price: { object: 'price', id: 'price_1', product: 'prod_1' },
      },
    ],
  },
};

// Fourteenth round (probe credits14, finding 1, MEDIUM over-refusal): d96e821 refused a preview
// whose first page of lines had more to come and no subscription item's line (it may hide pending
// credits), and Stripe lists pending items, prorations included, first: a plan change moving six
// items (12 of its own prorations) and a new subscription for a customer with 12 pending $1.00
// charges were price_unknown, nothing forwarded. Now the customer's pending items are read and the
// credits past the page counted: both forwarded at their amounts, and a -$150.00 credit hidden past
// the first page still counted.

/** A line on the preview's first page of 10 (more to come): an own proration, or a pending item's. */
const prorationLine = (i: number) => ({
  object: 'line_item',
  amount: i % 2 ? 1000 : -500,
  currency: 'usd',
  parent: {
    type: 'subscription_item_details',
    subscription_item_details: { invoice_item: null, proration: true, subscription_item: `si_${i >> 1}` },
  },
  pricing: { type: 'price_details', price_details: { price: 'price_1', product: 'prod_1' } },
  taxes: [],
});
const usageLine = (i: number) => ({
  object: 'line_item',
  amount: 100,
  currency: 'usd',
  parent: {
    type: 'invoice_item_details',
    invoice_item_details: { invoice_item: `ii_usage${i}`, proration: false, subscription: null },
  },
  pricing: null,
  taxes: [],
});
const tens = Array.from({ length: 10 }, (_, i) => i);

/**
 * The previews whose first page of lines is full and has more to come: sub_multi's six items moved
 * (12 prorations, $30.00 due); a new $20.00 subscription for cus_busy (12 pending $1.00 charges,
 * $32.00) and for cus_hidden (the same, and a -$150.00 credit past the page: total -$118.00).
 */
function pagedPreview(whose: string): Record<string, unknown> | undefined {
  const of = (customer: string, total: number, data: unknown[]) => ({
    object: 'invoice',
    customer,
    currency: 'usd',
    collection_method: 'charge_automatically',
    automatic_tax: { enabled: false, status: null },
    default_tax_rates: [],
    subtotal: total,
    total,
    amount_due: Math.max(0, total),
    starting_balance: 0,
    lines: { object: 'list', has_more: true, data },
  });
  if (whose === 'sub_multi') return of('cus_multi', 3000, tens.map(prorationLine));
  if (whose === 'cus_busy') return of('cus_busy', 3200, tens.map(usageLine));
  if (whose === 'cus_hidden') return of('cus_hidden', -11800, tens.map(usageLine));
  return undefined;
}

/** The customer's pending invoice items, as `GET /v1/invoiceitems?customer=…&pending=true` lists them. */
function pendingItems(query: URLSearchParams): Record<string, unknown> {
  const customer = query.get('customer') ?? '';
  const item = (id: string, amount: number) => ({
    object: 'invoiceitem',
    id,
    amount,
    currency: 'usd',
    customer,
    invoice: null,
    tax_rates: [],
  });
  const usage = Array.from({ length: 12 }, (_, i) => item(`ii_usage${i}`, 100));
  const data =
    customer === 'cus_busy' ? usage : customer === 'cus_hidden' ? [...usage, item('ii_hidden', -15000)] : [];
  return { object: 'list', has_more: false, data };
}

/** A subscription of six $10.00 items of price_1 (prod_1). */
const MULTI = {
  object: 'subscription',
  id: 'sub_multi',
  customer: 'cus_multi',
  status: 'active',
  automatic_tax: { enabled: false, liability: null },
  items: {
    object: 'list',
    has_more: false,
    data: Array.from({ length: 6 }, (_, i) => ({
      object: 'subscription_item',
      id: `si_${i}`,
      price: { object: 'price', id: 'price_1', product: 'prod_1' },
    })),
  },
};

/** Every request the stand-in received: `METHOD path body`. */
const received: string[] = [];
let vendor: Server;
let dir: Awaited<ReturnType<typeof manifestDir>>;
let kb: KeybrakeProcess;

beforeAll(async () => {
  vendor = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      const path = req.url ?? '/';
      received.push(`${req.method} ${path} ${body}`);
      const form = new URLSearchParams(body);
      const answer = (): unknown => {
        if (path === '/v1/invoices/create_preview') {
          const paged = pagedPreview(form.get('subscription') ?? form.get('customer') ?? '');
          if (paged !== undefined) return paged;
          return preview(
            form.get('subscription') === 'sub_old' ? 'cus_credit' : (form.get('customer') ?? ''),
          );
        }
        if (path.startsWith('/v1/prices/price_1')) {
          return { object: 'price', id: 'price_1', product: 'prod_1', currency: 'usd', unit_amount: 10000 };
        }
        if (path === '/v1/subscriptions/sub_old') return SUBSCRIPTION;
        if (path === '/v1/subscriptions/sub_multi') return MULTI;
        if (path.startsWith('/v1/invoiceitems?')) return pendingItems(new URL(path, 'http://x').searchParams);
        // The account the upstream key belongs to, for a Keybrake that asks.
        if (path === '/v1/account') return { id: 'acct_1Credits', object: 'account' };
        if (path === '/v1/subscriptions')
          return { ...SUBSCRIPTION, id: 'sub_new', customer: form.get('customer') };
        return { id: 'obj_generic', object: 'unknown' };
      };
      res.writeHead(200, { 'content-type': 'application/json', 'request-id': 'req_credits' });
      res.end(JSON.stringify(answer()));
    });
  });
  vendor.listen(0, '127.0.0.1');
  await once(vendor, 'listening');
  const { port } = vendor.address() as AddressInfo;
  const key = (name: string, token: string, perCallUsd: string) =>
    stripeKey({
      name,
      token,
      upstreamKey: `sk_test_credits${randomBytes(12).toString('hex')}`,
      limits: { perCallUsd },
      allow: { endpoints: ['POST /v1/**', 'GET /v1/**'] },
    });
  dir = await manifestDir({
    'keys.yaml': yamlDocuments(...key('capped', CAPPED, '120'), ...key('wide', WIDE, '1000')),
  });
  // No lease backoff: the update below follows a refusal on the same customer by the same key.
  kb = await startKeybrake(
    [...serveArgs(dir.dir, { stripe: `http://127.0.0.1:${port}` }), '--lease-backoff', '0'],
    {
      timeoutMs: WAIT_MS,
    },
  );
}, WAIT_MS * 2);

afterAll(async () => {
  await kb?.stop();
  vendor?.closeAllConnections();
  vendor?.close();
  await dir?.remove();
});

async function post(token: string, path: string, form: string) {
  const res = await fetch(`${kb.urls.stripe}${path}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: form,
  });
  await res.text();
  return { status: res.status, decision: res.headers.get('keybrake-decision') };
}

/** The audit record of the `nth` call (1-based) to `path`, once it has arrived. */
async function recordOf(path: string, nth: number): Promise<Record<string, unknown>> {
  await kb.waitForAudit(
    (r) => kb.audit.filter((a) => a['path'] === path).length >= nth && r['path'] === path,
    WAIT_MS,
  );
  return kb.audit.filter((a) => a['path'] === path)[nth - 1]!;
}

/** The writes the stand-in received to `path` (not the previews and reads Keybrake made to price them). */
const forwarded = (path: string) => received.filter((r) => r.startsWith(`POST ${path} `));

describe("a preview-priced subscription takes the customer's pending credits in", () => {
  it('counts a new subscription for a customer without pending credits at its $100.00 (control)', async () => {
    expect(await post(CAPPED, '/v1/subscriptions', 'customer=cus_plain&items[0][price]=price_1')).toEqual({
      status: 200,
      decision: 'allow; reason=ok',
    });
    expect(await recordOf('/v1/subscriptions', 1)).toMatchObject({ decision: 'allow', costUsd: '100.00' });
    expect(forwarded('/v1/subscriptions')).toHaveLength(1);
  });

  it('refuses under the cap a new subscription whose first invoice takes a -$150.00 pending credit: nothing reaches Stripe', async () => {
    const res = await post(CAPPED, '/v1/subscriptions', 'customer=cus_credit&items[0][price]=price_1');
    expect(res).toEqual({ status: 403, decision: 'deny; reason=per_call_limit_exceeded' });
    expect(await recordOf('/v1/subscriptions', 2)).toMatchObject({ reason: 'per_call_limit_exceeded' });
    // At the upstream: the preview, and no subscription made for cus_credit.
    expect(received.filter((r) => r.includes('create_preview') && r.includes('cus_credit'))).toHaveLength(1);
    expect(forwarded('/v1/subscriptions').filter((r) => r.includes('cus_credit'))).toEqual([]);
  });

  it('refuses under the cap an update invoicing now (always_invoice, billing_cycle_anchor=now) that takes it in', async () => {
    const form =
      'items[0][id]=si_1&items[0][quantity]=1&proration_behavior=always_invoice&billing_cycle_anchor=now';
    const res = await post(CAPPED, '/v1/subscriptions/sub_old', form);
    expect(res).toEqual({ status: 403, decision: 'deny; reason=per_call_limit_exceeded' });
    expect(
      received.some((r) => r.startsWith('POST /v1/invoices/create_preview ') && r.includes('sub_old')),
    ).toBe(true);
    expect(forwarded('/v1/subscriptions/sub_old')).toEqual([]);
  });

  it('forwards it under a wider cap and counts the credit it takes in, $150.00', async () => {
    const res = await post(WIDE, '/v1/subscriptions', 'customer=cus_credit&items[0][price]=price_1');
    expect(res).toEqual({ status: 200, decision: 'allow; reason=ok' });
    expect(await recordOf('/v1/subscriptions', 3)).toMatchObject({ decision: 'allow', costUsd: '150.00' });
    expect(forwarded('/v1/subscriptions').filter((r) => r.includes('cus_credit'))).toHaveLength(1);
  });
});

describe("a preview whose first page of lines has more to come reads the customer's pending items", () => {
  /** The record of the call to `path` made by `call`, waited for past the records before it. */
  async function recorded(path: string, call: () => Promise<unknown>) {
    const before = kb.audit.filter((a) => a['path'] === path).length;
    const res = await call();
    return { res, record: await recordOf(path, before + 1) };
  }
  const pendingRead = (customer: string) =>
    received.filter((r) => r.startsWith(`GET /v1/invoiceitems?customer=${customer}&pending=true`));

  it('forwards a plan change moving six items, its first page all its own prorations, at its $30.00', async () => {
    const form = Array.from({ length: 6 }, (_, i) => `items[${i}][id]=si_${i}&items[${i}][quantity]=2`).join(
      '&',
    );
    const path = '/v1/subscriptions/sub_multi';
    const { res, record } = await recorded(path, () =>
      post(CAPPED, path, `${form}&proration_behavior=always_invoice`),
    );
    expect(res).toEqual({ status: 200, decision: 'allow; reason=ok' });
    expect(record).toMatchObject({ decision: 'allow', costUsd: '30.00' });
    // At the upstream: the preview, the customer's pending items, then the update.
    expect(pendingRead('cus_multi')).toHaveLength(1);
    expect(forwarded(path)).toHaveLength(1);
  });

  it('forwards a new $20.00 subscription for a customer with 12 pending $1.00 charges at its $32.00', async () => {
    const { res, record } = await recorded('/v1/subscriptions', () =>
      post(CAPPED, '/v1/subscriptions', 'customer=cus_busy&items[0][price]=price_1'),
    );
    expect(res).toEqual({ status: 200, decision: 'allow; reason=ok' });
    expect(record).toMatchObject({ decision: 'allow', costUsd: '32.00' });
    expect(pendingRead('cus_busy')).toHaveLength(1);
    expect(forwarded('/v1/subscriptions').filter((r) => r.includes('cus_busy'))).toHaveLength(1);
  });

  it('refuses under the cap a new subscription whose -$150.00 credit is past the first page: nothing reaches Stripe', async () => {
    const { res, record } = await recorded('/v1/subscriptions', () =>
      post(CAPPED, '/v1/subscriptions', 'customer=cus_hidden&items[0][price]=price_1'),
    );
    expect(res).toEqual({ status: 403, decision: 'deny; reason=per_call_limit_exceeded' });
    expect(record).toMatchObject({ reason: 'per_call_limit_exceeded' });
    expect(pendingRead('cus_hidden')).toHaveLength(1);
    expect(forwarded('/v1/subscriptions').filter((r) => r.includes('cus_hidden'))).toEqual([]);
  });

  // As the first page's credit is counted (d96e821): the preview's total is -$118.00, nothing due, and
  // the $150.00 credit it takes in is counted in full; without the read it would be $0.00.
  it('forwards it under a wider cap and counts the hidden credit it takes in, $150.00', async () => {
    const { res, record } = await recorded('/v1/subscriptions', () =>
      post(WIDE, '/v1/subscriptions', 'customer=cus_hidden&items[0][price]=price_1'),
    );
    expect(res).toEqual({ status: 200, decision: 'allow; reason=ok' });
    expect(record).toMatchObject({ decision: 'allow', costUsd: '150.00' });
    expect(forwarded('/v1/subscriptions').filter((r) => r.includes('cus_hidden'))).toHaveLength(1);
  });
});
