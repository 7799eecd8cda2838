import { describe, expect, it } from 'vitest';
import { fixedClock } from '../../clock.ts';
import { MemoryCounterStore } from '../../counters/memory-store.ts';
import { type Denial, deny } from '../../decision/reasons.ts';
import type { CompiledKey } from '../../snapshot/types.ts';
import type { VendorAdapter } from '../../vendors/types.ts';
import { type CallContext, newContext, type PipelineDeps } from '../context.ts';
import { type ForwardRequest, UnsentDenial, type UpstreamResponse, type Upstreams } from '../upstreams.ts';
import { forward } from './forward.ts';

const REAL_KEY = 'sk_live_forward_test_real_key_0123456789';
const USD = 1_000_000;

/** A call past reserve, as forward sees it, with an upstream that answers `res`. */
function callAnswered(res: UpstreamResponse | Denial) {
  const sent: ForwardRequest[] = [];
  const upstreams: Upstreams = {
    forward: async (req) => {
      sent.push(req);
      return res;
    },
    close: async () => {},
  };
  const ctx: CallContext = newContext({
    portVendor: 'stripe',
    method: 'GET',
    url: '/v1/customers/cus_1',
    headers: { authorization: 'Bearer kb_stripe_vault' },
    body: Buffer.alloc(0),
  });
  ctx.vendor = 'stripe';
  ctx.req = { method: 'GET', path: '/v1/customers/cus_1', query: '', headers: {} };
  ctx.adapter = {
    upstreamAuthorization: () => `Bearer ${REAL_KEY}`,
    requestIdHeader: 'request-id',
  } as unknown as VendorAdapter;
  ctx.key = { upstream: { kind: 'bearer', token: REAL_KEY } } as CompiledKey;
  // Forward reads nothing of the dependencies but the upstreams.
  const deps = { upstreams } as unknown as PipelineDeps;
  return { ctx, deps, sent };
}

const ok = (body: string, headers: Record<string, string> = {}): UpstreamResponse => ({
  status: 200,
  headers: { 'content-type': 'application/json', 'request-id': 'req_1', ...headers },
  body: Buffer.from(body),
});

describe('forward', () => {
  it('passes an ordinary answer on, with the real key sent upstream', async () => {
    const { ctx, deps, sent } = callAnswered(ok('{"id":"cus_1"}'));
    expect(await forward(ctx, deps)).toBeUndefined();
    expect(ctx.upstream?.status).toBe(200);
    expect(ctx.upstreamRequestId).toBe('req_1');
    expect(sent[0]?.headers.authorization).toBe(`Bearer ${REAL_KEY}`);
  });

  it.each([
    ['in its body', ok(`{"id":"cus_1","debug":"${REAL_KEY}"}`)],
    ['in a header', ok('{"id":"cus_1"}', { 'x-debug-authorization': `Bearer ${REAL_KEY}` })],
    ['in its request id', ok('{"id":"cus_1"}', { 'request-id': REAL_KEY })],
  ])('withholds an answer carrying the upstream key %s: credential_in_response', async (_where, res) => {
    const { ctx, deps } = callAnswered(res);
    const denial = await forward(ctx, deps);
    expect(denial).toMatchObject({ reason: 'credential_in_response' });
    expect(denial?.message).not.toContain(REAL_KEY);
    // The vendor did answer: its status stays on the call for the audit record; nothing of a
    // withheld answer's head does, not even a request id that looks clean.
    expect(ctx.upstream?.status).toBe(200);
    expect(ctx.upstreamRequestId).toBeNull();
  });

  it('refuses an answer over --max-response-body, naming the limit', async () => {
    const { ctx, deps } = callAnswered({ ...ok(''), overLimit: 1_048_576 });
    const denial = await forward(ctx, deps);
    expect(denial).toMatchObject({ reason: 'upstream_response_too_large' });
    expect(denial?.message).toContain('1048576 bytes');
    expect(denial?.message).toContain('--max-response-body');
    expect(ctx.upstream?.status).toBe(200);
    expect(ctx.upstreamRequestId).toBe('req_1');
  });

  // Sixth round: a part of an answer is a slice withholding and the credential scan would each see
  // alone. Keybrake asks for no range, so a 206 is an answer it cannot read whole.
  it('withholds a 206 Partial Content answer, clean as its slice looks: credential_in_response', async () => {
    const { ctx, deps } = callAnswered({
      ...ok('{"id":"cus_1"'),
      status: 206,
      headers: { 'content-type': 'application/json', 'content-range': 'bytes 0-12/40' },
    });
    const denial = await forward(ctx, deps);
    expect(denial).toMatchObject({ reason: 'credential_in_response' });
    expect(denial?.message).toContain('206 Partial Content');
    expect(ctx.upstream?.status).toBe(206);
  });

  it('records no request id from an answer too large to scan whose id carries the key', async () => {
    const { ctx, deps } = callAnswered({ ...ok('', { 'request-id': `req_${REAL_KEY}` }), overLimit: 1024 });
    expect(await forward(ctx, deps)).toMatchObject({ reason: 'upstream_response_too_large' });
    expect(ctx.upstreamRequestId).toBeNull();
  });
});

// Found by a new-user walkthrough: a call whose vendor host did not resolve used up the cap.
describe('forward: a call that never left this proxy', () => {
  /** A $5 call reserved on a memory store, sent upstream where it fails with `failure`. */
  async function reservedCall(failure: Denial) {
    const { ctx, deps } = callAnswered(failure);
    const store = new MemoryCounterStore({ clock: fixedClock('2026-11-30T12:00:00Z'), sweepIntervalMs: 0 });
    const day = {
      kind: 'day',
      bucket: 'day:2026-11-30',
      limit: 10 * USD,
      amount: 5 * USD,
      ttlSeconds: 60,
    } as const;
    const reserved = await store.reserve({ scope: 'vk', windows: [day], now: 0 });
    if (!reserved.ok) throw new Error('expected ok');
    ctx.reservation = reserved.reservation;
    ctx.op = { costMicros: 5 * USD } as CallContext['op'];
    ctx.countedMicros = 5 * USD;
    Object.assign(deps, { counters: store });
    return { ctx, deps, spent: () => store.used('vk', 'day:2026-11-30') };
  }

  it('gives its reservation back and counts nothing', async () => {
    const { ctx, deps, spent } = await reservedCall(
      new UnsentDenial('upstream_unavailable', 'not reached (ENOTFOUND)'),
    );
    expect(await forward(ctx, deps)).toBeInstanceOf(UnsentDenial);
    expect(ctx.countedMicros).toBe(0);
    expect(await spent()).toBe(0);
  });

  it('keeps the reservation of a call the vendor may have received', async () => {
    const { ctx, deps, spent } = await reservedCall(deny('upstream_unavailable'));
    expect(await forward(ctx, deps)).toMatchObject({ reason: 'upstream_unavailable' });
    expect(ctx.countedMicros).toBe(5 * USD);
    expect(await spent()).toBe(5 * USD);
  });
});
