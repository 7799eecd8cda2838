import { type Denial, deny, isDenial } from '../../decision/reasons.ts';
import type { ExchangeRates } from '../../money/exchange-rates.ts';
import type { Operation, Params, VendorRequest } from '../types.ts';
import { matchCatalog } from './catalog.ts';
import { isId } from './fields.ts';
import { stripeParties } from './parties.ts';
import { priceStripe } from './pricing.ts';

/**
 * Identifies and prices one Stripe call (price stage): catalog entry, parties, cost. Reads not in the
 * catalog are `stripe.read` (known, free); other unknown calls are `stripe.unknown`, treated as
 * money-moving at cost 0 so the authorize stage lets them through only when a policy names them.
 */
export function classifyStripe(req: VendorRequest, params: Params, rates: ExchangeRates): Operation | Denial {
  const parties = stripeParties(req, params);
  if (isDenial(parties)) return parties;
  const match = matchCatalog(req.method, req.path);
  if (!match) {
    if (req.method === 'GET')
      return { id: 'stripe.read', known: true, movesMoney: false, costMicros: 0, parties };
    return { id: 'stripe.unknown', known: false, movesMoney: true, costMicros: 0, parties };
  }
  if (!match.ids.every(isId)) return deny('path_invalid', 'The path does not name a valid Stripe object id.');
  const priced = priceStripe(match.entry.pricing, match.ids, params, rates);
  if (isDenial(priced)) return priced;
  return { id: match.entry.id, known: true, ...priced, parties };
}
