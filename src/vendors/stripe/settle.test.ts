import { describe, expect, it } from 'vitest';
import { loadExchangeRates } from '../../money/exchange-rates.ts';
import { NO_PARTIES, type Operation } from '../types.ts';
import { settleStripe } from './settle.ts';

const rates = loadExchangeRates();
const op = (id: string, movesMoney = true): Operation => ({
  id,
  class: 'money',
  movesMoney,
  costMicros: 1,
  parties: NO_PARTIES,
});

describe('settleStripe', () => {
  it.each([
    [
      'a succeeded intent at amount_received',
      'stripe.payment_intents.create',
      { status: 'succeeded', amount: 5000, amount_received: 5000, currency: 'usd' },
      50_000_000,
    ],
    [
      'a partial capture at amount_received',
      'stripe.payment_intents.capture',
      { status: 'succeeded', amount: 5000, amount_received: 2000, currency: 'usd' },
      20_000_000,
    ],
    [
      'an intent that still needs a payment method at zero',
      'stripe.payment_intents.confirm',
      { status: 'requires_payment_method', amount: 5000, currency: 'usd' },
      0,
    ],
    [
      'an intent awaiting capture at its full amount',
      'stripe.payment_intents.create',
      { status: 'requires_capture', amount: 5000, amount_received: 0, currency: 'usd' },
      50_000_000,
    ],
    [
      'a processing intent at its full amount',
      'stripe.payment_intents.confirm',
      { status: 'processing', amount: 5000, amount_received: 0, currency: 'usd' },
      50_000_000,
    ],
    [
      'a captured charge at amount_captured',
      'stripe.charges.create',
      { status: 'succeeded', captured: true, amount: 5000, amount_captured: 5000, currency: 'jpy' },
      31_130_046,
    ],
    [
      'an uncaptured charge at its amount',
      'stripe.charges.create',
      { status: 'succeeded', captured: false, amount: 5000, amount_captured: 0, currency: 'usd' },
      50_000_000,
    ],
    [
      'a failed charge at zero',
      'stripe.charges.create',
      { status: 'failed', amount: 5000, currency: 'usd' },
      0,
    ],
    [
      'a refund at its amount',
      'stripe.refunds.create',
      { status: 'succeeded', amount: 700, currency: 'usd' },
      7_000_000,
    ],
    [
      'a failed payout at zero',
      'stripe.payouts.create',
      { status: 'failed', amount: 700, currency: 'usd' },
      0,
    ],
    ['a transfer at its amount', 'stripe.transfers.create', { amount: 700, currency: 'usd' }, 7_000_000],
  ])('counts %s', (_name, id, body, micros) => {
    expect(settleStripe(op(id), 200, body, rates)).toBe(micros);
  });

  it.each([
    ['a free operation', op('stripe.customers.create', false), 200, { amount: 1, currency: 'usd' }],
    ['an error response', op('stripe.charges.create'), 402, { amount: 1, currency: 'usd' }],
    ['a body without a currency', op('stripe.charges.create'), 200, { amount: 1 }],
    ['a body that is not an object', op('stripe.charges.create'), 200, 'oops'],
    ['an invoice payment', op('stripe.invoices.pay'), 200, { amount_paid: 100, currency: 'usd' }],
    ['an unknown operation', op('stripe.unknown'), 200, { amount: 100, currency: 'usd' }],
  ])('keeps the reservation for %s', (_name, o, status, body) => {
    expect(settleStripe(o, status, body, rates)).toBeUndefined();
  });
});
