import { describe, expect, it } from 'vitest';
import { fixedClock } from '../../clock.ts';
import { MemoryCounterStore } from '../../counters/memory-store.ts';
import { CounterStoreUnavailableError } from '../../counters/store.ts';
import { loadExchangeRates } from '../../money/exchange-rates.ts';
import type { CompiledKey, CompiledPolicy } from '../../snapshot/types.ts';
import { createResendAdapter } from '../../vendors/resend/index.ts';
import { RESEND_OPERATIONS } from '../../vendors/resend/operations.ts';
import { createStripeAdapter } from '../../vendors/stripe/index.ts';
import { createTwilioAdapter } from '../../vendors/twilio/index.ts';
import type { VendorAdapter, VendorRequest } from '../../vendors/types.ts';
import type { CallContext } from '../context.ts';
import {
  callFingerprint,
  canonicalJson,
  type PricedAs,
  refusal,
  replayRecord,
  reserveWindows,
} from './reserve.ts';

const clock = fixedClock('2026-11-26T12:00:00Z');
const key = (policy: Partial<CompiledPolicy>): CompiledKey => ({
  uid: 'agents/k',
  namespace: 'agents',
  name: 'k',
  vendor: 'stripe',
  tokenFingerprint: 'kb_stripe_…abcd',
  upstream: { kind: 'bearer', token: 'sk_test_x' },
  suspended: false,
  policy: { ref: 'agents/p', limits: {}, timezone: 'UTC', readsWhenStoreDown: true, ...policy },
});

/** A memory store that reports its connection as down. */
function downStore() {
  const store = new MemoryCounterStore({ clock, sweepIntervalMs: 0 });
  store.available = () => false;
  return store;
}

describe('reserveWindows', () => {
  it('names the window that refused, with what was used', async () => {
    const store = new MemoryCounterStore({ clock, sweepIntervalMs: 0 });
    const k = key({ limits: { perDayMicros: 10_000_000 } });
    expect(await reserveWindows(store, k, 10_000_000, undefined, undefined, clock)).toMatchObject({
      ok: true,
    });
    const denied = await reserveWindows(store, k, 1, undefined, undefined, clock);
    expect(denied).toMatchObject({ reason: 'daily_cap_exceeded' });
    expect((denied as { message: string }).message).toContain('$10.00 used');
  });

  it.each([
    ['a read under a call rate is recorded as the last use', { requestsPerMinute: 10 }, 0, true],
    ['a money-moving call is recorded as the last use', { perDayMicros: 10_000_000 }, 1_000_000, true],
    ['a read touching no counter is not recorded (no round trip)', { perDayMicros: 10_000_000 }, 0, false],
  ])('%s', async (_name, limits, cost, recorded) => {
    // The call's time comes from the injected clock, not the store's.
    const callClock = fixedClock('2026-11-26T12:34:56Z');
    const store = new MemoryCounterStore({ clock, sweepIntervalMs: 0 });
    await reserveWindows(store, key({ limits }), cost, undefined, undefined, callClock);
    expect(await store.lastUsed('agents/k')).toBe(recorded ? callClock.now() : undefined);
  });

  it('lets a call that touches no counter through while the store is down when it may pass uncounted', async () => {
    expect(
      await reserveWindows(downStore(), key({}), 0, undefined, undefined, clock, false, undefined, true),
    ).toMatchObject({ ok: true });
  });

  it('refuses a call that touches no counter while the store is down when it may not pass uncounted', async () => {
    await expect(reserveWindows(downStore(), key({}), 0, undefined, undefined, clock)).rejects.toThrow(
      CounterStoreUnavailableError,
    );
  });
});

describe('callFingerprint: what makes two calls the same call (ADR 0007 §4)', () => {
  const req = (over: Partial<VendorRequest> = {}): VendorRequest => ({
    method: 'POST',
    path: '/v1/charges',
    query: '',
    headers: {},
    ...over,
  });
  const params = { amount: '1000', currency: 'usd', metadata: { a: '1', b: '2' }, expand: ['x', 'y'] };
  const priced = { costMicros: 10_000_000, currencies: ['usd', 'eur'] };
  const DAY = ['day:2026-11-26', 'month:2026-11'];
  const base = callFingerprint('agents/k', null, req(), params, priced, DAY);

  it('is sha256 hex, and the same for the same parameters in another order', () => {
    expect(base).toMatch(/^[0-9a-f]{64}$/);
    const reordered = { expand: ['x', 'y'], metadata: { b: '2', a: '1' }, currency: 'usd', amount: '1000' };
    const currencies = ['eur', 'usd'];
    expect(callFingerprint('agents/k', null, req(), reordered, { ...priced, currencies }, DAY)).toBe(base);
  });

  // Ninth round: a replay reserves nothing, so under another run it would pass that run's cap free.
  it.each<[string, string | null, string | null]>([
    ['a run where there was none', null, 'run-b'],
    ['no run where there was one', 'run-a', null],
    ['another run', 'run-a', 'run-b'],
  ])('differs for %s', (_name, first, retry) => {
    const fingerprint = (run: string | null) => callFingerprint('agents/k', run, req(), params, priced, DAY);
    expect(fingerprint(retry)).not.toBe(fingerprint(first));
  });

  // Eleventh round: a replay reserves nothing, so one in a later day would move money counted only
  // in the day that ended.
  it.each<[string, string[]]>([
    ['another day', ['day:2026-11-27', 'month:2026-11']],
    ['another month', ['day:2026-11-26', 'month:2026-12']],
    ['no calendar window where there was one', []],
  ])('differs for %s', (_name, periods) => {
    expect(callFingerprint('agents/k', null, req(), params, priced, periods)).not.toBe(base);
  });

  it.each<[string, string, VendorRequest, Record<string, unknown>, PricedAs?]>([
    ['another vault key', 'agents/other', req(), params],
    ['another method', 'agents/k', req({ method: 'PUT' }), params],
    ['another path', 'agents/k', req({ path: '/v1/payment_intents' }), params],
    ['another query', 'agents/k', req({ query: 'a=1' }), params],
    ['a Stripe-Account', 'agents/k', req({ headers: { 'stripe-account': 'acct_1' } }), params],
    ['a Stripe-Context', 'agents/k', req({ headers: { 'stripe-context': 'acct_1' } }), params],
    ['another amount', 'agents/k', req(), { ...params, amount: '1001' }],
    ['another array order', 'agents/k', req(), { ...params, expand: ['y', 'x'] }],
    ['a number where a string was', 'agents/k', req(), { ...params, amount: 1000 }],
    ['one more parameter', 'agents/k', req(), { ...params, description: '' }],
    // Sixth round: a looked-up price changes under the same request (a confirm, a capture).
    ['another price Keybrake reserved', 'agents/k', req(), params, { ...priced, costMicros: 90_000_000 }],
    ['a lower price too', 'agents/k', req(), params, { ...priced, costMicros: 1 }],
    ['another priced currency', 'agents/k', req(), params, { ...priced, currencies: ['usd'] }],
  ])('differs for %s', (_name, scope, r, p, as = priced) => {
    expect(callFingerprint(scope, null, r, p, as, DAY)).not.toBe(base);
  });

  it('serialises keys such as __proto__ as data', () => {
    expect(canonicalJson(JSON.parse('{"b":1,"__proto__":{"x":1},"a":[2,1]}'))).toBe(
      '{"__proto__":{"x":1},"a":[2,1],"b":1}',
    );
  });
});

describe('replayRecord: which calls may be replays', () => {
  const ctx = (
    adapter: VendorAdapter,
    headers: Record<string, string>,
    op = 'stripe.charges.create',
    method = 'POST',
    policy: Partial<CompiledPolicy> = {},
  ) =>
    ({
      adapter,
      key: key(policy),
      op: { id: op, costMicros: 1_000_000, parties: { currencies: ['usd'] } },
      call: { headers },
      req: { method, path: '/v1/charges', query: '', headers },
      params: { amount: '1' },
    }) as unknown as CallContext;
  const stripe = createStripeAdapter({ rates: loadExchangeRates() });
  const resend = createResendAdapter();

  it('records the key and the fingerprint for a vendor that honours Idempotency-Key', () => {
    expect(replayRecord(ctx(stripe, { 'idempotency-key': 'k1' }), clock.now())).toEqual({
      key: 'k1',
      fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
  });

  it('records the run in the fingerprint: the same request under another run is another call', () => {
    const inRun = (runId: string | null) => {
      const c = ctx(stripe, { 'idempotency-key': 'k1' });
      c.runId = runId;
      return replayRecord(c, clock.now())?.fingerprint;
    };
    expect(inRun('run-a')).toBe(inRun('run-a'));
    expect(inRun('run-b')).not.toBe(inRun('run-a'));
    expect(inRun(null)).not.toBe(inRun('run-a'));
  });

  // Eleventh round: the first attempt, counted in day D, waited for a connection past D's end; its
  // replay went out free in D+1; the first was then refused unsent but kept in D. The vendor moved
  // it in D+1 beside D+1's whole cap. A retry in a later day or month is another call.
  it.each<[string, CompiledPolicy['limits'], string, string, boolean]>([
    [
      'one second into the next day',
      { perDayMicros: 10_000_000 },
      '2026-11-26T23:59:59',
      '2026-11-27T00:00:00',
      false,
    ],
    ['later the same day', { perDayMicros: 10_000_000 }, '2026-11-26T00:00:00', '2026-11-26T23:59:59', true],
    [
      'into the next month',
      { perMonthMicros: 10_000_000 },
      '2026-11-30T23:59:59',
      '2026-12-01T00:00:00',
      false,
    ],
    [
      'the next day of the same month, with a monthly cap only',
      { perMonthMicros: 10_000_000 },
      '2026-11-26T23:59:59',
      '2026-11-27T00:00:00',
      true,
    ],
  ])(
    "a retry %s, in the policy's time zone, is the same call only while its capped windows are",
    (_name, limits, first, retry, same) => {
      const policy = { limits, timezone: 'America/New_York' };
      const at = (local: string) => Date.parse(`${local}-05:00`);
      const fingerprint = (local: string) =>
        replayRecord(ctx(stripe, { 'idempotency-key': 'k1' }, undefined, 'POST', policy), at(local))
          ?.fingerprint;
      expect(fingerprint(retry) === fingerprint(first)).toBe(same);
    },
  );

  it('counts a retry after the day ended in the new day, in full, with the injected clock', async () => {
    const callClock = fixedClock('2026-11-26T23:59:58Z');
    const store = new MemoryCounterStore({ clock: callClock, sweepIntervalMs: 0 });
    const c = ctx(stripe, { 'idempotency-key': 'k1' }, undefined, 'POST', {
      limits: { perDayMicros: 1_500_000 },
    });
    const reserveOnce = () =>
      reserveWindows(store, c.key!, 1_000_000, undefined, replayRecord(c, callClock.now()), callClock);
    expect(await reserveOnce()).toMatchObject({ ok: true, replay: false });
    callClock.advance(1_000);
    expect(await reserveOnce()).toMatchObject({ ok: true, replay: true });
    callClock.advance(1_000);
    expect(await reserveOnce()).toMatchObject({ ok: true, replay: false });
    expect(await store.used('agents/k', 'day:2026-11-27')).toBe(1_000_000);
  });

  // Stripe: "Don't send idempotency keys in GET and DELETE requests because it has no effect": a
  // DELETE that moves money (a cancel with invoice_now, a discount removed) runs again.
  it.each(['DELETE', 'GET'])('records nothing for a Stripe %s: Stripe ignores the key there', (method) => {
    const c = ctx(stripe, { 'idempotency-key': 'k1' }, 'stripe.subscriptions.cancel', method);
    expect(replayRecord(c, clock.now())).toBeUndefined();
  });

  // Resend de-duplicates only POST /emails and POST /emails/batch; a forward, a reply, a draft or a
  // broadcast sent again with the same key goes out again, so it must be counted again.
  const resendMoney = RESEND_OPERATIONS.filter((row) => row.class === 'money').map((row) => row.id);
  it.each(resendMoney)('Resend %s: a replay only for the two endpoints Resend de-duplicates', (op) => {
    const free = op === 'resend.emails.send' || op === 'resend.emails.batch';
    expect(replayRecord(ctx(resend, { 'idempotency-key': 'k1' }, op), clock.now())?.key).toBe(
      free ? 'k1' : undefined,
    );
  });

  it('covers every kind of Resend send', () => {
    expect(resendMoney).toEqual(
      expect.arrayContaining([
        'resend.emails.send',
        'resend.emails.batch',
        'resend.inboxes.threads.forward',
        'resend.inboxes.threads.reply',
        'resend.broadcasts.create',
        'resend.broadcasts.send',
      ]),
    );
  });

  it.each<[string, VendorAdapter, Record<string, string>, string?]>([
    ['Twilio (no replay discount at all)', createTwilioAdapter(), { 'idempotency-key': 'k1' }],
    ['a call without the header', stripe, {}],
    [
      'a key the Connection header drops on the way',
      stripe,
      { 'idempotency-key': 'k1', connection: 'Idempotency-Key' },
    ],
  ])('records nothing for %s', (_name, adapter, headers, op) => {
    expect(replayRecord(ctx(adapter, headers, op), clock.now())).toBeUndefined();
  });

  // The forwarder keeps a header `Connection` names with a no-break space around it (one reading of
  // the list, connection-list.ts): the vendor sees this key, so a retry with it is a replay.
  it('records a key that Connection names only with a no-break space after it', () => {
    const headers = { 'idempotency-key': 'k1', connection: 'close, Idempotency-Key\u00a0' };
    expect(replayRecord(ctx(stripe, headers), clock.now())?.key).toBe('k1');
  });
});

// Tenth round: a cap's refusal quoted "this call $987.65" from the amount Keybrake's own lookup read.
describe('refusal: a cost Keybrake looked up is not quoted', () => {
  it('names the window, its limit and what was used, and the amount only when the request gave it', () => {
    expect(refusal('day', 150_000_000, 200_000_000, 987_650_000, true)).toEqual({
      reason: 'daily_cap_exceeded',
      message:
        "Keybrake: daily spend cap of $200.00 would be exceeded ($150.00 used, this call's amount, which Keybrake read from the object it acts on).",
    });
    expect(refusal('day', 150_000_000, 200_000_000, 60_000_000).message).toBe(
      'Keybrake: daily spend cap of $200.00 would be exceeded ($150.00 used, this call $60.00).',
    );
  });
});
