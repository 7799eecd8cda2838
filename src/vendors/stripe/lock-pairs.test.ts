import { describe, expect, it } from 'vitest';
import { isDenial } from '../../decision/reasons.ts';
import { loadExchangeRates } from '../../money/exchange-rates.ts';
import type { Operation, Params } from '../types.ts';
import { classifyStripe } from './classify.ts';

// ADR 0007 §5, sixth round: one object under two ids (a charge and its payment intent, an invoice and
// its items, a subscription and its schedule), or a write that took no lock at all, let a call change
// what another call was priced from. Each pair below must name one same lock on both sides: what the
// call locks by its request, or leases before a read of its price lookup (the objects Stripe's
// answers give, here).

const rates = loadExchangeRates();

function op(method: string, path: string, params: Params = {}): Operation {
  const o = classifyStripe({ method, path, query: '', headers: {} }, params, rates);
  if (isDenial(o)) throw new Error(`unexpected denial ${o.reason}: ${o.message}`);
  return o;
}

/**
 * Every object a call holds by the time it is forwarded: its own locks and those leased before each
 * read of its lookup, answered from `answers` ("GET path"); and the cost the lookup finds.
 */
function held(o: Operation, answers: Record<string, Record<string, unknown>> = {}) {
  const locks = new Set(o.locks ?? []);
  let lookup = o.lookup;
  for (let reads = 0; lookup !== undefined; reads++) {
    for (const id of lookup.locks ?? []) locks.add(id);
    const read = `${lookup.method ?? 'GET'} ${lookup.path}`;
    const answer = answers[read];
    if (answer === undefined || reads > 8) throw new Error(`no answer for ${read}`);
    const next = lookup.next?.(answer);
    if (next === undefined) return { locks: [...locks], cost: lookup.price(answer) };
    lookup = next;
  }
  return { locks: [...locks], cost: o.costMicros };
}

const CHARGE = { id: 'ch_1', object: 'charge', amount: 4000, currency: 'usd', payment_intent: 'pi_1' };
const INTENT = {
  id: 'pi_1',
  object: 'payment_intent',
  amount: 4000,
  amount_capturable: 4000,
  currency: 'usd',
};

describe('Stripe lock pairs: both sides of each race meet on one lease', () => {
  it('a refund by payment intent and a capture through its charge both hold the intent (F1)', () => {
    const refund = held(op('POST', '/v1/refunds', { payment_intent: 'pi_1' }), {
      'GET /v1/payment_intents/pi_1': { ...INTENT, amount_received: 0 },
    });
    const capture = held(op('POST', '/v1/charges/ch_1/capture'), {
      'GET /v1/charges/ch_1': CHARGE,
      'GET /v1/payment_intents/pi_1': INTENT,
    });
    expect(refund.locks).toContain('pi_1');
    expect(capture.locks).toEqual(expect.arrayContaining(['ch_1', 'pi_1']));
  });

  it('an invoice pay holds the payment intent it confirms (F1)', () => {
    const pay = held(op('POST', '/v1/invoices/in_1/pay'), {
      'GET /v1/invoices/in_1': {
        id: 'in_1',
        amount_remaining: 4000,
        currency: 'usd',
        payment_intent: 'pi_1',
      },
      'GET /v1/payment_intents/pi_1': INTENT,
    });
    expect(pay).toEqual({ locks: expect.arrayContaining(['in_1', 'pi_1']), cost: 40_000_000 });
    // API versions from 2025-03-31 list the invoice's intents under `payments`.
    const listed = held(op('POST', '/v1/invoices/in_1/pay'), {
      'GET /v1/invoices/in_1': {
        id: 'in_1',
        amount_remaining: 4000,
        currency: 'usd',
        payments: { data: [{ payment: { type: 'payment_intent', payment_intent: 'pi_1' } }] },
      },
      'GET /v1/payment_intents/pi_1': INTENT,
    });
    expect(listed.locks).toContain('pi_1');
  });

  it('a capture through the charge and an increment of its intent both hold the intent (F2)', () => {
    const increment = op('POST', '/v1/payment_intents/pi_1/increment_authorization', { amount: '900000' });
    expect(increment.locks).toContain('pi_1');
    // An increment made before the lease shows on the intent: the capture is priced from it.
    const capture = held(op('POST', '/v1/charges/ch_1/capture'), {
      'GET /v1/charges/ch_1': CHARGE,
      'GET /v1/payment_intents/pi_1': { ...INTENT, amount: 900000, amount_capturable: 900000 },
    });
    expect(capture).toEqual({ locks: expect.arrayContaining(['pi_1']), cost: 9_000_000_000 });
  });

  it('prices a capture of a charge with no intent from the charge alone, and a requested amount as asked', () => {
    const bare = held(op('POST', '/v1/charges/ch_1/capture'), {
      'GET /v1/charges/ch_1': { ...CHARGE, payment_intent: null },
    });
    expect(bare).toEqual({ locks: ['ch_1'], cost: 40_000_000 });
    const requested = held(op('POST', '/v1/charges/ch_1/capture', { amount: '1000' }), {
      'GET /v1/charges/ch_1': CHARGE,
      'GET /v1/payment_intents/pi_1': { ...INTENT, amount_capturable: 900000 },
    });
    expect(requested).toEqual({ locks: expect.arrayContaining(['pi_1']), cost: 10_000_000 });
  });

  // Sixth round: while a refund's read of charge ch_r1 ($40, uncaptured) was held, another key
  // incremented and captured its intent to $9 000, and the refund, priced at $40, refunded $9 000.
  const CAPTURED = { ...INTENT, amount: 900000, amount_capturable: 0, amount_received: 900000 };
  const onTheIntent = () => [
    op('POST', '/v1/payment_intents/pi_1/increment_authorization', { amount: '900000' }),
    op('POST', '/v1/payment_intents/pi_1/capture'),
  ];

  it.each<[string, string, Params]>([
    ['POST /v1/refunds with charge', '/v1/refunds', { charge: 'ch_1' }],
    ['the legacy /refunds', '/v1/charges/ch_1/refunds', {}],
    ['the legacy /refund', '/v1/charges/ch_1/refund', {}],
    [
      'a Terminal refund_payment with charge',
      '/v1/terminal/readers/tmr_1/refund_payment',
      { charge: 'ch_1' },
    ],
  ])(
    'a refund through %s and an increment or capture of the charge’s intent both hold the intent',
    (_n, path, params) => {
      for (const call of onTheIntent()) expect(call.locks).toContain('pi_1');
      // Captured at $9 000 before the refund leased the intent: the refund is priced from it.
      const refund = held(op('POST', path, params), {
        'GET /v1/charges/ch_1': { ...CHARGE, amount_refunded: 0 },
        'GET /v1/payment_intents/pi_1': CAPTURED,
      });
      expect(refund).toEqual({ locks: expect.arrayContaining(['ch_1', 'pi_1']), cost: 9_000_000_000 });
    },
  );

  it.each<[string, string, Params]>([
    ['POST /v1/refunds', '/v1/refunds', { payment_intent: 'pi_1' }],
    ['a Terminal refund_payment', '/v1/terminal/readers/tmr_1/refund_payment', { payment_intent: 'pi_1' }],
    ['POST /v1/terminal/refunds', '/v1/terminal/refunds', { payment_intent: 'pi_1' }],
  ])(
    'a refund by payment intent through %s and an increment or capture of it both hold the intent',
    (_n, path, params) => {
      for (const call of onTheIntent()) expect(call.locks).toContain('pi_1');
      expect(op('POST', path, params).locks).toContain('pi_1');
    },
  );

  it('prices a refund of a charge from what is left of it, and a requested amount as asked', () => {
    const bare = held(op('POST', '/v1/refunds', { charge: 'ch_1' }), {
      'GET /v1/charges/ch_1': { ...CHARGE, payment_intent: null, amount_refunded: 1000 },
    });
    expect(bare).toEqual({ locks: ['ch_1'], cost: 30_000_000 });
    // An uncaptured intent says $0 can be refunded: the charge's $30 left is the larger.
    const uncaptured = held(op('POST', '/v1/charges/ch_1/refunds'), {
      'GET /v1/charges/ch_1': { ...CHARGE, amount_refunded: 1000 },
      'GET /v1/payment_intents/pi_1': { ...INTENT, amount_received: 0 },
    });
    expect(uncaptured).toEqual({ locks: expect.arrayContaining(['ch_1', 'pi_1']), cost: 30_000_000 });
    const requested = held(op('POST', '/v1/refunds', { charge: 'ch_1', amount: '1000' }), {
      'GET /v1/charges/ch_1': CHARGE,
      'GET /v1/payment_intents/pi_1': CAPTURED,
    });
    expect(requested).toEqual({ locks: expect.arrayContaining(['ch_1', 'pi_1']), cost: 10_000_000 });
  });

  it.each<[string, Params]>([
    ['its amount', { amount: '900000' }],
    ['its quantity', { quantity: '225' }],
  ])(
    'an invoice finalize and an update of %s of an item on that invoice both hold the invoice (F3)',
    (_n, params) => {
      expect(op('POST', '/v1/invoices/in_1/finalize').locks).toContain('in_1');
      const update = held(op('POST', '/v1/invoiceitems/ii_1', params), {
        'GET /v1/invoiceitems/ii_1': {
          id: 'ii_1',
          invoice: 'in_1',
          amount: 4000,
          currency: 'usd',
          unit_amount: 4000,
        },
        'GET /v1/invoices/in_1': { id: 'in_1', currency: 'usd', amount_due: 4000 },
      });
      expect(update.locks).toEqual(expect.arrayContaining(['ii_1', 'in_1']));
    },
  );

  it('a line made from an invoice item holds the item an update of it locks (F3)', () => {
    expect(op('POST', '/v1/invoiceitems/ii_1', { amount: '900000' }).locks).toContain('ii_1');
    const lines = held(op('POST', '/v1/invoices/in_1/add_lines', { lines: [{ invoice_item: 'ii_1' }] }), {
      'GET /v1/invoices/in_1': { id: 'in_1', currency: 'usd', amount_due: 0 },
      'GET /v1/invoiceitems/ii_1': { id: 'ii_1', amount: 4000, currency: 'usd' },
    });
    expect(lines.locks).toEqual(expect.arrayContaining(['in_1', 'ii_1']));
  });

  it.each<[string, string, string, Params]>([
    ['its tax status', 'POST', '/v1/customers/cus_1', { tax_exempt: 'none' }],
    ['its address', 'POST', '/v1/customers/cus_1', { address: { country: 'DE', postal_code: '10115' } }],
    ['its coupon', 'POST', '/v1/customers/cus_1', { coupon: 'big' }],
    [
      'its balance',
      'POST',
      '/v1/customers/cus_1/balance_transactions',
      { amount: '500000', currency: 'usd' },
    ],
    ['its discount', 'DELETE', '/v1/customers/cus_1/discount', {}],
  ])(
    'a subscription create and a change of the customer’s %s both hold the customer (F4)',
    (_n, method, path, params) => {
      expect(
        op('POST', '/v1/subscriptions', { customer: 'cus_1', items: [{ price: 'price_1' }] }).locks,
      ).toContain('cus_1');
      expect(op(method, path, params).locks).toContain('cus_1');
    },
  );

  // Seventh round: while a subscription create's preview (automatic tax, holding cus_1) was held, a
  // tax id of cus_1 was added or deleted by each of the four paths, each forwarded.
  const TAX_ID = {
    id: 'txi_2',
    object: 'tax_id',
    customer: 'cus_1',
    owner: { type: 'customer', customer: 'cus_1' },
  };
  it.each<[string, string, string, Params]>([
    [
      'a tax id added by its path',
      'POST',
      '/v1/customers/cus_1/tax_ids',
      { type: 'eu_vat', value: 'DE123456789' },
    ],
    [
      'a tax id added by its owner',
      'POST',
      '/v1/tax_ids',
      { owner: { type: 'customer', customer: 'cus_1' }, type: 'eu_vat', value: 'DE123456789' },
    ],
    ['a tax id deleted by its path', 'DELETE', '/v1/customers/cus_1/tax_ids/txi_1', {}],
    ['a tax id deleted by its id alone', 'DELETE', '/v1/tax_ids/txi_2', {}],
  ])('a subscription create and %s both hold the customer', (_n, method, path, params) => {
    expect(
      op('POST', '/v1/subscriptions', { customer: 'cus_1', items: [{ price: 'price_1' }] }).locks,
    ).toContain('cus_1');
    const change = held(op(method, path, params), { 'GET /v1/tax_ids/txi_2': TAX_ID });
    expect(change).toEqual({ locks: ['cus_1'], cost: 0 });
  });

  it('a tax id deleted by its id alone is read for its owner, then again with the customer leased', () => {
    const o = op('DELETE', '/v1/tax_ids/txi_2');
    expect(o).toMatchObject({ class: 'destructive', movesMoney: false });
    expect(o.locks).toBeUndefined();
    const first = o.lookup!;
    expect(first).toMatchObject({ path: '/v1/tax_ids/txi_2' });
    expect(first.locks).toBeUndefined();
    expect(first.parties?.(TAX_ID)).toEqual({ customers: ['cus_1'] });
    expect(first.next?.(TAX_ID)).toMatchObject({ path: '/v1/tax_ids/txi_2', locks: ['cus_1'] });
    // Owned by a customer named only in `owner` (newer API versions), or by its account id.
    expect(
      held(o, {
        'GET /v1/tax_ids/txi_2': { id: 'txi_2', owner: { type: 'customer', customer_account: 'acct_c1' } },
      }),
    ).toEqual({ locks: ['acct_c1'], cost: 0 });
    // The account's own tax id, or a connected account's, changes no customer's: nothing leased.
    for (const type of ['self', 'account', 'application']) {
      expect(held(o, { 'GET /v1/tax_ids/txi_2': { id: 'txi_2', customer: null, owner: { type } } })).toEqual({
        locks: [],
        cost: 0,
      });
    }
    // An answer that does not say whose it is: not priced, so refused.
    expect(held(o, { 'GET /v1/tax_ids/txi_2': { id: 'txi_2', owner: { type: 'customer' } } }).cost).toBe(
      undefined,
    );
    expect(held(o, { 'GET /v1/tax_ids/txi_2': { id: 'txi_2' } }).cost).toBe(undefined);
  });

  it('a tax id of the account locks nothing; an owner that is not an object is refused', () => {
    expect(op('POST', '/v1/tax_ids', { type: 'eu_vat', value: 'DE1' }).locks).toBeUndefined();
    expect(
      op('POST', '/v1/tax_ids', { owner: { type: 'self' }, type: 'eu_vat', value: 'DE1' }).locks,
    ).toBeUndefined();
    const o = classifyStripe(
      { method: 'POST', path: '/v1/tax_ids', query: '', headers: {} },
      { owner: 'cus_1', type: 'eu_vat', value: 'DE1' },
      rates,
    );
    expect(o).toMatchObject({ reason: 'body_invalid' });
  });

  // Seventh round: a product's tax_code, which automatic tax reads, was updated mid-preview.
  const PRICE_DATA = {
    currency: 'usd',
    product: 'prod_1',
    unit_amount: '1000',
    recurring: { interval: 'month' },
  };
  it.each<[string, string, Params]>([
    [
      'a subscription create',
      '/v1/subscriptions',
      { customer: 'cus_1', items: [{ price_data: PRICE_DATA }] },
    ],
    [
      'a subscription create adding an invoice item',
      '/v1/subscriptions',
      { customer: 'cus_1', items: [{ price: 'price_1' }], add_invoice_items: [{ price_data: PRICE_DATA }] },
    ],
    ['a subscription update', '/v1/subscriptions/sub_1', { items: [{ price_data: PRICE_DATA }] }],
    [
      'a schedule create',
      '/v1/subscription_schedules',
      { customer: 'cus_1', phases: [{ items: [{ price_data: PRICE_DATA }] }] },
    ],
  ])(
    '%s naming price_data[product] and an update of the product both hold the product',
    (_n, path, params) => {
      expect(op('POST', path, params).locks).toContain('prod_1');
      expect(op('POST', '/v1/products/prod_1', { tax_code: 'txcd_10000000' }).locks).toEqual(['prod_1']);
    },
  );

  // Seventh round: while a preview of an existing subscription was held (an update, an item update, a
  // resume), a tax_code update of its item's Product, a tax_behavior update of its Price and a tax or
  // address update of its customer were forwarded: the preview leased only the subscription.
  const SUBSCRIPTION = {
    id: 'sub_1',
    customer: 'cus_1',
    items: { data: [{ id: 'si_1', price: { id: 'price_1', product: 'prod_1' } }], has_more: false },
  };
  const PREVIEWED = { amount_due: 1000, currency: 'usd', customer: 'cus_1' };
  const EXISTING = {
    'GET /v1/subscriptions/sub_1': SUBSCRIPTION,
    'GET /v1/subscription_items/si_1': { id: 'si_1', subscription: 'sub_1' },
    'GET /v1/subscription_schedules/sub_sched_1': {
      id: 'sub_sched_1',
      subscription: 'sub_1',
      customer: 'cus_1',
      phases: [{ items: [{ price: 'price_1' }] }],
    },
    'GET /v1/prices/price_1?expand%5B%5D=currency_options': { id: 'price_1', product: 'prod_1' },
    'POST /v1/invoices/create_preview': PREVIEWED,
  };
  it.each<[string, string, string, Params]>([
    [
      'a subscription update',
      'POST',
      '/v1/subscriptions/sub_1',
      { items: [{ id: 'si_1', quantity: '5' }], proration_behavior: 'always_invoice' },
    ],
    [
      'a switch to automatic collection',
      'POST',
      '/v1/subscriptions/sub_1',
      { collection_method: 'charge_automatically' },
    ],
    ['a resume', 'POST', '/v1/subscriptions/sub_1/resume', { billing_cycle_anchor: 'now' }],
    ['a cancellation invoicing now', 'DELETE', '/v1/subscriptions/sub_1', { invoice_now: 'true' }],
    ['a discount removal', 'DELETE', '/v1/subscriptions/sub_1/discount', {}],
    [
      'an item create',
      'POST',
      '/v1/subscription_items',
      {
        subscription: 'sub_1',
        quantity: '1',
        price_data: {
          currency: 'usd',
          product: 'prod_2',
          unit_amount: '100',
          recurring: { interval: 'month' },
        },
      },
    ],
    [
      'an item update',
      'POST',
      '/v1/subscription_items/si_1',
      { quantity: '6', proration_behavior: 'always_invoice' },
    ],
    [
      'an item removal invoicing now',
      'DELETE',
      '/v1/subscription_items/si_1',
      { proration_behavior: 'always_invoice' },
    ],
    ['a schedule release', 'POST', '/v1/subscription_schedules/sub_sched_1/release', {}],
    ['a schedule cancellation', 'POST', '/v1/subscription_schedules/sub_sched_1/cancel', {}],
    ['a schedule update', 'POST', '/v1/subscription_schedules/sub_sched_1', { end_behavior: 'release' }],
  ])(
    '%s holds the subscription, its customer and its item’s Price and Product, as their updates do',
    (_n, method, path, params) => {
      expect(held(op(method, path, params), EXISTING)).toEqual({
        locks: expect.arrayContaining(['sub_1', 'cus_1', 'price_1', 'prod_1']),
        cost: 10_000_000,
      });
      expect(op('POST', '/v1/products/prod_1', { tax_code: 'txcd_10000000' }).locks).toEqual(['prod_1']);
      expect(op('POST', '/v1/prices/price_1', { tax_behavior: 'exclusive' }).locks).toEqual(['price_1']);
      expect(op('POST', '/v1/customers/cus_1', { address: { country: 'DE' } }).locks).toEqual(['cus_1']);
    },
  );

  it('a preview that bills what the call did not lease is not priced', () => {
    const update = op('POST', '/v1/subscriptions/sub_1', { items: [{ id: 'si_1', quantity: '5' }] });
    const answers = (preview: Record<string, unknown>) => ({
      ...EXISTING,
      'POST /v1/invoices/create_preview': preview,
    });
    const line = (price: string, product: string) => ({
      lines: {
        data: [{ type: 'subscription', proration: false, amount: 1000, price: { id: price, product } }],
      },
    });
    expect(held(update, answers({ ...PREVIEWED, ...line('price_1', 'prod_1') })).cost).toBe(10_000_000);
    expect(held(update, answers({ ...PREVIEWED, customer: 'cus_2' })).cost).toBeUndefined();
    expect(held(update, answers({ ...PREVIEWED, ...line('price_9', 'prod_9') })).cost).toBeUndefined();
    expect(held(update, answers({ ...PREVIEWED, ...line('price_1', 'prod_9') })).cost).toBeUndefined();
    // Items past the read's first page: refused before the preview.
    const more = {
      ...EXISTING,
      'GET /v1/subscriptions/sub_1': { ...SUBSCRIPTION, items: { data: [], has_more: true } },
    };
    expect(held(update, more).cost).toBeUndefined();
  });

  it('a subscription update and a migration of its billing mode both hold the subscription (F5)', () => {
    expect(op('POST', '/v1/subscriptions/sub_1', { items: [{ id: 'si_1', quantity: '2' }] }).locks).toContain(
      'sub_1',
    );
    expect(
      op('POST', '/v1/subscriptions/sub_1/migrate', { billing_mode: { type: 'flexible' } }).locks,
    ).toEqual(['sub_1']);
  });

  it.each(['finalize', 'cancel'])(
    'a quote accept and a %s of the quote both hold the quote (F6)',
    (action) => {
      expect(op('POST', '/v1/quotes/qt_1/accept').locks).toContain('qt_1');
      expect(op('POST', `/v1/quotes/qt_1/${action}`).locks).toEqual(['qt_1']);
    },
  );
});
