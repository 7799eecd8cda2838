import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { fixedClock } from '../clock.ts';
import { MemoryCounterStore } from '../counters/memory-store.ts';
import { decisionHeader, type Reason } from '../decision/reasons.ts';
import { compileEndpointPattern } from '../patterns/glob.ts';
import { SnapshotHolder } from '../snapshot/holder.ts';
import type { CompiledPolicy } from '../snapshot/types.ts';
import { memoryAuditSink } from '../telemetry/audit.ts';
import { silentLogger } from '../telemetry/logger.ts';
import { createProxyMetrics } from '../telemetry/metrics.ts';
import { NO_PARTIES, type VendorAdapter } from '../vendors/types.ts';
import { createPipeline } from './pipeline.ts';
import type { ForwardRequest, Upstreams } from './upstreams.ts';

const TOKEN = 'kb_stripe_pipeline_test_token';

/** A vendor whose refunds are priced from the charge they name: $40 upstream. */
const adapter: VendorAdapter = {
  name: 'stripe',
  requestIdHeader: 'request-id',
  credential: (headers) => ({ token: String(headers.authorization ?? '').replace(/^Bearer /, '') }),
  parse: () => ({}),
  price: () => ({
    id: 'stripe.refunds.create',
    movesMoney: true,
    known: true,
    costMicros: 0,
    parties: NO_PARTIES,
    lookup: { path: '/v1/charges/ch_1', price: (body) => (body as { amount: number }).amount * 10_000 },
  }),
  upstreamAuthorization: () => 'Bearer sk_real',
  settle: () => undefined,
  error: (reason, message, status) => ({ status, headers: {}, body: JSON.stringify({ reason, message }) }),
};

function proxyWith(policy: Partial<CompiledPolicy>) {
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
    forward: async (req: ForwardRequest) => {
      sent.push(`${req.method} ${req.pathAndQuery}`);
      return { status: 200, headers: {}, body: Buffer.from('{"amount":4000}') };
    },
    close: async () => {},
  };
  const audit = memoryAuditSink();
  const handle = createPipeline({
    snapshots,
    vendors: { stripe: adapter },
    upstreams,
    counters: new MemoryCounterStore({ clock, sweepIntervalMs: 0 }),
    clock,
    audit,
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
