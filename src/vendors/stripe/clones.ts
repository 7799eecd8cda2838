import { type Denial, deny } from '../../decision/reasons.ts';
import type { Params } from '../types.ts';

/**
 * Parameters that copy a customer's saved payment method onto a connected account (Stripe's
 * "cloning saved payment methods"), per operation: a card token made for a `customer`, a payment
 * method made from the `customer`'s or from a shared `payment_method`, a legacy Source made from a
 * shared `original_source` (of the `customer`'s, for a card: "Cloning card Sources"). None of these
 * fields has another meaning on its operation. The connected account then charges the copy with its
 * own key, outside Keybrake: a spending credential minted, like a client secret.
 */
const CLONE_FIELDS: ReadonlyMap<string, readonly string[]> = new Map([
  ['stripe.tokens.create', ['customer']],
  ['stripe.payment_methods.create', ['customer', 'payment_method']],
  ['stripe.sources.create', ['original_source', 'customer']],
]);

/**
 * The refusal (price stage) of a call that clones a saved payment method, whatever the policy and
 * whether or not it names the account in Stripe-Account or Stripe-Context: an upstream key that is a
 * connected account's OAuth access token clones with no header at all. Undefined: not a clone.
 * Found by a security tester (fourth round): all three were free writes ("nothing is charged").
 */
export function cloneDenial(operation: string, params: Params): Denial | undefined {
  const field = CLONE_FIELDS.get(operation)?.find((name) => Object.hasOwn(params, name));
  if (field === undefined) return undefined;
  return deny(
    'credential_operation',
    `${operation} with "${field}" copies a customer's saved payment method to a connected account, which can then charge it outside Keybrake: Keybrake never forwards it.`,
  );
}
