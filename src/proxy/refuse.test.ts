import { describe, expect, it } from 'vitest';
import { deny } from '../decision/reasons.ts';
import type { VendorName } from '../snapshot/types.ts';
import { memoryAuditSink } from '../telemetry/audit.ts';
import { createProxyMetrics } from '../telemetry/metrics.ts';
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
    const answer = refuseCall(c, d, deny('headers_too_large'));
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
