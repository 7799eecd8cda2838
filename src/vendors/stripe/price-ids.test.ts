import { describe, expect, it } from 'vitest';
import { isDenial } from '../../decision/reasons.ts';
import { loadExchangeRates } from '../../money/exchange-rates.ts';
import { parseForm } from '../form.ts';
import type { Operation } from '../types.ts';
import { classifyStripe } from './classify.ts';
import { pricePath } from './costs.ts';

// Sixth round: a Plan made with a custom id (`POST /v1/plans id=gold-monthly`) goes wherever a Price
// id goes, and Stripe has taken `-` in such ids since 2018-05-21; invoice items, invoice lines and
// Checkout Sessions refused it with body_invalid while subscriptions priced it.

const rates = loadExchangeRates();
const usd = (minor: number) => minor * 10_000;

function classify(path: string, form: string) {
  const params = parseForm(form, { maxBytes: 65_536, maxDepth: 8, maxParams: 512 });
  if (isDenial(params)) return params;
  return classifyStripe({ method: 'POST', path, query: '', headers: {} }, params, rates);
}

function op(path: string, form: string): Operation {
  const r = classify(path, form);
  if (isDenial(r)) throw new Error(`unexpected denial ${r.reason}: ${r.message}`);
  return r;
}

/** Performs the op's reads as the price stage does, answering each from `objects` (by path). */
function walk(o: Operation, objects: Record<string, unknown>) {
  const reads: string[] = [];
  let lookup = o.lookup;
  while (lookup) {
    reads.push(lookup.path);
    if (!Object.hasOwn(objects, lookup.path)) throw new Error(`no fixture for ${lookup.path}`);
    const body = objects[lookup.path];
    const next = lookup.next?.(body);
    if (next === undefined) return { reads, cost: lookup.price(body) };
    lookup = next;
  }
  return { reads, cost: undefined };
}

const GOLD = '/v1/prices/gold-monthly?expand%5B%5D=currency_options';
const plan = {
  object: 'plan',
  id: 'gold-monthly',
  billing_scheme: 'per_unit',
  currency: 'usd',
  unit_amount: 1500,
  unit_amount_decimal: '1500',
};
const invoice = {
  object: 'invoice',
  id: 'in_1Abc',
  currency: 'usd',
  customer: 'cus_1Abc',
  default_tax_rates: [],
  automatic_tax: { enabled: false },
  total_taxes: [],
  lines: { object: 'list', has_more: false, data: [{ id: 'il_1Abc', amount: 1500, taxes: [] }] },
};
const item = {
  object: 'invoiceitem',
  tax_rates: [],
  id: 'ii_1Abc',
  amount: 1500,
  currency: 'usd',
  quantity: 1,
  pricing: { type: 'price_details', price_details: { price: 'gold-monthly' }, unit_amount_decimal: null },
};
const objects = {
  [GOLD]: plan,
  '/v1/invoices/in_1Abc': invoice,
  '/v1/invoiceitems/ii_1Abc': item,
};

describe("a Plan's custom id is priced where a Price id is", () => {
  it.each([
    ['an invoice item', '/v1/invoiceitems', 'customer=cus_1Abc&pricing[price]=gold-monthly', usd(1500)],
    [
      "an invoice item by the legacy 'price'",
      '/v1/invoiceitems',
      'customer=cus_1Abc&price=gold-monthly',
      usd(1500),
    ],
    [
      'an invoice item updated',
      '/v1/invoiceitems/ii_1Abc',
      'pricing[price]=gold-monthly&quantity=2',
      usd(3000),
    ],
    [
      'an invoice item updated to a new quantity of the plan it was made from',
      '/v1/invoiceitems/ii_1Abc',
      'quantity=3',
      usd(4500),
    ],
    [
      'lines added to an invoice',
      '/v1/invoices/in_1Abc/add_lines',
      'lines[0][pricing][price]=gold-monthly&lines[0][quantity]=1',
      usd(1500),
    ],
    [
      'an invoice line updated',
      '/v1/invoices/in_1Abc/lines/il_1Abc',
      'pricing[price]=gold-monthly&quantity=1',
      usd(1500),
    ],
    [
      'a Checkout Session for a customer',
      '/v1/checkout/sessions',
      'mode=payment&customer=cus_1Abc&line_items[0][price]=gold-monthly&line_items[0][quantity]=1&success_url=https://example.com/s',
      usd(1500),
    ],
  ])('%s', (_name, path, form, cost) => {
    const priced = walk(op(path, form), objects);
    expect(priced.reads).toContain(GOLD);
    expect(priced.cost).toBe(cost);
  });
});

describe('a price id cannot steer the lookup path', () => {
  it.each([
    ['a slash', 'gold/../../v1/customers/cus_1Abc'],
    ['a dot segment', '..'],
    ['a dot', 'gold.monthly'],
    ['a query', 'gold?expand[]=x'],
    ['a fragment', 'gold#x'],
    ['a percent sign', 'gold%2F..'],
    ['a space', 'gold monthly'],
    ['nothing', ''],
  ])('%s is refused before any read', (_name, id) => {
    const form = `customer=cus_1Abc&pricing[price]=${encodeURIComponent(id)}`;
    expect(classify('/v1/invoiceitems', form)).toMatchObject({ reason: 'body_invalid' });
    const session = `mode=payment&customer=cus_1Abc&line_items[0][price]=${encodeURIComponent(id)}&line_items[0][quantity]=1`;
    expect(classify('/v1/checkout/sessions', session)).toMatchObject({ reason: 'body_invalid' });
  });

  it('does not read a price whose id, in an invoice item Stripe returns, is no valid price id', () => {
    const o = op('/v1/invoiceitems/ii_1Abc', 'quantity=3');
    const odd = { ...item, pricing: { ...item.pricing, price_details: { price: '../customers/cus_1Abc' } } };
    expect(walk(o, { '/v1/invoiceitems/ii_1Abc': odd })).toEqual({
      reads: ['/v1/invoiceitems/ii_1Abc'],
      cost: undefined,
    });
  });

  it('keeps whatever id it is given one path segment', () => {
    expect(pricePath('a/b?c#d%e')).toBe('/v1/prices/a%2Fb%3Fc%23d%25e?expand%5B%5D=currency_options');
  });
});
