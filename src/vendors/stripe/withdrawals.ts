import type { Params } from '../types.ts';
import { valuesNamed } from './fields.ts';

/**
 * Free writes whose body withdraws what a customer was given (price stage): Stripe then bills on its
 * own what the withdrawn credit would have paid, with no call through Keybrake, as the operation that
 * withdraws it outright does. Such a call is money Keybrake cannot price, `money_unpriced`: only an
 * exact entry admits it, as that operation's.
 *
 * A billing credit grant's update takes `expires_at` ("the time when the billing credits created by
 * this credit grant expire"): set a minute ahead, it withdraws the credits as `/expire` does, and
 * `/expire` and `/void` are `money_unpriced`. Found by an adversarial probe (thirteenth round,
 * catalog13, MEDIUM): under `POST /v1/billing/**` the update was forwarded at $0 while `/expire` was
 * refused `price_unknown`. Only `expires_at=` (empty: the credits never expire) gives more time
 * whatever the grant said; any other value is judged unpriced, a later date too, since which is
 * nearer than the grant's own takes a read and a later one buys the agent nothing a policy author
 * would miss. Read by every spelling that folds to the name (valuesNamed), as the portal checks are.
 */

const CREDIT_GRANT_UPDATE = 'stripe.billing.credit_grants.update';

/** What in the body makes a free write withdraw a credit (Operation.raisedBy); undefined when nothing does. */
export function withdrawalRaise(id: string, params: Params): string | undefined {
  if (id !== CREDIT_GRANT_UPDATE) return undefined;
  if (valuesNamed(params, 'expires_at').every((v) => v === '')) return undefined;
  return "a new expiry for the grant's billing credits (expires_at): moved near, it withdraws them as /expire does";
}
