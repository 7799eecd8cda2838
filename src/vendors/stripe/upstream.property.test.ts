import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isDenial } from '../../decision/reasons.ts';
import { minorUnitExponent } from '../../money/currencies.ts';
import { loadExchangeRates } from '../../money/exchange-rates.ts';
import type { CompiledKey } from '../../snapshot/types.ts';
import type { CostLookup, Operation, Params } from '../types.ts';
import { createStripeAdapter } from './index.ts';
import { encodeForm } from './previews.ts';

/**
 * Pricing against the upstream, through the Stripe adapter as the pipeline drives it (parse → price
 * → the lookup's read → settle): for charges, payment intents (created and confirmed, confirmed
 * later, captured), charge captures, transfers and refunds, with arbitrary amounts in every currency
 * of the table, the reservation is at least the exact USD value of what the money moves (computed
 * here with plain rational arithmetic, rounding nowhere) and at least what settle reads from the
 * Stripe-shaped answer to the call. money.property.test.ts covers the other rules call by call.
 */

const rates = loadExchangeRates();
const stripe = createStripeAdapter({ rates });
const limits = { maxBytes: 1 << 20, maxDepth: 8, maxParams: 2048 };
const RUNS = { numRuns: 500 };
const KEY = {
  uid: 'agents/s',
  namespace: 'agents',
  name: 's',
  vendor: 'stripe',
  tokenFingerprint: 'kb_stripe_…0000',
  upstream: { kind: 'bearer', token: 'sk_test_x' },
  suspended: false,
  policy: { ref: 'agents/p', limits: {}, timezone: 'UTC', readsWhenStoreDown: false },
} as CompiledKey;

const CURRENCIES = [...rates.rates.keys()].filter((c) => minorUnitExponent(c) !== undefined).sort();
const currency = fc.constantFrom(...CURRENCIES);
/** Stripe amounts have at most eight digits. */
const minor = fc.oneof(fc.integer({ min: 0, max: 99_999_999 }), fc.constantFrom(0, 1, 50, 99_999_999));
const fraction = fc.double({ min: 0, max: 1, noNaN: true });
const id = (prefix: string) => fc.stringMatching(/^[A-Za-z0-9]{1,14}$/).map((s) => `${prefix}_${s}`);

/** One call: the request, the object its lookup reads (if any), what moves, and Stripe's answer. */
interface Case {
  readonly path: string;
  readonly params: Params;
  readonly object?: Record<string, unknown>;
  /** Minor units that move, in `currency`: the exact-value oracle's input. */
  readonly moves: number;
  readonly currency: string;
  readonly response: Record<string, unknown>;
}

/** `minor` of `cur` in micro-USD as an exact fraction (no rounding): [numerator, denominator]. */
function exact(minorUnits: number, cur: string): [bigint, bigint] {
  const exp = BigInt(minorUnitExponent(cur)!);
  if (cur === 'usd') return [BigInt(minorUnits) * 1_000_000n, 10n ** exp];
  const rate = rates.rates.get(cur)!;
  return [BigInt(minorUnits) * 1_000_000n * rate.numerator, rate.denominator * 10n ** exp];
}

function price(c: Case): { op: Operation; reserved: number } {
  const req = {
    method: 'POST',
    path: c.path,
    query: '',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  };
  const params = stripe.parse(req, Buffer.from(encodeForm(c.params as Record<string, unknown>)), limits);
  if (isDenial(params)) throw new Error(`parse: ${params.reason} ${params.message}`);
  const op = stripe.price(req, params, KEY);
  if (isDenial(op)) throw new Error(`price: ${op.reason} ${op.message}`);
  if (!op.lookup) return { op, reserved: op.costMicros };
  const lookup: CostLookup = op.lookup;
  expect(lookup.path.split('?')[0]).toBe(`/v1/${String(c.object?.['object'])}s/${String(c.object?.['id'])}`);
  expect(lookup.next?.(c.object)).toBeUndefined();
  const reserved = lookup.price(c.object);
  if (reserved === undefined) throw new Error('the lookup could not price a well-formed object');
  return { op, reserved: op.costMicros + reserved };
}

const CASES: Record<string, fc.Arbitrary<Case>> = {
  'charges.create': fc
    .tuple(minor, currency, fc.boolean(), fc.boolean())
    .map(([amount, cur, capture, failed]) => ({
      path: '/v1/charges',
      params: {
        amount: String(amount),
        currency: cur,
        source: 'tok_visa',
        ...(capture ? {} : { capture: 'false' }),
      },
      moves: amount,
      currency: cur,
      response: {
        object: 'charge',
        amount,
        amount_captured: capture && !failed ? amount : 0,
        captured: capture && !failed,
        currency: cur,
        status: failed ? 'failed' : 'succeeded',
      },
    })),
  'payment_intents.create (confirmed at once)': fc
    .tuple(
      minor,
      currency,
      fc.constantFrom('succeeded', 'requires_capture', 'processing', 'requires_action'),
      fc.constantFrom('true', 'yes', '1'),
    )
    .map(([amount, cur, status, confirm]) => ({
      path: '/v1/payment_intents',
      params: { amount: String(amount), currency: cur, confirm, payment_method: 'pm_card_visa' },
      moves: amount,
      currency: cur,
      response: {
        object: 'payment_intent',
        amount,
        amount_received: status === 'succeeded' ? amount : 0,
        currency: cur,
        status,
      },
    })),
  'payment_intents.confirm': fc.tuple(minor, currency, id('pi'), fraction).map(([amount, cur, pi, got]) => ({
    path: `/v1/payment_intents/${pi}/confirm`,
    params: { payment_method: 'pm_card_visa' },
    object: { object: 'payment_intent', id: pi, amount, currency: cur, status: 'requires_confirmation' },
    moves: amount,
    currency: cur,
    response: {
      object: 'payment_intent',
      amount,
      // Stripe never receives more than the intent's amount.
      amount_received: Math.floor(amount * got),
      currency: cur,
      status: 'succeeded',
    },
  })),
  'payment_intents.capture': fc
    .tuple(minor, fraction, fc.option(fraction, { nil: undefined }), currency, id('pi'))
    .map(([amount, capturable, ask, cur, pi]) => {
      const held = Math.floor(amount * capturable);
      const requested = ask === undefined ? undefined : Math.floor(held * ask);
      return {
        path: `/v1/payment_intents/${pi}/capture`,
        params: requested === undefined ? {} : { amount_to_capture: String(requested) },
        object: {
          object: 'payment_intent',
          id: pi,
          amount,
          amount_capturable: held,
          currency: cur,
          status: 'requires_capture',
        },
        moves: requested ?? held,
        currency: cur,
        response: {
          object: 'payment_intent',
          amount,
          amount_received: requested ?? held,
          currency: cur,
          status: 'succeeded',
        },
      };
    }),
  'charges.capture': fc
    .tuple(minor, fc.option(fraction, { nil: undefined }), currency, id('ch'))
    .map(([amount, ask, cur, ch]) => {
      const requested = ask === undefined ? undefined : Math.floor(amount * ask);
      return {
        path: `/v1/charges/${ch}/capture`,
        params: requested === undefined ? {} : { amount: String(requested) },
        object: { object: 'charge', id: ch, amount, captured: false, currency: cur },
        moves: requested ?? amount,
        currency: cur,
        response: {
          object: 'charge',
          amount,
          amount_captured: requested ?? amount,
          captured: true,
          currency: cur,
          status: 'succeeded',
        },
      };
    }),
  'transfers.create': fc.tuple(minor, currency).map(([amount, cur]) => ({
    path: '/v1/transfers',
    params: { amount: String(amount), currency: cur, destination: 'acct_1' },
    moves: amount,
    currency: cur,
    response: { object: 'transfer', amount, currency: cur },
  })),
  'refunds.create (of a charge)': fc
    .tuple(minor, fraction, fc.option(fraction, { nil: undefined }), currency, id('ch'))
    .map(([amount, done, ask, cur, ch]) => {
      const already = Math.floor(amount * done);
      const left = amount - already;
      const requested = ask === undefined ? undefined : Math.floor(left * ask);
      return {
        path: '/v1/refunds',
        params: { charge: ch, ...(requested === undefined ? {} : { amount: String(requested) }) },
        object: { object: 'charge', id: ch, amount, amount_refunded: already, currency: cur },
        moves: requested ?? left,
        currency: cur,
        response: { object: 'refund', amount: requested ?? left, currency: cur, status: 'succeeded' },
      };
    }),
  'refunds.create (of a payment intent)': fc
    .tuple(minor, fc.option(fraction, { nil: undefined }), currency, id('pi'))
    .map(([received, ask, cur, pi]) => {
      const requested = ask === undefined ? undefined : Math.floor(received * ask);
      return {
        path: '/v1/refunds',
        params: { payment_intent: pi, ...(requested === undefined ? {} : { amount: String(requested) }) },
        object: {
          object: 'payment_intent',
          id: pi,
          amount: received,
          amount_received: received,
          currency: cur,
          status: 'succeeded',
        },
        moves: requested ?? received,
        currency: cur,
        response: { object: 'refund', amount: requested ?? received, currency: cur, status: 'pending' },
      };
    }),
};

describe('Stripe reservations against what Stripe reports (through the adapter)', () => {
  it.each(Object.keys(CASES))(
    '%s: reserved is the exact value moved rounded up, and ≥ what settle reads',
    (name) => {
      fc.assert(
        fc.property(CASES[name]!, (c) => {
          const { op, reserved } = price(c);
          expect(op.class).toBe('money');
          expect(Number.isSafeInteger(reserved) && reserved >= 0).toBe(true);
          const [num, den] = exact(c.moves, c.currency);
          expect(BigInt(reserved) * den >= num, `${reserved} µ$ < ${c.moves} ${c.currency}`).toBe(true);
          // Rounded up by less than one micro-dollar: an exact reading, not a wild over-count either.
          expect(BigInt(reserved) * den - num < den).toBe(true);
          const settled = stripe.settle(op, 200, c.response);
          if (settled !== undefined) expect(settled).toBeLessThanOrEqual(reserved);
        }),
        RUNS,
      );
    },
  );
});
