import { describe, expect, it } from 'vitest';
import { reasonOf, type StripeUpstream, stripePipeline } from '../../../test/fixtures/stripe-pipeline.ts';
import type { CompiledPolicy } from '../../snapshot/types.ts';
import type { ForwardRequest, UpstreamResponse } from '../upstreams.ts';
import { leaseAccount } from './lease.ts';

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
    if (route === 'GET /v1/subscription_items/si_1')
      return json(200, { object: 'subscription_item', id: 'si_1', subscription: 'sub_9' });
    if (route.startsWith('POST /v1/subscriptions/') || route.startsWith('POST /v1/subscription_items/'))
      return json(200, { object: 'subscription', id: 'sub_1', status: 'active', latest_invoice: 'in_1' });
    return json(404, { error: { type: 'invalid_request_error', message: 'Unrecognized request URL' } });
  };
}

function proxy(upstream: StripeUpstream, policy: Partial<CompiledPolicy> = {}) {
  return stripePipeline({
    token: TOKEN,
    upstream,
    policy: { limits: { perDayMicros: 100_000_000 }, ...policy },
    now: '2026-11-29T12:00:00Z',
  });
}

describe('price stage: a preview lookup (POST)', () => {
  it('prices a subscription update by the invoice preview, then forwards the update', async () => {
    const { call, sent, audit } = proxy(stripeLike());
    const form =
      'items[0][id]=si_1&items[0][deleted]=true&items[1][price]=price_2&proration_behavior=always_invoice';

    const res = await call('POST', '/v1/subscriptions/sub_1', form, { 'idempotency-key': 'idem-1' });

    expect(res.status).toBe(200);
    expect(sent.map((r) => `${r.method} ${r.pathAndQuery}`)).toEqual([
      'POST /v1/invoices/create_preview',
      'POST /v1/subscriptions/sub_1',
    ]);
    const [look, forwarded] = sent;
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
    expect(sent.map((r) => r.method)).toEqual(['POST']);
    expect(sent[0]!.pathAndQuery).toBe('/v1/invoices/create_preview');
  });

  it('holds the price to the caps: a preview over the daily cap is refused before the call', async () => {
    const { call, sent } = proxy(stripeLike(), { limits: { perDayMicros: 10_000_000 } });

    const res = await call('POST', '/v1/subscriptions/sub_1', 'billing_cycle_anchor=now');

    expect(reasonOf(res)).toBe('daily_cap_exceeded');
    expect(sent).toHaveLength(1);
  });

  it("reads an item's subscription, then waits for that subscription while another call holds it", async () => {
    const { call, sent, memory } = proxy(stripeLike());
    const held = await memory.acquireLeases({
      scope: 'agents/other',
      windows: [],
      now: Date.parse('2026-11-29T12:00:00Z'),
      leases: {
        account: leaseAccount('stripe', { kind: 'bearer', token: REAL }),
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
      'POST /v1/invoices/create_preview',
      'POST /v1/subscription_items/si_1',
    ]);
    expect(sent[0]!.body).toBeUndefined();
    expect(audit.records.at(-1)).toMatchObject({ decision: 'allow', costUsd: '12.34' });
  });
});
