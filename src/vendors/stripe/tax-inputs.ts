import type { Params } from '../types.ts';
import { isObj } from './fields.ts';

/**
 * Free writes whose body changes what Stripe's automatic tax reads for every line it taxes later
 * (price stage): money Keybrake cannot price, `money_unpriced`, so only an exact entry admits them.
 *
 * Under automatic tax a line's tax follows the tax code of its Product and the tax behaviour of its
 * Price, or the account's defaults where they have none (`POST /v1/tax/settings`
 * `defaults[tax_code]`, `defaults[tax_behavior]`; tax-settings.ts), and is collected only where the
 * account is registered (`POST /v1/tax/registrations`). So one such write re-taxes every draft Stripe
 * recalculates (on its next update, at finalisation) and every renewal of every customer billed that
 * Product or Price (of every customer, for the account's settings), which Stripe then charges on its
 * own with no call through Keybrake. Found by an adversarial probe (thirteenth round, fixes13m,
 * HIGH, bounded by the tax rate): the item's own `tax_code`/`tax_behavior` was refused `price_unknown`
 * (billing.ts ITEM_TAX_KEYS), while the same change on the line's Product (`tax_code`), its Price
 * (`tax_behavior`, unspecified to exclusive: the tax goes on top), the account's defaults or a new
 * DE registration was a free write a glob admitted; after it the $500.00 exempt line of a $0.00
 * auto-advancing draft is taxed $125.00, charged by Stripe on its own.
 *
 * What raises, read at any depth of the body but `metadata` and by every spelling that folds to the
 * name (a Price's `currency_options[eur][tax_behavior]`, `Tax_Code`), any value (clearing a tax code takes the
 * account's default; a tax behaviour set once cannot be told harmless without reading what it was):
 *   - a Product's update naming `tax_code`, and a Plan's (a Price's) update naming `product`, which
 *     moves it under another Product's tax code;
 *   - a Price's or a shipping rate's update naming `tax_behavior` (a shipping cost's tax follows its
 *     rate's, as a line's follows its Price's);
 *   - the account's tax settings naming anything but `expand` (`defaults`, `head_office`: the head
 *     office is where tax is sourced from for origin-based jurisdictions);
 *   - every tax registration create, and an update naming anything but `expand` (`active_from` starts
 *     a scheduled registration; `expires_at` ends one, which takes the tax off credits as well as
 *     charges, so neither direction is safe).
 * Creating a Product or Price with a tax code or behaviour is left free: nothing bills it yet, and a
 * call that bills it is priced (or refused) then. Cost: a legitimate change of these settings needs an
 * exact `allow.endpoints` entry, as any account-wide standing change that acts outside Keybrake does.
 */

const FIELD_RAISES: ReadonlyMap<string, { readonly field: string; readonly why: string }> = new Map([
  [
    'stripe.products.update',
    {
      field: 'tax_code',
      why: "a product's tax code (tax_code), which automatic tax reads for every line and renewal billing it",
    },
  ],
  [
    // A Plan is a Price, and its update moves it to another Product (Stripe allows it until a
    // subscription or schedule uses it: a quote's or Checkout's recurring line, say): the Product's
    // tax code changed by swapping the Product, e.g. for a new one created free with a taxable code
    // (thirteenth round, probe fixes13y finding 3: forwarded allow $0.00 under a glob).
    'stripe.plans.update',
    {
      field: 'product',
      why: "a plan's product (product), whose tax code automatic tax reads for every line and renewal billing the plan",
    },
  ],
  [
    'stripe.prices.update',
    {
      field: 'tax_behavior',
      why: "a price's tax behavior (tax_behavior), which automatic tax reads for every line and renewal billing it: exclusive puts the tax on top",
    },
  ],
  [
    'stripe.shipping_rates.update',
    {
      field: 'tax_behavior',
      why: "a shipping rate's tax behavior (tax_behavior), which automatic tax reads for every shipping cost made from it: exclusive puts the tax on top",
    },
  ],
]);

/** The writes that change the account's tax settings or registrations, whatever they name but `expand`. */
const ACCOUNT_RAISES: ReadonlyMap<string, string> = new Map([
  [
    'stripe.tax.settings.update',
    "the account's tax settings (defaults[tax_code], defaults[tax_behavior], head_office), which automatic tax reads for every invoice and renewal of every customer",
  ],
  [
    'stripe.tax.registrations.create',
    'a new tax registration: Stripe starts collecting tax there on every invoice and renewal it applies to',
  ],
  [
    'stripe.tax.registrations.update',
    "a tax registration's start or end (active_from, expires_at): Stripe starts or stops collecting tax there on every invoice and renewal it applies to",
  ],
]);

/** What in the body makes a free write change automatic tax's inputs (Operation.raisedBy); undefined when nothing does. */
export function taxInputRaise(id: string, params: Params): string | undefined {
  const field = FIELD_RAISES.get(id);
  if (field !== undefined) return namesAnywhere(params, field.field) ? field.why : undefined;
  const account = ACCOUNT_RAISES.get(id);
  if (account === undefined) return undefined;
  // A registration is created by its call whatever it names; an update or the settings change
  // something unless the body only asks for expansions.
  if (id === 'stripe.tax.registrations.create') return account;
  return Object.keys(params).some((name) => lettersOf(name) !== 'expand') ? account : undefined;
}

/**
 * Whether a parameter whose name folds to `name` is given at any depth of the body, outside
 * `metadata`: a metadata key is the merchant's own label (a tax code kept from an ERP), which
 * automatic tax never reads, so `metadata[tax_code]` on a Product was refused `price_unknown` under
 * a glob while `metadata[avalara_tax_code]` passed (thirteenth round, probe legit13 finding 2). Only
 * Stripe's spelling `metadata` is skipped: Stripe names parameters exactly, so `Metadata[tax_code]`
 * is read as before.
 */
function namesAnywhere(v: unknown, name: string): boolean {
  if (Array.isArray(v)) return v.some((x) => namesAnywhere(x, name));
  if (!isObj(v)) return false;
  const folded = lettersOf(name);
  return Object.entries(v).some(
    ([k, x]) => k !== 'metadata' && (lettersOf(k) === folded || namesAnywhere(x, name)),
  );
}

/** A name as compared: lower case, letters only (fields.ts valuesNamed folds the same way). */
function lettersOf(name: string): string {
  return name.toLowerCase().replace(/[^a-z]/g, '');
}
