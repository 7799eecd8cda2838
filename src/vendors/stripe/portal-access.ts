import { type Denial, deny } from '../../decision/reasons.ts';
import type { Params } from '../types.ts';
import { isObj, valuesNamed } from './fields.ts';

/**
 * Writes that open the customer portal to whoever the agent is, judged by their body (price stage).
 * Creating a portal session is `sensitive` (its url manages the customer's subscriptions and payment
 * methods), but an adversarial probe (twelfth round, reveals) reached the same portal with two free
 * writes: a portal configuration turning on its login page (`login_page[enabled]=true`, whose answer
 * hands over `login_page.url`, "a shareable URL to the hosted portal login page. Your customers will
 * be able to log in with their email and receive a link to their customer portal", Stripe's
 * definition) and letting the portal move a subscription to any price with the proration invoiced at
 * once, then a customer update setting the customer's `email` to the agent's. The agent then logs in
 * as the customer at Stripe, outside every cap.
 *   - A login page turned on (anything but an explicit `false`): `credential_operation`, whatever
 *     the policy says, as the portal session is: it lets whoever controls a customer's email into that
 *     customer's portal.
 *   - Portal features that move money when the customer (or whoever logs in as one) uses them, a
 *     subscription's update (new prices, quantities, prorations invoiced at once) or cancel (refunded
 *     prorations, lost revenue), and any feature Stripe may add: the write needs an exact entry
 *     (`destructive`), as a standing change that acts outside Keybrake does. Invoice history, payment
 *     method update and customer update act only on what the customer already owes or owns.
 *   - A customer's `email` (on its update): every link Stripe mails the customer (the portal login
 *     link, finalised invoices' hosted pages, receipts) goes there; the write needs an exact entry.
 *     A customer created with an email is the agent's own new customer: nothing to redirect.
 */

const CONFIGURATION_WRITES: ReadonlySet<string> = new Set([
  'stripe.billing_portal.configurations.create',
  'stripe.billing_portal.configurations.update',
]);

const CUSTOMER_UPDATE = 'stripe.customers.update';

/** Portal features that only show or change what the customer already owes or owns. */
const HARMLESS_FEATURES: ReadonlySet<string> = new Set([
  'invoice_history',
  'payment_method_update',
  'customer_update',
]);

/** The refusal of a portal configuration write that turns its login page on; undefined otherwise. */
export function portalLoginDenial(id: string, params: Params): Denial | undefined {
  if (!CONFIGURATION_WRITES.has(id)) return undefined;
  // Fail closed: only `login_page[enabled]=false` and nothing else keeps the page off.
  const off = (page: unknown) => isObj(page) && Object.keys(page).length === 1 && page['enabled'] === 'false';
  if (valuesNamed(params, 'login_page').every(off)) return undefined;
  return deny(
    'credential_operation',
    "A customer portal login page (login_page[enabled]) lets whoever controls a customer's email into that customer's portal, as a portal session does: Keybrake never forwards it.",
  );
}

/**
 * What in the body makes a free write need an exact entry (Operation.raisedBy), in words for the
 * refusal; undefined when nothing does.
 */
export function portalAccessRaise(id: string, params: Params): string | undefined {
  if (CONFIGURATION_WRITES.has(id)) {
    const moving = valuesNamed(params, 'features').flatMap((features) =>
      isObj(features) ? Object.keys(features).filter((name) => !HARMLESS_FEATURES.has(name)) : ['features'],
    );
    if (moving.length > 0) {
      return `portal features that move money when a customer uses them (${moving.join(', ')})`;
    }
  }
  if (id === CUSTOMER_UPDATE && valuesNamed(params, 'email').length > 0) {
    return "a new email for the customer (every link Stripe mails the customer, the portal login's included, goes there)";
  }
  return undefined;
}
