import { type Denial, deny, isDenial } from '../../decision/reasons.ts';
import type { ExchangeRates } from '../../money/exchange-rates.ts';
import type { Operation, Params, VendorRequest } from '../types.ts';
import { bodyCost, lookupCost, type Priced, refundCost } from './costs.ts';
import { amount, isId, scalar } from './fields.ts';
import { matchStripeOperation, type StripePricingRule } from './operations.ts';
import { stripeParties } from './parties.ts';

const FREE: Priced = { movesMoney: false, costMicros: 0 };

/**
 * Identifies and prices one Stripe call (price stage): operations-table row, parties, cost. Reads not
 * in the table are `stripe.read` (known, free); other unknown calls are `stripe.unknown`, treated as
 * money-moving at cost 0 so the authorize stage lets them through only when a policy names them.
 */
export function classifyStripe(req: VendorRequest, params: Params, rates: ExchangeRates): Operation | Denial {
  const parties = stripeParties(req, params);
  if (isDenial(parties)) return parties;
  const match = matchStripeOperation(req.method, req.path);
  if (!match) {
    if (req.method === 'GET')
      return { id: 'stripe.read', known: true, movesMoney: false, costMicros: 0, parties };
    return { id: 'stripe.unknown', known: false, movesMoney: true, costMicros: 0, parties };
  }
  if (!match.segments.every(isId))
    return deny('path_invalid', 'The path does not name a valid Stripe object id.');
  const priced = applyRule(match.row.rule, match.segments, params, rates);
  if (isDenial(priced)) return priced;
  return { id: match.row.id, known: true, ...priced, parties };
}

/** Prices a call by its row's rule; `ids` are the object ids in its path (the intent, charge, invoice). */
function applyRule(
  rule: StripePricingRule,
  ids: readonly string[],
  params: Params,
  rates: ExchangeRates,
): Priced | Denial {
  switch (rule) {
    case 'free':
      return FREE;
    case 'amount':
      return bodyCost(params, rates);
    case 'payment_intent_create': {
      // Without confirm the intent only records an amount; anything but an explicit false may confirm.
      const confirm = scalar(params, 'confirm');
      if (isDenial(confirm)) return confirm;
      if (confirm === undefined || confirm === 'false') {
        const a = amount(params, 'amount');
        return isDenial(a) ? a : FREE;
      }
      return bodyCost(params, rates);
    }
    case 'payment_intent_confirm':
      return lookupCost(`/v1/payment_intents/${ids[0]}`, undefined, (o) => o['amount'], rates);
    case 'payment_intent_capture': {
      const requested = amount(params, 'amount_to_capture');
      if (isDenial(requested)) return requested;
      return lookupCost(
        `/v1/payment_intents/${ids[0]}`,
        requested,
        (o) => o['amount_capturable'] ?? o['amount'],
        rates,
      );
    }
    case 'charge_capture': {
      const requested = amount(params, 'amount');
      if (isDenial(requested)) return requested;
      return lookupCost(`/v1/charges/${ids[0]}`, requested, (o) => o['amount'], rates);
    }
    case 'refund':
      return refundCost(params, rates);
    case 'invoice_pay':
      return lookupCost(`/v1/invoices/${ids[0]}`, undefined, (o) => o['amount_remaining'], rates);
  }
}
