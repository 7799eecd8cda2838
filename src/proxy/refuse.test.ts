import { describe, expect, it } from 'vitest';
import { runKeyOf, snapshotServing, stripeParentKey } from '../../test/fixtures/stripe-parent-key.ts';
import { deny } from '../decision/reasons.ts';
import { loadExchangeRates } from '../money/exchange-rates.ts';
import type { VendorName } from '../snapshot/types.ts';
import { memoryAuditSink } from '../telemetry/audit.ts';
import { createProxyMetrics } from '../telemetry/metrics.ts';
import { newToken } from '../tokens/token.ts';
import { createStripeAdapter } from '../vendors/stripe/index.ts';
import type { VendorAdapter } from '../vendors/types.ts';
import type { PipelineDeps } from './context.ts';
import { refuseCall } from './refuse.ts';
import { rawResponse } from './respond.ts';

/** An adapter whose error body names its vendor, so a test can tell whose shape an answer has. */
const adapter = (name: VendorName) =>
  ({
    name,
    requestIdHeader: 'request-id',
    error: (reason: string, message: string, status: number) => ({
      status,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ shape: name, reason, message }),
    }),
  }) as unknown as VendorAdapter;

function deps() {
  const audit = memoryAuditSink();
  const metrics = createProxyMetrics({ snapshotAgeSeconds: () => 0 });
  // A refusal reads nothing but the vendors, the metrics, the audit sink and the snapshot (the
  // token prefixes audit looks for).
  const d = {
    vendors: { stripe: adapter('stripe'), twilio: adapter('twilio') },
    metrics,
    audit,
    snapshots: { current: undefined },
  };
  return { deps: d as unknown as PipelineDeps, audit, metrics };
}

const call = (url: string, portVendor?: VendorName) => ({
  ...(portVendor ? { portVendor } : {}),
  method: 'GET',
  url,
  headers: {},
  body: Buffer.alloc(0),
});

describe('refuseCall', () => {
  it.each<[string, ReturnType<typeof call>, string | undefined, string | null, string]>([
    [
      "answers in the listener's vendor shape",
      call('/v1/customers', 'twilio'),
      'twilio',
      'twilio',
      '/v1/customers',
    ],
    [
      'answers behind a router prefix in that vendor shape',
      call('/twilio/2010-04-01/Accounts'),
      'twilio',
      'twilio',
      '/2010-04-01/Accounts',
    ],
    [
      'keeps the vendor of a prefix whose path is refused',
      call('/twilio/evil/x'),
      'twilio',
      'twilio',
      '/twilio/evil/x',
    ],
    ["falls back to Stripe's shape when nothing names a vendor", call(''), undefined, null, ''],
  ])('%s', async (_name, c, shape, vendor, path) => {
    const { deps: d, audit, metrics } = deps();
    const answer = refuseCall(c, d, deny('headers_too_large'))!;
    expect(answer.status).toBe(431);
    expect(answer.headers['keybrake-decision']).toBe('deny; reason=headers_too_large');
    const body = JSON.parse(String(answer.body));
    if (shape) expect(body).toMatchObject({ shape, reason: 'headers_too_large' });
    else expect(body).toEqual({ error: expect.objectContaining({ code: 'headers_too_large' }) });
    expect(audit.records).toEqual([
      expect.objectContaining({
        event: 'keybrake.call',
        decision: 'deny',
        reason: 'headers_too_large',
        vendor,
        path,
      }),
    ]);
    const counted = await metrics.calls.get();
    expect(counted.values).toEqual([
      expect.objectContaining({
        labels: { vendor: vendor ?? 'none', decision: 'deny', reason: 'headers_too_large' },
        value: 1,
      }),
    ]);
  });
});

// Seventh round: a shutdown or pipelining refusal of a call whose key and run id were read whole was
// recorded with vaultKey and runId null.
describe('refuseCall: who made the call', () => {
  const NOW = Date.parse('2026-12-01T12:00:00Z');
  const VAULT = newToken('stripe');
  const key = stripeParentKey('bot', VAULT);
  const snapshot = snapshotServing(VAULT, key, NOW);
  const RUN_KEY = runKeyOf(key, VAULT, { runId: 'myrun-7', issuedAt: NOW, expiresAt: NOW + 60_000 });

  function refused(token: string, lines: [string, string][] = [], url = '/v1/customers/cus_1') {
    const audit = memoryAuditSink();
    const d = {
      vendors: { stripe: createStripeAdapter({ rates: loadExchangeRates() }) },
      metrics: createProxyMetrics({ snapshotAgeSeconds: () => 0 }),
      audit,
      snapshots: { current: snapshot },
      clock: { now: () => NOW },
    } as unknown as PipelineDeps;
    const raw: [string, string][] = [['Authorization', `Bearer ${token}`], ...lines];
    const headers: Record<string, string> = {};
    for (const [n, v] of raw) headers[n.toLowerCase()] ??= v;
    const answer = refuseCall(
      { portVendor: 'stripe', method: 'GET', url, headers, rawHeaders: raw.flat(), body: Buffer.alloc(0) },
      d,
      deny('shutting_down'),
    )!;
    expect(answer.reason).toBe('shutting_down');
    expect(audit.records).toHaveLength(1);
    const record = audit.records[0]!;
    expect(JSON.stringify(record)).not.toContain(token);
    return { vaultKey: record.vaultKey, runId: record.runId, operation: record.operation };
  }

  it.each<[string, string, [string, string][], string | null, string | null]>([
    ['a vault token and the run it names', VAULT, [['Keybrake-Run-Id', 'u3']], 'agents/bot', 'u3'],
    ['a vault token naming no run', VAULT, [], 'agents/bot', null],
    ['a run named in baggage', VAULT, [['baggage', 'keybrake.run_id=u4']], 'agents/bot', 'u4'],
    ['a malformed run id, left out', VAULT, [['Keybrake-Run-Id', 'a b']], 'agents/bot', null],
    [
      'a run id given twice, left out',
      VAULT,
      [
        ['Keybrake-Run-Id', 'u3'],
        ['Keybrake-Run-Id', 'u4'],
      ],
      'agents/bot',
      null,
    ],
    ['a run id carrying the token, left out', VAULT, [['Keybrake-Run-Id', `r-${VAULT}`]], 'agents/bot', null],
    ['a run key: its own run', RUN_KEY, [], 'agents/bot', 'myrun-7'],
    [
      'a run key and a header naming another run: its own',
      RUN_KEY,
      [['Keybrake-Run-Id', 'other']],
      'agents/bot',
      'myrun-7',
    ],
    ['a token no key has: neither', newToken('stripe'), [['Keybrake-Run-Id', 'u3']], null, null],
    ['a malformed credential: neither', 'short', [['Keybrake-Run-Id', 'u3']], null, null],
  ])('records %s', (_name, token, lines, vaultKey, runId) => {
    // The lookup only: no parse, no price (a read's operation would be named by price).
    expect(refused(token, lines)).toEqual({ vaultKey, runId, operation: null });
  });

  it('names no key for a call whose route is refused (no vendor reads its credential)', () => {
    expect(refused(VAULT, [['Keybrake-Run-Id', 'u3']], '/v1/../customers')).toEqual({
      vaultKey: null,
      runId: null,
      operation: null,
    });
  });
});

// Thirteenth round (probe observe13): the HTTP layer's refusals were written whatever the audit sink
// held, and a flood of them took it past its hard bound without limit, to a RangeError.
describe('refuseCall: the audit sink at its hard bound', () => {
  it('writes no record and gives no answer, and counts the request by its reason', async () => {
    const { deps: d, audit, metrics } = deps();
    const full = { ...audit, full: true };
    const refused = { ...d, audit: full } as PipelineDeps;
    expect(refuseCall(call('/v1/customers', 'stripe'), refused, deny('request_invalid'))).toBeUndefined();
    expect(refuseCall(call('', 'stripe'), refused, deny('headers_too_large'))).toBeUndefined();
    expect(refuseCall(call('/v1/x', 'stripe'), refused, deny('request_invalid'))).toBeUndefined();
    expect(audit.records).toEqual([]);
    expect((await metrics.calls.get()).values).toEqual([]);
    const unrecorded = await metrics.unrecordedRefusals.get();
    expect(unrecorded.values).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ labels: { reason: 'request_invalid' }, value: 2 }),
        expect.objectContaining({ labels: { reason: 'headers_too_large' }, value: 1 }),
      ]),
    );
    expect(unrecorded.values).toHaveLength(2);
    // With room again, recorded and answered as before.
    expect(refuseCall(call('/v1/customers', 'stripe'), d, deny('request_invalid'))?.status).toBe(400);
    expect(audit.records).toHaveLength(1);
  });
});

describe('rawResponse', () => {
  it('is a complete HTTP/1.1 response that closes the connection, with framing of its own', () => {
    const raw = rawResponse({
      status: 408,
      headers: {
        'content-type': 'application/json',
        'Content-Length': '999',
        connection: 'keep-alive',
        'keybrake-decision': 'deny; reason=request_timeout',
      },
      body: '{"é":1}',
    }).toString('latin1');
    expect(raw).toBe(
      'HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nkeybrake-decision: deny; reason=request_timeout\r\n' +
        `content-length: ${Buffer.byteLength('{"é":1}')}\r\nconnection: close\r\n\r\n` +
        Buffer.from('{"é":1}').toString('latin1'),
    );
  });
});
