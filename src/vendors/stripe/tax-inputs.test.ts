import { describe, expect, it } from 'vitest';
import { isDenial } from '../../decision/reasons.ts';
import { parseForm } from '../form.ts';
import type { Params } from '../types.ts';
import { taxInputRaise } from './tax-inputs.ts';

const limits = { maxBytes: 65_536, maxDepth: 8, maxParams: 512 };

function form(body: string): Params {
  const params = parseForm(body, limits);
  if (isDenial(params)) throw new Error(params.message);
  return params;
}

// Thirteenth round (probe legit13 finding 2): a metadata key is the merchant's label, which
// automatic tax never reads; the rest of the body is read as fixes13m decided (money.test.ts).
describe('taxInputRaise and metadata', () => {
  it.each([
    ['stripe.products.update', 'metadata[tax_code]=legacy-A12'],
    ['stripe.products.update', 'metadata[Tax_Code]=x&name=Ebook'],
    ['stripe.prices.update', 'metadata[tax_behavior]=set-in-erp'],
    ['stripe.shipping_rates.update', 'metadata[TaxBehavior]=x'],
  ])('does not raise %s with %s', (id, body) => {
    expect(taxInputRaise(id, form(body))).toBeUndefined();
  });

  it.each([
    ['stripe.products.update', 'metadata[tax_code]=legacy-A12&tax_code=txcd_10000000'],
    ['stripe.products.update', 'Metadata[tax_code]=txcd_10000000'],
    ['stripe.prices.update', 'metadata[plan]=pro&currency_options[eur][tax_behavior]=exclusive'],
    ['stripe.shipping_rates.update', 'metadata[x]=1&Tax_Behavior=exclusive'],
  ])('still raises %s with %s', (id, body) => {
    expect(taxInputRaise(id, form(body))).toEqual(expect.any(String));
  });
});

// Thirteenth round (probe fixes13y finding 3): a Plan is a Price, and its update moves it to another
// Product, whose tax code automatic tax then reads; its other fields stay free.
describe('taxInputRaise and a plan update', () => {
  it.each(['product=prod_taxable', 'Product=prod_taxable', 'nickname=Monthly&product=prod_taxable'])(
    'raises stripe.plans.update with %s',
    (body) => {
      expect(taxInputRaise('stripe.plans.update', form(body))).toMatch(/product/);
    },
  );

  it.each(['nickname=Monthly', 'active=false&trial_period_days=7', 'metadata[product]=pro'])(
    'does not raise stripe.plans.update with %s',
    (body) => {
      expect(taxInputRaise('stripe.plans.update', form(body))).toBeUndefined();
    },
  );
});
