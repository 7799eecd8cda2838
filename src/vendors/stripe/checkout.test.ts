import { describe, expect, it } from 'vitest';
import { isDenial } from '../../decision/reasons.ts';
import { loadExchangeRates } from '../../money/exchange-rates.ts';
import { parseForm } from '../form.ts';
import type { Operation } from '../types.ts';
import { classifyStripe } from './classify.ts';

const rates = loadExchangeRates();
const USD = 1_000_000;

function classify(body: string, path = '/v1/checkout/sessions') {
  const params = parseForm(body, { maxBytes: 65_536, maxDepth: 5, maxParams: 256 });
  if (isDenial(params)) return params;
  return classifyStripe({ method: 'POST', path, query: '', headers: {} }, params, rates);
}

function op(body: string, path?: string): Operation {
  const r = classify(body, path);
  if (isDenial(r)) throw new Error(`unexpected denial ${r.reason}: ${r.message}`);
  return r;
}

const item = (i: number, rest: string) =>
  rest
    .split('&')
    .map((p) => `line_items[${i}]${p}`)
    .join('&');
const inline = (i: number, unit: string, quantity = '1') =>
  item(
    i,
    `[price_data][currency]=usd&[price_data][unit_amount]=${unit}&[price_data][product_data][name]=x&[quantity]=${quantity}`,
  );

// Found by a security tester (third round): a session naming a customer shows its saved cards, and
// its url paid $999 999.99 with one, for a free write.
describe('a Checkout Session for a customer is priced when it is created', () => {
  it.each<[string, string, number]>([
    ['one inline item', `customer=cus_1&mode=payment&${inline(0, '99999999')}`, 999_999_990_000],
    ['quantity × unit', `customer=cus_1&mode=payment&${inline(0, '250', '3')}`, 7_500_000],
    ['two items', `customer=cus_1&mode=payment&${inline(0, '100')}&${inline(1, '200', '2')}`, 5 * USD],
    [
      'a decimal unit amount',
      `customer=cus_1&mode=payment&${item(0, '[price_data][currency]=usd&[price_data][unit_amount_decimal]=100.5&[quantity]=2')}`,
      2_010_000,
    ],
    [
      'the most an adjustable quantity allows',
      `customer=cus_1&mode=payment&${inline(0, '100')}&line_items[0][adjustable_quantity][enabled]=true&line_items[0][adjustable_quantity][maximum]=10`,
      10 * USD,
    ],
    [
      "Stripe's default maximum of an adjustable quantity (99)",
      `customer=cus_1&mode=payment&${inline(0, '100')}&line_items[0][adjustable_quantity][enabled]=true`,
      99 * USD,
    ],
    ['a subscription', `customer=cus_1&mode=subscription&${inline(0, '5000')}`, 50 * USD],
    ['a customer named by its account', `customer_account=acct_1&mode=payment&${inline(0, '100')}`, 1 * USD],
    [
      'recovery switched off',
      `customer=cus_1&mode=payment&${inline(0, '100')}&after_expiration[recovery][enabled]=false`,
      1 * USD,
    ],
  ])('%s', (_name, body, cost) => {
    expect(op(body)).toMatchObject({
      id: 'stripe.checkout.sessions.create',
      class: 'money',
      movesMoney: true,
      costMicros: cost,
    });
  });

  it('reads a Price a line item names, × the quantity', () => {
    const o = op(`customer=cus_1&mode=payment&line_items[0][price]=price_1&line_items[0][quantity]=4`);
    expect(o.class).toBe('money');
    expect(o.lookup?.path).toBe('/v1/prices/price_1?expand%5B%5D=currency_options');
    expect(o.lookup?.price({ id: 'price_1', currency: 'usd', unit_amount: 1500 })).toBe(60 * USD);
    // A price the payer chooses (custom_unit_amount) has no unit amount: it cannot be priced.
    expect(o.lookup?.price({ id: 'price_1', currency: 'usd', unit_amount: null })).toBeUndefined();
  });

  it.each([
    ['optional items the payer may add', 'optional_items[0][price]=price_1&optional_items[0][quantity]=1'],
    ['shipping options', 'shipping_options[0][shipping_rate]=shr_1'],
    ['automatic tax', 'automatic_tax[enabled]=true'],
    ['tax rates on an item', 'line_items[0][tax_rates][0]=txr_1'],
    // Fourth round: the older name of shipping_options, and the subscription's own tax rates.
    ['shipping rates, the older name of shipping options', 'shipping_rates[0]=shr_1'],
    ["the subscription's tax rates", 'subscription_data[default_tax_rates][0]=txr_1'],
    // Its recovery url makes copies of the session, the customer's saved cards included.
    ['a recovery url once it expires', 'after_expiration[recovery][enabled]=true'],
  ])('is unpriced (exact entry only) with %s', (_name, extra) => {
    expect(op(`customer=cus_1&mode=payment&${inline(0, '100')}&${extra}`)).toMatchObject({
      class: 'money_unpriced',
      movesMoney: true,
      costMicros: 0,
    });
  });

  // Found by a security tester (fourth round): under a 2020 Stripe-Version, subscription_data[items]
  // names plans the subscription charges for, and the session was priced at its $1 line item alone.
  it.each([
    [
      'a plan in subscription_data[items]',
      'subscription_data[items][0][plan]=plan_gold&subscription_data[items][0][quantity]=1000',
    ],
    ['a coupon in subscription_data, an older name', 'subscription_data[coupon]=co_1'],
    ['a tax percentage in subscription_data', 'subscription_data[tax_percent]=50'],
    [
      'a line item by its amount, its older form, beside a price',
      'line_items[1][price]=price_1&line_items[1][amount]=100000&line_items[1][currency]=usd&line_items[1][name]=x',
    ],
  ])('refuses %s', (_name, extra) => {
    expect(classify(`customer=cus_1&mode=subscription&${inline(0, '100')}&${extra}`)).toMatchObject({
      reason: 'price_unknown',
    });
  });

  it("prices a subscription with today's subscription_data from its line items", () => {
    const body = `customer=cus_1&mode=subscription&${inline(0, '100')}&subscription_data[trial_period_days]=7&subscription_data[metadata][a]=1&subscription_data[description]=x`;
    expect(op(body)).toMatchObject({ class: 'money', movesMoney: true, costMicros: 1 * USD });
  });

  it('refuses to guess a line item it cannot price', () => {
    expect(classify('customer=cus_1&mode=payment&line_items[0][quantity]=1')).toMatchObject({
      reason: 'price_unknown',
    });
    expect(classify('customer=cus_1&mode=payment')).toMatchObject({ reason: 'price_unknown' });
  });

  it.each([
    ['without a customer (the payer pays with their own card)', `mode=payment&${inline(0, '99999999')}`],
    ['in setup mode (saves a payment method)', 'customer=cus_1&mode=setup&currency=usd'],
    [
      'recoverable without a customer',
      `mode=payment&${inline(0, '100')}&after_expiration[recovery][enabled]=true`,
    ],
  ])('stays a free write %s', (_name, body) => {
    expect(op(body)).toMatchObject({ class: 'write', movesMoney: false, costMicros: 0 });
  });

  it('makes an update that changes line items or shipping options unpriced, and leaves others free', () => {
    const path = '/v1/checkout/sessions/cs_test_1';
    expect(op(inline(0, '99999999'), path)).toMatchObject({ class: 'money_unpriced', movesMoney: true });
    expect(op('shipping_options[0][shipping_rate]=shr_1', path)).toMatchObject({ class: 'money_unpriced' });
    expect(op('metadata[a]=1', path)).toMatchObject({ class: 'write', movesMoney: false });
  });
});
