import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fixedClock } from '../../clock.ts';
import { MemoryCounterStore } from '../../counters/memory-store.ts';
import { loadExchangeRates } from '../../money/exchange-rates.ts';
import { createPipeline } from '../../proxy/pipeline.ts';
import type { ForwardRequest, UpstreamResponse, Upstreams } from '../../proxy/upstreams.ts';
import { SnapshotHolder } from '../../snapshot/holder.ts';
import { memoryAuditSink } from '../../telemetry/audit.ts';
import { silentLogger } from '../../telemetry/logger.ts';
import { createProxyMetrics } from '../../telemetry/metrics.ts';
import { createStripeAdapter } from './index.ts';

// Subscriptions whose first charge comes later, with no call through Keybrake (a trial, a later
// billing anchor): through the real pipeline and the real Stripe adapter, against an upstream that
// answers as Stripe does: the preview shows a whole $90 period, the created subscription's first
// invoice is the $0 trial invoice. Found by an adversarial probe: five such subscriptions under a
// $200 day cap all passed.

const TOKEN = 'kb_stripe_deferred_charges_test';
const PREVIEW = 'POST /v1/invoices/create_preview';

const json = (body: unknown): UpstreamResponse => ({
  status: 200,
  headers: { 'content-type': 'application/json', 'request-id': 'req_1' },
  body: Buffer.from(JSON.stringify(body)),
});

const invoice = (amountDue: number) => ({
  object: 'invoice',
  amount_due: amountDue,
  currency: 'usd',
  customer: 'cus_1',
  collection_method: 'charge_automatically',
});

/** Stripe as the probe saw it: a $90 period in the preview, a $0 first invoice on the subscription. */
function stripeLike(req: ForwardRequest): UpstreamResponse {
  const route = `${req.method} ${req.pathAndQuery}`;
  if (route === PREVIEW) return json(invoice(9000));
  return json({ object: 'subscription', id: 'sub_1', status: 'trialing', latest_invoice: invoice(0) });
}

function proxy() {
  const clock = fixedClock('2026-11-30T12:00:00Z');
  const snapshots = new SnapshotHolder(clock);
  snapshots.apply({
    version: 1,
    compiledAt: clock.now(),
    keys: new Map([
      [
        createHash('sha256').update(TOKEN).digest('hex'),
        {
          uid: 'agents/billing',
          namespace: 'agents',
          name: 'billing',
          vendor: 'stripe',
          tokenFingerprint: 'kb_stripe_…test',
          upstream: { kind: 'bearer', token: 'sk_test_real' },
          suspended: false,
          policy: {
            ref: 'agents/caps',
            limits: { perDayMicros: 200_000_000 },
            timezone: 'UTC',
            readsWhenStoreDown: true,
          },
        },
      ],
    ]),
  });
  const sent: ForwardRequest[] = [];
  const upstreams: Upstreams = {
    forward: async (req) => {
      sent.push(req);
      return stripeLike(req);
    },
    close: async () => {},
  };
  const handle = createPipeline({
    snapshots,
    vendors: { stripe: createStripeAdapter({ rates: loadExchangeRates() }) },
    upstreams,
    counters: new MemoryCounterStore({ clock, sweepIntervalMs: 0 }),
    clock,
    audit: memoryAuditSink(),
    metrics: createProxyMetrics({ snapshotAgeSeconds: () => 0 }),
    log: silentLogger(),
    parseLimits: { maxBytes: 65_536, maxDepth: 8, maxParams: 512 },
    leaseTtlMs: 35_000,
  });
  const call = (method: string, path: string, form: string) =>
    handle({
      method,
      url: `/stripe${path}`,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: Buffer.from(form),
    });
  /** The calls that reached Stripe itself, price lookups left out. */
  const forwarded = () =>
    sent.map((r) => `${r.method} ${r.pathAndQuery}`).filter((route) => route !== PREVIEW);
  return { call, forwarded };
}

const reasonOf = (res: { headers: Record<string, string | string[]> }) =>
  /reason=([a-z_]+)/.exec(String(res.headers['keybrake-decision']))?.[1];

describe('a subscription whose first charge is deferred', () => {
  it.each([
    ['a one-day trial', 'trial_period_days=1'],
    ['a later billing anchor without proration', 'billing_cycle_anchor=1900000000&proration_behavior=none'],
  ])(
    'stays counted at its whole first period with %s, even when its free first invoice is expanded',
    async (_name, deferral) => {
      const { call, forwarded } = proxy();
      const form = `customer=cus_1&items[0][price]=price_90usd&${deferral}&expand[]=latest_invoice`;

      const reasons: (string | undefined)[] = [];
      for (let i = 0; i < 5; i++) reasons.push(reasonOf(await call('POST', '/v1/subscriptions', form)));

      // $90 each under a $200 day cap: two pass, the third would make $270.
      expect(reasons).toEqual(['ok', 'ok', 'daily_cap_exceeded', 'daily_cap_exceeded', 'daily_cap_exceeded']);
      expect(forwarded()).toEqual(['POST /v1/subscriptions', 'POST /v1/subscriptions']);
    },
  );
});
