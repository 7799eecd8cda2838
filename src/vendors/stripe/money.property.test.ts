import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isDenial } from '../../decision/reasons.ts';
import { minorUnitExponent } from '../../money/currencies.ts';
import { loadExchangeRates } from '../../money/exchange-rates.ts';
import { parseForm } from '../form.ts';
import type { CostLookup, Operation, Params } from '../types.ts';
import { classifyStripe } from './classify.ts';
import { STRIPE_OPERATIONS } from './operations.ts';
import { encodeForm } from './previews.ts';
import { settleStripe } from './settle.ts';

// Properties of Stripe pricing (issue 11): an allowed money call is reserved at least at what a
// Stripe-shaped answer then reports moved, for random amounts, currencies and parameters; and no
// request, however odd, makes classify (or the lookups it returns) throw.

const rates = loadExchangeRates();
const limits = { maxBytes: 1 << 20, maxDepth: 8, maxParams: 2048 };
const CURRENCIES = [...rates.rates.keys()].filter((c) => minorUnitExponent(c) !== undefined).sort();

const currency = fc.constantFrom(...CURRENCIES);
const minor = fc.integer({ min: 0, max: 99_999_999 });
const id = (prefix: string) => fc.stringMatching(/^[A-Za-z0-9]{1,12}$/).map((s) => `${prefix}_${s}`);
/** A Stripe decimal string with up to `places` decimals. */
const decimal = (maxWhole: number, places: number) =>
  fc
    .tuple(fc.integer({ min: 0, max: maxWhole }), fc.integer({ min: 0, max: places }), fc.nat())
    .map(([w, p, f]) => (p === 0 ? String(w) : `${w}.${String(f % 10 ** p).padStart(p, '0')}`));

/** One allowed money call: the request, the objects its reads find, and Stripe's answer to it. */
interface Case {
  readonly method: string;
  readonly path: string;
  readonly params: Params;
  /** "METHOD path" → object (a read's path may carry a query). */
  readonly objects: Record<string, unknown>;
  readonly response: unknown;
}

function classify(c: Case): Operation {
  // Through the form parser, as the parse stage hands parameters over.
  const params = parseForm(encodeForm(c.params), limits);
  if (isDenial(params)) throw new Error(`form ${params.reason}`);
  const o = classifyStripe({ method: c.method, path: c.path, query: '', headers: {} }, params, rates);
  if (isDenial(o)) throw new Error(`denied ${o.reason}: ${o.message}`);
  return o;
}

/** The reservation: the op's reads answered from `objects`, as the price stage performs them. */
function reserved(o: Operation, objects: Record<string, unknown>): number | undefined {
  if (!o.lookup) return o.costMicros;
  let lookup: CostLookup = o.lookup;
  for (let reads = 0; reads < 20; reads++) {
    const key = `${lookup.method ?? 'GET'} ${lookup.path.split('?')[0]}`;
    if (!Object.hasOwn(objects, key)) throw new Error(`no object for ${key}`);
    const next: CostLookup | undefined = lookup.next?.(objects[key]);
    if (next === undefined) return lookup.price(objects[key]);
    lookup = next;
  }
  throw new Error('runaway');
}

/** Round half up, as Stripe rounds a decimal amount to the minor unit (never above the ceiling). */
function stripeRound(unit: string, qty: string): number {
  const scaled = (s: string): [bigint, bigint] => {
    const [w, f = ''] = s.split('.');
    return [BigInt(`${w}${f}`), 10n ** BigInt(f.length)];
  };
  const [a, da] = scaled(unit);
  const [b, db] = scaled(qty);
  const d = da * db;
  return Number((a * b * 2n + d) / (2n * d));
}

const refunded = <T extends string>(field: T) =>
  fc
    .tuple(
      minor,
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.option(fc.double({ min: 0, max: 1, noNaN: true })),
      currency,
    )
    .map(([total, done, ask, cur]) => {
      const already = Math.floor(total * done);
      const left = total - already;
      const requested = ask === null ? undefined : Math.floor(left * ask);
      return { total, already, left, requested, cur, field };
    });

const CASES: Record<string, fc.Arbitrary<Case>> = {
  amount: fc
    .tuple(fc.constantFrom('/v1/charges', '/v1/transfers', '/v1/payouts', '/v1/topups'), minor, currency)
    .map(([path, amount, cur]) => ({
      method: 'POST',
      path,
      params: { amount: String(amount), currency: cur, destination: 'acct_1' },
      objects: {},
      response: { amount, amount_captured: amount, captured: true, currency: cur, status: 'succeeded' },
    })),
  charge_refund: fc
    .tuple(refunded('amount_refunded'), fc.constantFrom('refund', 'refunds'), id('ch'))
    .map(([r, form, ch]) => ({
      method: 'POST',
      path: `/v1/charges/${ch}/${form}`,
      params: r.requested === undefined ? {} : { amount: String(r.requested) },
      objects: {
        [`GET /v1/charges/${ch}`]: { amount: r.total, amount_refunded: r.already, currency: r.cur },
      },
      response:
        form === 'refunds'
          ? { object: 'refund', amount: r.requested ?? r.left, currency: r.cur, status: 'succeeded' }
          : { object: 'charge', amount: r.total, amount_refunded: r.total, currency: r.cur },
    })),
  refund: fc.tuple(refunded('amount_refunded'), id('ch')).map(([r, ch]) => ({
    method: 'POST',
    path: '/v1/refunds',
    params: { charge: ch, ...(r.requested === undefined ? {} : { amount: String(r.requested) }) },
    objects: { [`GET /v1/charges/${ch}`]: { amount: r.total, amount_refunded: r.already, currency: r.cur } },
    response: { object: 'refund', amount: r.requested ?? r.left, currency: r.cur, status: 'pending' },
  })),
  application_fee_refund: fc.tuple(refunded('amount_refunded'), id('fee')).map(([r, fee]) => ({
    method: 'POST',
    path: `/v1/application_fees/${fee}/refunds`,
    params: r.requested === undefined ? {} : { amount: String(r.requested) },
    objects: {
      [`GET /v1/application_fees/${fee}`]: { amount: r.total, amount_refunded: r.already, currency: r.cur },
    },
    response: { object: 'fee_refund', amount: r.requested ?? r.left, currency: r.cur },
  })),
  transfer_reversal: fc.tuple(refunded('amount_reversed'), id('tr')).map(([r, tr]) => ({
    method: 'POST',
    path: `/v1/transfers/${tr}/reversals`,
    params: r.requested === undefined ? {} : { amount: String(r.requested) },
    objects: {
      [`GET /v1/transfers/${tr}`]: { amount: r.total, amount_reversed: r.already, currency: r.cur },
    },
    response: { object: 'transfer_reversal', amount: r.requested ?? r.left, currency: r.cur },
  })),
  payout_reversal: fc.tuple(minor, currency, id('po')).map(([amount, cur, po]) => ({
    method: 'POST',
    path: `/v1/payouts/${po}/reverse`,
    params: {},
    objects: { [`GET /v1/payouts/${po}`]: { amount, currency: cur, status: 'paid' } },
    response: { object: 'payout', amount, currency: cur, status: 'pending' },
  })),
  increment_authorization: fc.tuple(minor, minor, currency, id('pi')).map(([held, more, cur, pi]) => ({
    method: 'POST',
    path: `/v1/payment_intents/${pi}/increment_authorization`,
    params: { amount: String(held + more) },
    objects: { [`GET /v1/payment_intents/${pi}`]: { amount: held, amount_capturable: held, currency: cur } },
    response: { object: 'payment_intent', amount: held + more, currency: cur, status: 'requires_capture' },
  })),
  apply_customer_balance: fc
    .tuple(minor, fc.option(fc.double({ min: 0, max: 1, noNaN: true })), currency, id('pi'))
    .map(([amount, ask, cur, pi]) => ({
      method: 'POST',
      path: `/v1/payment_intents/${pi}/apply_customer_balance`,
      params: ask === null ? {} : { amount: String(Math.floor(amount * ask)) },
      objects: { [`GET /v1/payment_intents/${pi}`]: { amount, currency: cur } },
      response: {
        object: 'payment_intent',
        amount,
        amount_received: amount,
        currency: cur,
        status: 'succeeded',
      },
    })),
  invoice_finalize: fc
    .tuple(
      minor,
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.constantFrom('charge_automatically', 'send_invoice'),
      currency,
      id('in'),
    )
    .map(([due, applied, collection, cur, inv]) => ({
      method: 'POST',
      path: `/v1/invoices/${inv}/finalize`,
      params: {},
      objects: {
        [`GET /v1/invoices/${inv}`]: { amount_due: due, collection_method: collection, currency: cur },
      },
      // Finalising may apply the customer's credit balance: amount_due never grows.
      response: {
        amount_due: Math.floor(due * applied),
        collection_method: collection,
        currency: cur,
        status: 'open',
      },
    })),
  invoice_item: fc
    .oneof(
      fc.tuple(fc.integer({ min: -99_999, max: 99_999_999 }), currency).map(([amount, cur]) => ({
        params: { amount: String(amount), currency: cur } as Params,
        objects: {},
        moved: { amount, currency: cur },
      })),
      fc.tuple(decimal(100_000, 12), decimal(1000, 12), currency).map(([unit, qty, cur]) => ({
        params: { unit_amount_decimal: unit, quantity_decimal: qty, currency: cur } as Params,
        objects: {},
        moved: { amount: stripeRound(unit, qty), currency: cur },
      })),
      fc
        .tuple(minor, fc.integer({ min: 1, max: 1000 }), currency, id('price'), fc.boolean())
        .map(([unit, qty, cur, price, legacy]) => ({
          params: (legacy
            ? { price, quantity: String(qty) }
            : { pricing: { price }, quantity: String(qty) }) as Params,
          objects: {
            [`GET /v1/prices/${price}`]: {
              unit_amount: unit,
              unit_amount_decimal: String(unit),
              currency: cur,
            },
          },
          moved: { amount: unit * qty, currency: cur },
        })),
    )
    .map((v) => ({
      method: 'POST',
      path: '/v1/invoiceitems',
      params: { customer: 'cus_1', ...v.params },
      objects: v.objects,
      response: { object: 'invoiceitem', ...v.moved },
    })),
  credit_note: fc.tuple(minor, currency, id('in')).map(([amount, cur, inv]) => ({
    method: 'POST',
    path: '/v1/credit_notes',
    params: { invoice: inv, amount: String(amount) },
    objects: { 'GET /v1/credit_notes/preview': { amount, total: amount, currency: cur } },
    response: { object: 'credit_note', amount, total: amount, currency: cur },
  })),
  customer_balance_transaction: fc
    .tuple(fc.integer({ min: -99_999_999, max: 99_999_999 }), currency)
    .map(([amount, cur]) => ({
      method: 'POST',
      path: '/v1/customers/cus_1/balance_transactions',
      params: { amount: String(amount), currency: cur },
      objects: {},
      response: { object: 'customer_balance_transaction', amount, currency: cur },
    })),
  credit_grant: fc.tuple(minor, currency).map(([value, cur]) => ({
    method: 'POST',
    path: '/v1/billing/credit_grants',
    params: {
      amount: { type: 'monetary', monetary: { value: String(value), currency: cur } },
      customer: 'cus_1',
    },
    objects: {},
    response: {
      object: 'billing.credit_grant',
      amount: { type: 'monetary', monetary: { value, currency: cur } },
    },
  })),
  subscription_create: fc.tuple(minor, currency, id('price')).map(([due, cur, price]) => ({
    method: 'POST',
    path: '/v1/subscriptions',
    params: { customer: 'cus_1', items: [{ price }], expand: ['latest_invoice'] },
    objects: {
      // Read for its product first, which the preview's automatic tax may read (ADR 0007 §5).
      [`GET /v1/prices/${price}`]: { id: price, object: 'price', product: 'prod_1' },
      'POST /v1/invoices/create_preview': {
        amount_due: due,
        currency: cur,
        collection_method: 'charge_automatically',
      },
    },
    // Stripe charges the first invoice its preview showed.
    response: {
      object: 'subscription',
      latest_invoice: { amount_due: due, currency: cur, collection_method: 'charge_automatically' },
    },
  })),
  quote_accept: fc.tuple(minor, minor, currency, id('qt')).map(([total, upfront, cur, qt]) => ({
    method: 'POST',
    path: `/v1/quotes/${qt}/accept`,
    params: {},
    objects: {
      [`GET /v1/quotes/${qt}`]: {
        amount_total: total,
        currency: cur,
        computed: { upfront: { amount_total: upfront } },
      },
    },
    response: {
      object: 'quote',
      amount_total: total,
      currency: cur,
      computed: { upfront: { amount_total: upfront } },
      status: 'accepted',
    },
  })),
  issuing_authorization_approve: fc
    .tuple(minor, fc.option(minor), currency, id('iauth'))
    .map(([pending, ask, cur, iauth]) => ({
      method: 'POST',
      path: `/v1/issuing/authorizations/${iauth}/approve`,
      params: ask === null ? {} : { amount: String(ask) },
      objects: {
        [`GET /v1/issuing/authorizations/${iauth}`]: {
          amount: 0,
          currency: cur,
          pending_request: { amount: pending, currency: cur },
        },
      },
      response: { amount: ask ?? pending, currency: cur, approved: true, pending_request: null },
    })),
  treasury_reversal: fc.tuple(minor, currency, fc.boolean()).map(([amount, cur, credit]) => ({
    method: 'POST',
    path: credit ? '/v1/treasury/credit_reversals' : '/v1/treasury/debit_reversals',
    params: credit ? { received_credit: 'rc_1' } : { received_debit: 'rd_1' },
    objects: {
      [credit ? 'GET /v1/treasury/received_credits/rc_1' : 'GET /v1/treasury/received_debits/rd_1']: {
        amount,
        currency: cur,
      },
    },
    response: { amount, currency: cur, status: 'processing' },
  })),
  climate_order: fc
    .tuple(decimal(1000, 3), fc.integer({ min: 1, max: 1_000_000 }), fc.integer({ min: 0, max: 100_000 }))
    .map(([tons, subtotal, fees]) => ({
      method: 'POST',
      path: '/v1/climate/orders',
      params: { product: 'climsku_1', metric_tons: tons, currency: 'usd' },
      objects: {
        'GET /v1/climate/products/climsku_1': {
          current_prices_per_metric_ton: {
            usd: { amount_subtotal: subtotal, amount_fees: fees, amount_total: subtotal + fees },
          },
        },
      },
      response: {
        object: 'climate.order',
        amount_total: stripeRound(String(subtotal + fees), tons),
        currency: 'usd',
        status: 'open',
      },
    })),
};

describe('Stripe money properties', () => {
  it.each(Object.keys(CASES))('%s: the reservation is at least what Stripe reports moved', (rule) => {
    fc.assert(
      fc.property(CASES[rule]!, (c) => {
        const o = classify(c);
        const cost = reserved(o, c.objects);
        expect(cost).toBeTypeOf('number');
        const actual = settleStripe(o, 200, c.response, rates);
        if (actual !== undefined) expect(actual).toBeLessThanOrEqual(cost!);
      }),
      { numRuns: 200 },
    );
  });

  const NAMES = [
    'amount',
    'currency',
    'quantity',
    'quantity_decimal',
    'unit_amount',
    'unit_amount_decimal',
    'price',
    'pricing',
    'price_data',
    'lines',
    'items',
    'add_invoice_items',
    'invoice',
    'charge',
    'payment_intent',
    'subscription',
    'customer',
    'collection_method',
    'trial_period_days',
    'invoice_now',
    'prorate',
    'proration_behavior',
    'phases',
    'default_settings',
    'from_subscription',
    'metric_tons',
    'product',
    'received_credit',
    'received_debit',
    'tax_amounts',
    'invoice_item',
    'type',
    'monetary',
    'value',
    'id',
    'deleted',
    'discounts',
    'metadata',
  ];
  const scalarValue = fc.oneof(
    fc.constantFrom(
      '',
      '0',
      '-1',
      '1.5',
      'true',
      'false',
      'now',
      'usd',
      'jpy',
      'xyz',
      'price_1',
      'sub_1',
      '1e9',
      '99999999999999999',
    ),
    fc.string({ maxLength: 8 }),
    fc.integer().map(String),
  );
  const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
    v: fc.oneof(
      { maxDepth: 3 },
      scalarValue,
      fc.array(tie('v'), { maxLength: 3 }),
      fc.dictionary(fc.constantFrom(...NAMES), tie('v'), { maxKeys: 4 }),
    ),
  })).v;
  const paramsArb = fc.dictionary(fc.constantFrom(...NAMES), value, { maxKeys: 8 }) as fc.Arbitrary<Params>;
  const rows = STRIPE_OPERATIONS.filter((r) => r.method !== 'GET');
  const segment = fc.oneof(
    fc.constantFrom('x_1', 'in_1', 'sub_1', 'ch_1', 'pi%2F1', '..'),
    fc.string({ maxLength: 6 }),
  );
  const body: fc.Arbitrary<unknown> = fc.oneof(
    fc.anything(),
    fc.record(
      {
        amount: fc.oneof(fc.integer(), fc.double(), fc.constant(null), fc.string()),
        amount_due: fc.oneof(fc.integer(), fc.constant(null)),
        currency: fc.oneof(currency, fc.string(), fc.constant(null)),
        subscription: fc.oneof(fc.constant(null), fc.string(), fc.record({ id: fc.string() })),
        unit_amount_decimal: fc.oneof(fc.string(), decimal(10, 4)),
        quantity: fc.oneof(fc.integer(), fc.string()),
        pricing: fc.anything(),
        pending_request: fc.anything(),
        current_prices_per_metric_ton: fc.anything(),
        currency_options: fc.anything(),
      },
      { requiredKeys: [] },
    ),
  );

  it('never throws out of classify, its lookups or settle, whatever the parameters and answers', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...rows),
        fc.array(segment, { minLength: 3, maxLength: 3 }),
        paramsArb,
        fc.array(body, { minLength: 6, maxLength: 6 }),
        (row, ids, params, bodies) => {
          let i = 0;
          const path = row.path.replace(/\{[^}]+\}/g, () => ids[i++ % 3]!);
          const o = classifyStripe({ method: row.method, path, query: '', headers: {} }, params, rates);
          if (isDenial(o)) return;
          let lookup = o.lookup;
          for (const answer of bodies) {
            if (!lookup) break;
            lookup.parties?.(answer);
            const next = lookup.next?.(answer);
            if (next === undefined) {
              const cost = lookup.price(answer);
              if (cost !== undefined) expect(Number.isSafeInteger(cost) && cost >= 0).toBe(true);
              break;
            }
            lookup = next;
          }
          for (const answer of bodies) settleStripe(o, 200, answer, rates);
        },
      ),
      { numRuns: 3000 },
    );
  });
});
