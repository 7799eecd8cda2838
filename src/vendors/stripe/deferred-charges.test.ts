import { describe, expect, it } from 'vitest';
import { reasonOf, stripePipeline } from '../../../test/fixtures/stripe-pipeline.ts';
import type { ForwardRequest, UpstreamResponse } from '../../proxy/upstreams.ts';

// Subscriptions Stripe charges later on its own, with no call through Keybrake (a trial, a later
// billing anchor, a schedule's trial or sent first phase, a switch to automatic collection): through
// the real pipeline and the real Stripe adapter, against an upstream that answers as Stripe does for
// a $90 price: a preview on trial shows $0, a sent invoice says so, the created subscription's first
// invoice is the $0 trial invoice. Found by an adversarial probe: five of each under a $200 day cap
// all passed.

const TOKEN = 'kb_stripe_deferred_charges_test';
const PREVIEW = 'POST /v1/invoices/create_preview';

const json = (body: unknown): UpstreamResponse => ({
  status: 200,
  headers: { 'content-type': 'application/json', 'request-id': 'req_1' },
  body: Buffer.from(JSON.stringify(body)),
});

const invoice = (amountDue: number, collection = 'charge_automatically') => ({
  object: 'invoice',
  amount_due: amountDue,
  currency: 'usd',
  customer: 'cus_1',
  collection_method: collection,
});

/**
 * Stripe as the probe saw it, for one $90 price: a preview with a trial is $0, one collected by
 * sending the invoice says so (as does every preview of sub_1, which sends its invoices), and a
 * created subscription's first invoice is the $0 trial invoice.
 */
function stripeLike(req: ForwardRequest): UpstreamResponse {
  const route = `${req.method} ${req.pathAndQuery}`;
  // The $90 price, read for its product before its first preview (ADR 0007 §5, seventh round).
  if (route.startsWith('GET /v1/prices/price_90usd?')) {
    return json({ id: 'price_90usd', object: 'price', product: 'prod_90usd' });
  }
  // sub_1, read before a preview of a change of it for its customer and items (seventh round).
  if (route === 'GET /v1/subscriptions/sub_1') {
    const item = { id: 'si_1', price: { id: 'price_90usd', object: 'price', product: 'prod_90usd' } };
    return json({
      id: 'sub_1',
      object: 'subscription',
      customer: 'cus_1',
      items: { data: [item], has_more: false },
    });
  }
  if (route === PREVIEW) {
    const form = decodeURIComponent(req.body?.toString('utf8') ?? '');
    const sent = form.includes('collection_method]=send_invoice') || form.startsWith('subscription=sub_1');
    return json(invoice(form.includes('trial') ? 0 : 9000, sent ? 'send_invoice' : 'charge_automatically'));
  }
  return json({ object: 'subscription', id: 'sub_1', status: 'trialing', latest_invoice: invoice(0) });
}

function proxy() {
  const { call, sent } = stripePipeline({
    token: TOKEN,
    upstream: stripeLike,
    policy: { limits: { perDayMicros: 200_000_000 } },
    now: '2026-11-30T12:00:00Z',
  });
  /** The calls that reached Stripe itself, price lookups left out. */
  const forwarded = () =>
    sent
      .map((r) => `${r.method} ${r.pathAndQuery}`)
      .filter((route) => route !== PREVIEW && !route.startsWith('GET /v1/'));
  return { call, forwarded };
}

const SCHEDULE =
  'customer=cus_1&start_date=now&phases[0][items][0][price]=price_90usd&phases[0][duration][interval]=day&phases[0][duration][interval_count]=1&phases[1][items][0][price]=price_90usd';

describe('a subscription Stripe charges later on its own', () => {
  it.each([
    [
      'created with a one-day trial',
      '/v1/subscriptions',
      'customer=cus_1&items[0][price]=price_90usd&trial_period_days=1&expand[]=latest_invoice',
    ],
    [
      'created with a later billing anchor without proration',
      '/v1/subscriptions',
      'customer=cus_1&items[0][price]=price_90usd&billing_cycle_anchor=1900000000&proration_behavior=none&expand[]=latest_invoice',
    ],
    [
      'scheduled with a one-day trial phase',
      '/v1/subscription_schedules',
      `${SCHEDULE}&phases[0][trial]=true`,
    ],
    [
      'scheduled with a trial end in its first phase',
      '/v1/subscription_schedules',
      `${SCHEDULE}&phases[0][trial_end]=1900000000`,
    ],
    [
      'scheduled to send its first invoice, then charge',
      '/v1/subscription_schedules',
      `${SCHEDULE}&phases[0][collection_method]=send_invoice&phases[1][collection_method]=charge_automatically`,
    ],
    [
      'scheduled to send invoices by default',
      '/v1/subscription_schedules',
      `${SCHEDULE}&default_settings[collection_method]=send_invoice&phases[1][collection_method]=charge_automatically`,
    ],
    [
      'switched from sent invoices to automatic collection',
      '/v1/subscriptions/sub_1',
      'collection_method=charge_automatically',
    ],
    // Found by a security tester (fourth round): a sent invoice finalises on its own, and Stripe
    // applies the customer's credit balance (and cash balance) to it; each of these was free.
    [
      'created to send its invoices, paid from the customer balance',
      '/v1/subscriptions',
      'customer=cus_1&items[0][price]=price_90usd&collection_method=send_invoice&days_until_due=1&payment_settings[payment_method_types][0]=customer_balance',
    ],
    [
      'updated to send its invoice for a new item invoiced at once',
      '/v1/subscriptions/sub_1',
      'collection_method=send_invoice&days_until_due=1&items[0][price]=price_90usd&proration_behavior=always_invoice',
    ],
    [
      'given a new item invoiced at once while it sends its invoices',
      '/v1/subscriptions/sub_1',
      'items[0][price]=price_90usd&proration_behavior=always_invoice',
    ],
  ])('counts a whole period of the 90-dollar price when %s', async (_name, path, form) => {
    const { call, forwarded } = proxy();

    const reasons: (string | undefined)[] = [];
    for (let i = 0; i < 5; i++) reasons.push(reasonOf(await call('POST', path, form)));

    // $90 each under a $200 day cap: two pass, the third would make $270; refused after its lookup,
    // it holds the key off the Price it leased for a while (ADR 0007 §5, sixth round).
    expect(reasons).toEqual(['ok', 'ok', 'daily_cap_exceeded', 'rate_limited', 'rate_limited']);
    expect(forwarded()).toEqual([`POST ${path}`, `POST ${path}`]);
  });
});
