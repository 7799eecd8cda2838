import { describe, expect, it } from 'vitest';
import type { Reason } from '../../decision/reasons.ts';
import { AUDIT_PATH_CHARS, memoryAuditSink } from '../../telemetry/audit.ts';
import { createProxyMetrics } from '../../telemetry/metrics.ts';
import { fingerprint, newToken } from '../../tokens/token.ts';
import { createTwilioAdapter } from '../../vendors/twilio/index.ts';
import type { VendorAdapter } from '../../vendors/types.ts';
import { type CallContext, newContext, type PipelineDeps } from '../context.ts';
import { audit } from './audit.ts';
import { route } from './route.ts';

/** A token the user brought: no Keybrake shape, so only its value can find it (docs/resources.md). */
const BROUGHT = 'foreign-agent-token-0123456789abcdefXYZ';
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/**
 * The record audit writes for a call routed (or refused by routing) and then ended with `reason`;
 * `after` plays whatever a later stage left in the context. No snapshot: nothing is known of any key.
 */
function recordOf(
  url: string,
  authorization: string,
  reason: Reason,
  opts: { portVendor?: 'stripe'; method?: string; after?: (ctx: CallContext) => void } = {},
) {
  const sink = memoryAuditSink();
  const deps = {
    vendors: { stripe: {} as VendorAdapter, twilio: createTwilioAdapter() },
    metrics: createProxyMetrics({ snapshotAgeSeconds: () => 0 }),
    audit: sink,
    snapshots: { current: undefined },
  } as unknown as PipelineDeps;
  const ctx = newContext({
    ...(opts.portVendor ? { portVendor: opts.portVendor } : {}),
    method: opts.method ?? 'GET',
    url,
    headers: { authorization },
    body: Buffer.alloc(0),
  });
  route(ctx, deps);
  opts.after?.(ctx);
  audit(ctx, deps, reason);
  expect(sink.records).toHaveLength(1);
  return sink.records[0]!;
}

// Third probe round: a target routing refused held the token the agent brought (any shape, found by
// value only), and was written to the audit record whole.
describe('audit: a path routing refused', () => {
  it.each([
    ['a dot segment', `/v1/customers/${BROUGHT}/../x`, 'stripe'],
    ['an encoded slash', `/v1/customers/${BROUGHT}%2Fx`, 'stripe'],
    ['an empty segment', `/v1/customers//${BROUGHT}`, 'stripe'],
    ['an escaped letter', `/v1/customers/%66${BROUGHT.slice(1)}/%41`, 'stripe'],
    ['an unknown router prefix', `/stripe2/${BROUGHT}`, undefined],
    ['an unknown Twilio host', `/twilio/evil/${BROUGHT}`, undefined],
  ] as const)('keeps the Bearer token out of the path of %s', (_name, url, portVendor) => {
    const { path } = recordOf(url, `Bearer ${BROUGHT}`, 'path_invalid', portVendor ? { portVendor } : {});
    expect(path).not.toContain(BROUGHT);
    expect(path).not.toContain(BROUGHT.slice(1));
    expect(path).toContain(fingerprint(BROUGHT));
  });

  it('keeps a Basic user name or password out, not a Twilio Account SID', () => {
    const sid = `AC${'0'.repeat(32)}`;
    expect(recordOf(`/twilio/evil/${sid}/${BROUGHT}`, basic(sid, BROUGHT), 'route_unknown').path).toBe(
      `/twilio/evil/${sid}/${fingerprint(BROUGHT)}`,
    );
    const { path } = recordOf(`/v1/x/${BROUGHT}/../y`, basic(BROUGHT, ''), 'path_invalid', {
      portVendor: 'stripe',
    });
    expect(path).not.toContain(BROUGHT);
  });
});

// Fifth probe round: a target routing accepted was recorded as it came whenever something other than
// authenticate refused the call (an Expect, a missing Host, a body cut off, a shutdown, no snapshot).
describe('audit: a path routed, then refused by any stage', () => {
  it.each<[string, string, string, Reason]>([
    [
      'the HTTP layer, behind the Stripe prefix',
      `/stripe/v1/customers/${BROUGHT}`,
      `Bearer ${BROUGHT}`,
      'request_invalid',
    ],
    [
      'the HTTP layer, a Twilio password',
      `/twilio/2010-04-01/Accounts/AC1/Messages/${BROUGHT}.json`,
      basic(`AC${'0'.repeat(32)}`, BROUGHT),
      'request_invalid',
    ],
    [
      'a shutdown, percent-encoded',
      `/stripe/v1/customers/%66${BROUGHT.slice(1)}`,
      `Bearer ${BROUGHT}`,
      'shutting_down',
    ],
    [
      'authenticate, before the first snapshot',
      `/stripe/v1/customers/${BROUGHT}`,
      `Bearer ${BROUGHT}`,
      'policy_stale',
    ],
  ])('keeps the presented token out of the path when refused by %s', (_name, url, authorization, reason) => {
    const { path } = recordOf(url, authorization, reason);
    expect(path).not.toContain(BROUGHT);
    expect(path).not.toContain(BROUGHT.slice(1));
    expect(path).toContain(fingerprint(BROUGHT));
  });

  it('keeps the presented token out of a run id', () => {
    const { runId } = recordOf('/stripe/v1/customers', `Bearer ${BROUGHT}`, 'daily_cap_exceeded', {
      after: (ctx) => {
        ctx.runId = `run-${BROUGHT}`;
      },
    });
    expect(runId).toBe(`run-${fingerprint(BROUGHT)}`);
  });

  // Ninth round: Twilio reads only the password, so the agent chose a user name equal to its run id
  // (or to a message SID in the path) and the record held the fingerprint of that text instead.
  describe('a Twilio user name, which authentication does not read', () => {
    const runId = 'run-budget-000042';
    const sms = `SM${'0123456789abcdef'.repeat(2)}`;
    const messages = `/twilio/2010-04-01/Accounts/AC1/Messages`;

    it('is not taken out of the run id or the path', () => {
      const record = recordOf(`${messages}/${sms}.json`, basic(runId, BROUGHT), 'ok', {
        after: (ctx) => {
          ctx.runId = runId;
        },
      });
      expect(record.runId).toBe(runId);
      expect(record.path).toBe(`/2010-04-01/Accounts/AC1/Messages/${sms}.json`);
      const bySid = recordOf(`${messages}/${sms}.json`, basic(sms, BROUGHT), 'ok');
      expect(bySid.path).toBe(`/2010-04-01/Accounts/AC1/Messages/${sms}.json`);
    });

    it("is still taken out when it has a key's shape, and the password by value", () => {
      const vault = newToken('twilio', { random: () => new Uint8Array(24).fill(3) });
      const record = recordOf(`${messages}/${vault}/${BROUGHT}.json`, basic(vault, BROUGHT), 'path_invalid', {
        after: (ctx) => {
          ctx.runId = `run-${vault}`;
        },
      });
      expect(record.path).toBe(
        `/2010-04-01/Accounts/AC1/Messages/${fingerprint(vault)}/${fingerprint(BROUGHT)}.json`,
      );
      expect(record.runId).toBe(`run-${fingerprint(vault)}`);
    });
  });

  it('records a path that holds no credential as it is', () => {
    expect(recordOf('/stripe/v1/customers/cus_1', `Bearer ${BROUGHT}`, 'ok').path).toBe(
      '/v1/customers/cus_1',
    );
  });
});

// Fifth probe round: an agent's 16 000-character paths, refused 403 endpoint_not_allowed, wrote
// 16 KB records and filled the audit backlog shared by every tenant.
describe('audit: a path longer than any real one', () => {
  const FIELDS = [
    'ts',
    'event',
    'vaultKey',
    'vendor',
    'method',
    'path',
    'operation',
    'runId',
    'decision',
    'reason',
    'costUsd',
    'upstreamStatus',
    'upstreamRequestId',
    'durationMs',
    'traceId',
  ];

  it('is recorded cut to its first AUDIT_PATH_CHARS characters, marked with its length, every field kept', () => {
    const path = `/v1/customers/cus_${'a'.repeat(16_000)}`;
    const r = recordOf(`/stripe${path}`, `Bearer ${BROUGHT}`, 'endpoint_not_allowed');
    expect(r.path).toBe(`${path.slice(0, AUDIT_PATH_CHARS)} [cut: 16018 characters]`);
    expect(Object.keys(r)).toEqual(FIELDS);
    expect(r).toMatchObject({
      vendor: 'stripe',
      method: 'GET',
      decision: 'deny',
      reason: 'endpoint_not_allowed',
    });
  });

  it('has the presented credential taken out of the whole path before it is cut', () => {
    // The token straddles the cut: cut first, its first half would be left, found by no one.
    const head = `/v1/customers/${'a'.repeat(AUDIT_PATH_CHARS - 24)}`;
    const { path } = recordOf(`/stripe${head}${BROUGHT}${'b'.repeat(5_000)}`, `Bearer ${BROUGHT}`, 'ok');
    expect(path).toBe(
      `${`${head}${fingerprint(BROUGHT)}${'b'.repeat(5_000)}`.slice(0, AUDIT_PATH_CHARS)} [cut: ${head.length + fingerprint(BROUGHT).length + 5_000} characters]`,
    );
    expect(path).not.toContain(BROUGHT.slice(0, 10));
  });
});

// Fifth probe round: a request line node refused is read back from its bytes (server.ts), and its
// method, any 1 to 32 token characters, was recorded: a brought token sent as the method too.
describe('audit: the method recorded', () => {
  it.each(['GET', 'POST', 'DELETE', 'PROPFIND', 'CONNECT'])('records %s, a method node parses', (method) => {
    expect(recordOf('/stripe/v1/customers', '', 'request_invalid', { method }).method).toBe(method);
  });

  it.each([
    ['a brought token', 'Xq7pL2mN9vR4tY8wK3jH6bF1'],
    ['a word no HTTP method is', 'HELLO'],
    ['a method in lower case (node parses none)', 'get'],
  ])('records none for %s', (_name, method) => {
    expect(recordOf('', '', 'request_invalid', { method }).method).toBe('');
  });
});
