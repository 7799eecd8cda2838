import { describe, expect, it } from 'vitest';
import { reasonOf, stripePipeline } from '../../../test/fixtures/stripe-pipeline.ts';
import { compileEndpointPattern } from '../../patterns/glob.ts';
import type { ForwardRequest, UpstreamResponse } from '../upstreams.ts';

// The staleness stage through the real pipeline and the real Stripe adapter: past --max-staleness a
// revocation may not have reached the replica, so only reads are forwarded (eighth round: a stale
// proxy forwarded a revoked key's customer deletes and rewrites).

const TOKEN = 'kb_stripe_staleness_stage_test';
const MAX_STALENESS_MS = 30_000;

const ok = (_req: ForwardRequest): UpstreamResponse => ({
  status: 200,
  headers: { 'content-type': 'application/json', 'request-id': 'req_1' },
  body: Buffer.from('{"object":"customer","id":"cus_A"}'),
});

/** A key whose policy admits each call below, with a table `ageMs` old. */
function proxyAged(ageMs: number) {
  const t = stripePipeline({
    token: TOKEN,
    upstream: ok,
    policy: {
      endpoints: [
        'GET /v1/**',
        'POST /v1/customers',
        'POST /v1/customers/*',
        'DELETE /v1/customers/{customer}',
        'POST /v1/charges',
      ].map(compileEndpointPattern),
    },
    now: '2026-12-01T12:00:00Z',
    maxStalenessMs: MAX_STALENESS_MS,
  });
  t.clock.advance(ageMs);
  return t;
}

const CALLS: readonly [string, string, string, string][] = [
  ['a customer delete (destructive)', 'DELETE', '/v1/customers/cus_A', ''],
  ['a customer rewrite (write)', 'POST', '/v1/customers/cus_A', 'name=attacker&description=x'],
  ['a customer create (write)', 'POST', '/v1/customers', 'email=a%40b.test'],
  ['a charge (money)', 'POST', '/v1/charges', 'amount=100&currency=usd&customer=cus_A'],
  ['an operation the catalog does not know', 'POST', '/v1/not_a_stripe_thing', 'x=1'],
];

describe('staleness: a stale table lets only reads through', () => {
  it.each(CALLS)('refuses %s as policy_stale, forwarding nothing', async (_name, method, path, form) => {
    const { call, sent } = proxyAged(MAX_STALENESS_MS + 1);
    const res = await call(method, path, form);
    expect(res.status).toBe(503);
    expect(reasonOf(res)).toBe('policy_stale');
    expect(sent).toEqual([]);
  });

  it('says a table nobody vouches for is vouched for by no operator, not decades old', async () => {
    const { call, sent, snapshots } = proxyAged(0);
    snapshots.vouch(undefined);
    const res = await call('POST', '/v1/charges', 'amount=100&currency=usd&customer=cus_A');
    expect(reasonOf(res)).toBe('policy_stale');
    expect(res.body.toString()).toContain('The policy snapshot is vouched for as current by no operator;');
    expect(sent).toEqual([]);
  });

  it('forwards a read of a stale table', async () => {
    const { call, sent } = proxyAged(MAX_STALENESS_MS + 1);
    expect(reasonOf(await call('GET', '/v1/customers/cus_A'))).toBe('ok');
    expect(sent).toHaveLength(1);
  });

  it.each(CALLS.filter(([, , path]) => !path.includes('not_a_stripe')))(
    'forwards %s while the table is exactly --max-staleness old',
    async (_name, method, path, form) => {
      const { call, sent } = proxyAged(MAX_STALENESS_MS);
      expect(reasonOf(await call(method, path, form))).toBe('ok');
      expect(sent).toHaveLength(1);
    },
  );
});
