import { describe, expect, it } from 'vitest';
import { isDenial } from '../../decision/reasons.ts';
import { loadExchangeRates } from '../../money/exchange-rates.ts';
import { resolveLocks } from '../operation-table.ts';
import type { Params } from '../types.ts';
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
