import { type Denial, deny, isDenial } from '../../decision/reasons.ts';
import { minorToMicroUsd } from '../../money/convert.ts';
import { minorUnitExponent } from '../../money/currencies.ts';
import type { ExchangeRates } from '../../money/exchange-rates.ts';
import type { MicroUsd } from '../../money/micro-usd.ts';
import type { CostLookup, Params, Parties } from '../types.ts';
import { amount, isObj, objectId, scalar } from './fields.ts';

/**
 * The cost formulas of Stripe's pricing rules (price stage; classify.ts picks the formula). Amounts
 * are Stripe minor units in the call's currency, converted to micro-USD rounding up. Whatever cannot
 * be priced is denied with price_unknown; nothing that may move money is ever priced at zero.
 */

/** What a pricing rule adds to an operation: whether it moves money, its reserved cost, or a lookup. */
export interface Priced {
  readonly movesMoney: boolean;
  readonly costMicros: MicroUsd;
  readonly lookup?: CostLookup;
}

/** `amount` + `currency` from the body. */
export function bodyCost(params: Params, rates: ExchangeRates): Priced | Denial {
  const a = amount(params, 'amount');
  if (isDenial(a)) return a;
  const currency = scalar(params, 'currency');
  if (isDenial(currency)) return currency;
  if (a === undefined) return deny('price_unknown', 'This call needs an "amount" for Keybrake to price it.');
  if (currency === undefined)
    return deny('price_unknown', 'This call needs a "currency" for Keybrake to price it.');
  const micros = minorToMicroUsd(a, currency, rates);
  if (micros === undefined) return deny('price_unknown', unpriceable(currency, rates));
  return { movesMoney: true, costMicros: micros };
}

/** A refund: the requested amount, else what is left, always in the refunded object's currency. */
export function refundCost(params: Params, rates: ExchangeRates): Priced | Denial {
  const requested = amount(params, 'amount');
  if (isDenial(requested)) return requested;
  const charge = objectId(params, 'charge');
  if (isDenial(charge)) return charge;
  const intent = objectId(params, 'payment_intent');
  if (isDenial(intent)) return intent;
  // The refund's currency is the charge's, whatever the request says: always read it from Stripe.
  if (charge !== undefined) {
    return lookupCost(
      `/v1/charges/${charge}`,
      requested,
      (o) => remaining(o['amount'], o['amount_refunded']),
      rates,
    );
  }
  if (intent !== undefined) {
    return lookupCost(
      `/v1/payment_intents/${intent}`,
      requested,
      (o) => o['amount_received'] ?? o['amount'],
      rates,
    );
  }
  return deny(
    'price_unknown',
    'A refund must name a "charge" or a "payment_intent" for Keybrake to price it.',
  );
}

function remaining(total: unknown, refunded: unknown): unknown {
  return typeof total === 'number' && typeof refunded === 'number' ? total - refunded : total;
}

/**
 * Prices from the object Stripe holds: the requested amount (if the call has one) or `pick(object)`,
 * in the object's currency. The pipeline performs the GET with the real key before reserving.
 */
export function lookupCost(
  path: string,
  requested: number | undefined,
  pick: (o: Record<string, unknown>) => unknown,
  rates: ExchangeRates,
): Priced {
  const price = (body: unknown): MicroUsd | undefined => {
    if (!isObj(body) || typeof body['currency'] !== 'string') return undefined;
    const minor = requested ?? pick(body);
    if (typeof minor !== 'number') return undefined;
    return minorToMicroUsd(minor, body['currency'], rates);
  };
  return { movesMoney: true, costMicros: 0, lookup: { path, price, parties: lookedUpParties } };
}

/** The customer (an id, or an expanded object) and currency of a looked-up charge or intent. */
function lookedUpParties(body: unknown): Partial<Parties> {
  if (!isObj(body)) return {};
  const c = body['customer'];
  const customer = typeof c === 'string' ? c : isObj(c) && typeof c['id'] === 'string' ? c['id'] : undefined;
  const currency = typeof body['currency'] === 'string' ? body['currency'].toLowerCase() : undefined;
  return {
    ...(customer !== undefined ? { customers: [customer] } : {}),
    ...(currency !== undefined ? { currencies: [currency] } : {}),
  };
}

function unpriceable(currency: string, rates: ExchangeRates): string {
  const shown = /^[A-Za-z]{3}$/.test(currency) ? currency.toLowerCase() : 'this';
  if (minorUnitExponent(currency) === undefined)
    return `Keybrake cannot price amounts in unknown currency ${shown}.`;
  if (!rates.rates.has(currency.toLowerCase())) {
    return `Keybrake has no exchange rate for ${shown}; configure one to allow this call.`;
  }
  return 'The amount is too large for Keybrake to price.';
}
