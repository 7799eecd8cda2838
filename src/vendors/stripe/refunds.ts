import { type Denial, deny, isDenial } from '../../decision/reasons.ts';
import type { ExchangeRates } from '../../money/exchange-rates.ts';
import type { Params } from '../types.ts';
import { lookupCost, type Priced } from './costs.ts';
import { amount, objectId } from './fields.ts';
import { chargeRefund } from './intent-reads.ts';

/**
 * A refund: the requested amount, else what is left, always in the refunded object's currency.
 * `charge` names the charge when the path does (`/v1/charges/{charge}/refunds`). The refunded object
 * is the call's own lock whatever its row names (a Terminal refund's row names none), so no other call
 * through that id changes what it can refund while it is in flight (ADR 0007 §5).
 */
export function refundCost(params: Params, rates: ExchangeRates, chargeInPath?: string): Priced | Denial {
  const requested = amount(params, 'amount');
  if (isDenial(requested)) return requested;
  const charge = chargeInPath ?? objectId(params, 'charge');
  if (isDenial(charge)) return charge;
  const intent = objectId(params, 'payment_intent');
  if (isDenial(intent)) return intent;
  // Priced from one object, so it must be the one refunded: with both named (the charge paths take a
  // `payment_intent` too), Stripe might refund the intent, in another currency than the charge read
  // (a USD intent priced from a JPY charge counts ~1/160 of it). Raised by a security tester (fifth round).
  if (charge !== undefined && intent !== undefined) {
    return deny(
      'body_invalid',
      'A refund names its "charge" or its "payment_intent", not both: Keybrake prices it from the one it refunds.',
    );
  }
  // The refund's currency is the charge's, whatever the request says: always read it from Stripe.
  if (charge !== undefined) return { ...chargeRefund(charge, requested, rates), locks: [charge] };
  if (intent !== undefined) return { ...intentRefund(intent, requested, rates), locks: [intent] };
  return deny(
    'price_unknown',
    'A refund must name a "charge" or a "payment_intent" for Keybrake to price it.',
  );
}

/** A refund by payment intent: the requested amount, else the intent's `amount_received`. */
function intentRefund(intent: string, requested: number | undefined, rates: ExchangeRates): Priced {
  return lookupCost(
    `/v1/payment_intents/${intent}`,
    requested,
    (pi) => pi['amount_received'] ?? pi['amount'],
    rates,
    "the payment intent's amount_received",
  );
}
