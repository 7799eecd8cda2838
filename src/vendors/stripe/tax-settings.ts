import { type Denial, deny } from '../../decision/reasons.ts';
import { sharedLease } from '../../lease-names.ts';
import type { Params } from '../types.ts';
import { isObj } from './fields.ts';

/**
 * The account's Stripe Tax settings as one lease name (ADR 0007 §5, thirteenth round), for the price
 * stage. Automatic tax computes from each Price's `tax_behavior` and each Product's `tax_code`, leased
 * where a preview bills them, and from what the account keeps for every calculation: its defaults
 * (`POST /v1/tax/settings` `defaults[tax_behavior]`, used for a Price without one, so inclusive
 * becomes exclusive and the tax is added on top; `defaults[tax_code]`, for a Product without one),
 * its `head_office`, and its registrations (`POST /v1/tax/registrations`: Stripe starts collecting in
 * that country). Found by an adversarial probe (thirteenth round, catalog13, HIGH): those writes,
 * admitted by `POST /v1/tax/**`, went through while a subscription create's preview with automatic
 * tax was held, and the subscription was counted at the preview's untaxed figure.
 *
 * So a preview that may compute automatic tax leases this name, and the writes that change these
 * inputs lock it, under the call's lease account (stages/lease-account.ts): since the fourteenth
 * round the Stripe account the call acts as (`Stripe-Account`, the last account of
 * `Stripe-Context`, else its key's own), whichever key or replica makes it. A preview whose
 * automatic tax another account is liable for (`automatic_tax[liability][account]`, an `issuer` or
 * `on_behalf_of` naming another account) would lease the wrong account's settings: it is not
 * priced (tax-liability.ts; found by an adversarial probe, leases14, HIGH: such a preview and a
 * registration sent as the liable account never met). The name holds a blank, which no Stripe id or
 * Plan id can (fields.ts), so it never meets an object's lease.
 */
export const TAX_SETTINGS = 'tax settings';

/**
 * The tax settings as a preview leases them: shared (lease-names.ts), so previews of the account do
 * not wait for each other, and a tax-settings write (`TAX_SETTINGS`, exclusive) waits for them all.
 * Exclusive between previews, one tenant's loop of free previews on its own subscription held every
 * other tenant's previews of the account off (fourteenth round, fixes13y, MEDIUM).
 */
export const TAX_SETTINGS_READ = sharedLease(TAX_SETTINGS);

/** The writes that change what every automatic tax calculation of the account reads. */
export const TAX_SETTINGS_WRITES: ReadonlySet<string> = new Set([
  'stripe.tax.settings.update',
  'stripe.tax.registrations.create',
  'stripe.tax.registrations.update',
]);

/**
 * Whether a preview body (form values, strings) switches automatic tax on anywhere: an
 * `automatic_tax` at any depth (top level, a schedule's phases) with anything but `enabled=false`.
 */
export function asksAutomaticTax(v: unknown): boolean {
  if (Array.isArray(v)) return v.some(asksAutomaticTax);
  if (!isObj(v)) return false;
  return Object.entries(v).some(([k, x]) =>
    k === 'automatic_tax' ? !(isObj(x) && x['enabled'] === 'false') : asksAutomaticTax(x),
  );
}

/**
 * Whether a Stripe answer (a subscription, a schedule, an invoice preview) has automatic tax on
 * anywhere: an `automatic_tax` object at any depth whose `enabled` is anything but `false`. An answer
 * without one says nothing of it (every API version that has automatic tax answers the field).
 */
export function hasAutomaticTax(v: unknown): boolean {
  if (Array.isArray(v)) return v.some(hasAutomaticTax);
  if (!isObj(v)) return false;
  return Object.entries(v).some(([k, x]) => (k === 'automatic_tax' ? automaticTaxOn(x) : hasAutomaticTax(x)));
}

/** Whether one answered `automatic_tax` field is on: anything but absent, null or `enabled: false`. */
export function automaticTaxOn(x: unknown): boolean {
  return x !== undefined && x !== null && !(isObj(x) && x['enabled'] === false);
}

/**
 * A tax registration that starts or ends at a later time (`active_from` or `expires_at` other than
 * `now`, on its create or update), refused whatever the policy (price stage); undefined otherwise.
 * The lease above holds the registrations still only against writes, and a scheduled start is no
 * write: a registration created before a preview, starting at T, changes the tax of a call whose
 * preview reaches Stripe before T and whose forward lands after it, and nothing is written in
 * between for the lease to stop. Found by an adversarial probe (thirteenth round, fixes13s, MEDIUM,
 * bounded by the tax rate): a DE registration created 1.3 s ahead of its start, under a glob then
 * (tax-inputs.ts makes it money_unpriced since, an exact entry), and a subscription previewed before
 * it and created after it were counted untaxed; an update re-arms the same registration for another
 * try. An end counts as much as a start: it takes the tax off credits as well as charges.
 *
 * Refused rather than checked at each preview (a read of the account's scheduled registrations
 * before every preview with automatic tax, refused when one starts within the lease's time): that
 * read would cost every such preview a round trip for a call that is rare and administrative. No
 * clock is compared: a timestamp that is already past is refused too (send `now`). Cost: a
 * registration scheduled ahead is made with the merchant's own key or in the Dashboard. Left open:
 * one scheduled there starts at its time whatever Keybrake holds (docs/vendors/stripe.md).
 */
export function scheduledRegistrationDenial(id: string, params: Params): Denial | undefined {
  if (id !== 'stripe.tax.registrations.create' && id !== 'stripe.tax.registrations.update') return undefined;
  for (const [name, value] of Object.entries(params)) {
    const field = name.toLowerCase().replace(/[^a-z]/g, '');
    if (field !== 'activefrom' && field !== 'expiresat') continue;
    // Clearing an end (`expires_at=`, update only) acts now: the write itself, which the lease holds.
    if (value === 'now' || (field === 'expiresat' && value === '' && id.endsWith('.update'))) continue;
    return deny(
      'price_unknown',
      `A tax registration that starts or ends later ("${name}" other than "now") changes the tax of calls Keybrake prices at a moment it cannot hold: give "now", or schedule it with the merchant's own key.`,
    );
  }
  return undefined;
}
