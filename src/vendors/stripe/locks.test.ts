import { describe, expect, it } from 'vitest';
import { MAX_LEASES_PER_CALL } from '../../counters/keys.ts';
import { isDenial } from '../../decision/reasons.ts';
import { loadExchangeRates } from '../../money/exchange-rates.ts';
import { resolveLocks } from '../operation-table.ts';
import type { Params } from '../types.ts';
import { MAX_PRICE_READS } from './billing.ts';
import { classifyStripe, matchStripeOperation, stripeLockField } from './classify.ts';
import { STRIPE_OPERATIONS } from './operations.ts';

// ADR 0007 §5: the operations priced from a lookup, and the writes that change what such a lookup
// reads, name the objects they lock; the lease stage takes those leases.

const rates = loadExchangeRates();

function locksOf(method: string, path: string, params: Params = {}) {
  const op = classifyStripe({ method, path, query: '', headers: {} }, params, rates);
  if (isDenial(op)) throw new Error(`unexpected denial ${op.reason}: ${op.message}`);
  return op.locks ?? [];
}

describe('Stripe locks', () => {
  it.each<[string, string, string, Params, string[]]>([
    ['an update of a payment intent', 'POST', '/v1/payment_intents/pi_1', { amount: '5000' }, ['pi_1']],
    ['a confirm (priced from the intent)', 'POST', '/v1/payment_intents/pi_1/confirm', {}, ['pi_1']],
    ['a capture of a payment intent', 'POST', '/v1/payment_intents/pi_1/capture', {}, ['pi_1']],
    ['a capture of a charge', 'POST', '/v1/charges/ch_1/capture', {}, ['ch_1']],
    ['a refund naming a charge', 'POST', '/v1/refunds', { charge: 'ch_1' }, ['ch_1']],
    ['a refund naming a payment intent', 'POST', '/v1/refunds', { payment_intent: 'pi_1' }, ['pi_1']],
    ['an invoice pay (priced from the invoice)', 'POST', '/v1/invoices/in_1/pay', {}, ['in_1']],
    ['an update of an invoice', 'POST', '/v1/invoices/in_1', { description: 'x' }, ['in_1']],
    ['a charge (priced from its own body)', 'POST', '/v1/charges', { amount: '100', currency: 'usd' }, []],
    ['a read of the intent', 'GET', '/v1/payment_intents/pi_1', {}, []],
  ])('%s locks %j', (_name, method, path, params, expected) => {
    expect(locksOf(method, path, params)).toEqual(expected);
  });

  // Sixth round: a Price read to price a call was updated (`currency_options[eur][unit_amount]` from
  // €1 to €9 000) by another replica between the read and the forward. Both sides lock the object.
  it.each<[string, string, string, Params, string[]]>([
    [
      'an invoice item priced from a Price',
      'POST',
      '/v1/invoiceitems',
      { customer: 'cus_1', pricing: { price: 'price_multi' }, currency: 'eur', quantity: '1' },
      ['price_multi'],
    ],
    [
      'invoice lines priced from Prices',
      'POST',
      '/v1/invoices/in_1/add_lines',
      {
        lines: [
          { pricing: { price: 'price_a' }, quantity: '1' },
          { price: 'plan-gold', quantity: '2' },
        ],
      },
      ['in_1', 'price_a', 'plan-gold'],
    ],
    [
      'a Checkout Session for a customer priced from a Price',
      'POST',
      '/v1/checkout/sessions',
      { customer: 'cus_1', mode: 'payment', line_items: [{ price: 'price_a', quantity: '1' }] },
      ['price_a'],
    ],
    [
      'an invoice update priced from a shipping rate',
      'POST',
      '/v1/invoices/in_1',
      { shipping_cost: { shipping_rate: 'shr_1' } },
      ['in_1', 'shr_1'],
    ],
    [
      'a subscription previewed with the Prices it names',
      'POST',
      '/v1/subscriptions',
      { customer: 'cus_1', items: [{ price: 'price_a' }], add_invoice_items: [{ price: 'price_b' }] },
      ['cus_1', 'price_b', 'price_a'],
    ],
    ['an update of a Price', 'POST', '/v1/prices/price_multi', { currency_options: {} }, ['price_multi']],
    ['an update of a Plan', 'POST', '/v1/plans/plan-gold', { nickname: 'x' }, ['plan-gold']],
    ['a deletion of a Plan', 'DELETE', '/v1/plans/plan-gold', {}, ['plan-gold']],
    [
      'a Plan created under a chosen id',
      'POST',
      '/v1/plans',
      { id: 'plan-gold', amount: '100' },
      ['plan-gold'],
    ],
    ['a Plan created without an id', 'POST', '/v1/plans', { amount: '100' }, []],
    ['an update of a shipping rate', 'POST', '/v1/shipping_rates/shr_1', { active: 'true' }, ['shr_1']],
  ])(
    '%s locks what it names or reads, so the other side waits (object_busy)',
    (_name, method, path, params, expected) => {
      expect(locksOf(method, path, params)).toEqual(expected);
    },
  );

  it('locks invoice lines priced from the most Prices one call may name, within the lease bound', () => {
    const lines = Array.from({ length: MAX_PRICE_READS }, (_, i) => ({
      pricing: { price: `price_${i}` },
      quantity: '1',
    }));
    const locks = locksOf('POST', '/v1/invoices/in_1/add_lines', { lines });
    expect(locks).toHaveLength(MAX_PRICE_READS + 1);
    expect(locks.length).toBeLessThanOrEqual(MAX_LEASES_PER_CALL);
  });

  it.each<[string, string, Params, string[]]>([
    ['POST', '/v1/payment_intents/pi_1/increment_authorization', { amount: '100' }, ['pi_1']],
    ['POST', '/v1/invoiceitems', { invoice: 'in_1', amount: '100', currency: 'usd' }, ['in_1']],
    ['POST', '/v1/invoiceitems', { customer: 'cus_1', amount: '100', currency: 'usd' }, []],
  ])('the row of %s %s locks %j', (method, path, params, expected) => {
    const match = matchStripeOperation(method, path);
    if (!match) throw new Error('no row');
    expect(resolveLocks(match.row, match.segments, params, stripeLockField)).toEqual(
      expected.length > 0 ? { locks: expected } : {},
    );
  });

  it('refuses a lock parameter given as anything but one id', () => {
    const op = classifyStripe(
      { method: 'POST', path: '/v1/refunds', query: '', headers: {} },
      { charge: ['ch_1', 'ch_2'] },
      rates,
    );
    expect(op).toMatchObject({ reason: 'body_invalid' });
  });

  it('names, in every row that locks, only placeholders of its own path', () => {
    for (const row of STRIPE_OPERATIONS) {
      if (!row.locks) continue;
      const segments = [...row.path.matchAll(/\{[^{}/]+\}/g)].map((_, i) => `id_${i}`);
      expect(() => resolveLocks(row, segments, {}, stripeLockField), row.id).not.toThrow();
    }
  });
});
