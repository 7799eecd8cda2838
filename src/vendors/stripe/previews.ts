import { type Denial, deny, isDenial } from '../../decision/reasons.ts';
import type { ExchangeRates } from '../../money/exchange-rates.ts';
import type { MicroUsd } from '../../money/micro-usd.ts';
import { type KnownLinks, NO_LINKS, type Params } from '../types.ts';
import { objectList, objectParam } from './amounts.ts';
import { chain, idOf, micros, type Priced, pricePath, type Read } from './costs.ts';
import { amount, isObj, objectId, scalar } from './fields.ts';
import { customerOf, subscriptionItemCustomer } from './owners.ts';
import { previewCharge } from './preview-credits.ts';
import {
  billsUnleased,
  type Found,
  itemLinks,
  NOTHING_FOUND,
  scheduleFound,
  subscriptionFound,
} from './preview-leases.ts';
import { hiddenPendingReads } from './preview-pending.ts';
import { lineLinks, priceLinks, productOf } from './price-products.ts';
import { asksAutomaticTax, hasAutomaticTax, TAX_SETTINGS_READ } from './tax-settings.ts';

/**
 * Subscriptions priced by Stripe's own invoice preview (price stage): `POST /v1/invoices/create_preview`
 * computes the invoice a subscription change would issue and creates nothing. The call's parameters
 * are mapped onto the preview's (`subscription_details`, `schedule_details`, `invoice_items`,
 * `customer`, `subscription`), and the call is priced at the preview's `amount_due`: what Stripe
 * collects from the customer. An invoice collected by sending it (`send_invoice`) is priced the same:
 * a subscription's invoices finalise on their own, and Stripe then applies the customer's credit
 * balance (and, with automatic reconciliation, its cash balance) with no call through Keybrake
 * (found by a security tester, fourth round: a $100 000 invoice sent to a customer was free). A
 * parameter that only lowers the amount (a discount or coupon on a create or a schedule, trials from
 * a plan) is left out: the preview then over-counts, never under-counts. An update keeps its
 * discounts: removing one (`discounts=`) raises what it invoices.
 */

const PREVIEW = '/v1/invoices/create_preview';
type Obj = Record<string, unknown>;

/** Keys of a subscription item the preview takes as they are (`metadata` is left out: no amount). */
const ITEM_KEYS = [
  'id',
  'deleted',
  'clear_usage',
  'price',
  'price_data',
  'quantity',
  'discounts',
  'tax_rates',
  'billing_thresholds',
] as const;

/** `add_invoice_items` → the preview's `invoice_items` (same names; `period` has another shape there). */
const INVOICE_ITEM_KEYS = [
  'price',
  'price_data',
  'quantity',
  'discounts',
  'tax_rates',
  'discountable',
] as const;

/**
 * Stripe's bound on a subscription's `items` and on the `add_invoice_items` a call adds to its next
 * invoice ("up to 20" each, in its definition), for a subscription and for each schedule phase. A
 * longer list is refused before any read or lease, as Stripe would refuse it: the most leases one
 * call takes (MAX_LEASES_PER_CALL) is sized from it.
 */
const MAX_ITEMS = 20;

/** The refusal of a list of `name` longer than Stripe takes (MAX_ITEMS); undefined when it fits. */
function overStripeLimit(list: readonly unknown[] | undefined, name: string): Denial | undefined {
  if (list === undefined || list.length <= MAX_ITEMS) return undefined;
  return deny(
    'body_invalid',
    `Parameter "${name}" has ${list.length} entries; Stripe takes at most ${MAX_ITEMS}.`,
  );
}

/** Subscription parameters the preview takes under `subscription_details`, as they are. */
const DETAIL_KEYS = [
  'billing_cycle_anchor',
  'billing_mode',
  'billing_schedules',
  'cancel_at',
  'cancel_at_period_end',
  'default_tax_rates',
  'proration_behavior',
  'proration_date',
  'trial_end',
] as const;

/** Subscription parameters that move the first charge later, and are left out of a create's preview. */
const DEFERRALS = ['trial_end', 'billing_cycle_anchor', 'proration_behavior'] as const;

/** Top-level parameters that change the amount and mean the same on the preview. */
const INVOICE_KEYS = ['automatic_tax', 'discounts', 'currency', 'customer_account', 'on_behalf_of'] as const;

/**
 * Subscription update parameters that change nothing Stripe invoices now: an update naming only these
 * (and `collection_method=send_invoice`, isFreeUpdate) costs nothing, once read for its customer (a
 * preview would price the whole next renewal). Not `collection_method=charge_automatically`:
 * switching a subscription whose invoices were sent to it makes Stripe charge every later period on
 * its own, so that switch is priced at the next renewal (subscriptionUpdate).
 */
const UPDATE_FREE_KEYS = new Set([
  'expand',
  'metadata',
  'description',
  'default_payment_method',
  'default_source',
  'invoice_settings',
  'payment_settings',
  'payment_behavior',
  'off_session',
  'cancellation_details',
  'days_until_due',
  'pause_collection',
  'transfer_data',
  'application_fee_percent',
  'on_behalf_of',
  'trial_settings',
  // Cancelling later invoices nothing now (a proration it causes is a credit); undoing a
  // cancellation or a pause is priced (resumesRenewals).
  'cancel_at',
  'cancel_at_period_end',
]);

/**
 * Whether an update undoes a scheduled cancellation (`cancel_at_period_end` other than `true`,
 * `cancel_at=`) or a pause (`pause_collection=`): Stripe then charges the renewals on its own, so the
 * update is priced at the next renewal, like a switch to automatic collection (found by an
 * adversarial probe: each was a free write).
 */
function resumesRenewals(params: Params): boolean {
  return (
    (Object.hasOwn(params, 'cancel_at_period_end') && params['cancel_at_period_end'] !== 'true') ||
    params['cancel_at'] === '' ||
    params['pause_collection'] === ''
  );
}

/**
 * Amount parameters of older API versions, which a call pinned to an old `Stripe-Version` may still
 * send, and which a preview built from today's names would leave out: refused, never guessed. A plan
 * is a price by its old name (`plan`, a phase's `plans`); `tax_percent` added tax before tax rates;
 * a subscription once took one `plan` and its `quantity` at the top level. `billing` is
 * `collection_method` before 2019-10-17 and `prorate` is `proration_behavior` before 2019-03-14: the
 * preview would not see a switch to automatic collection or a proration they ask for (fourth round,
 * as on invoices: legacy-names.ts).
 */
const LEGACY_SUBSCRIPTION = ['plan', 'quantity', 'tax_percent', 'billing', 'prorate'] as const;
const LEGACY_ITEM = ['plan'] as const;
/** A subscription item call's own legacy names: its plan, its proration. */
const LEGACY_ITEM_CALL = ['plan', 'prorate'] as const;
const LEGACY_PHASE = ['plans', 'tax_percent', 'billing'] as const;
const LEGACY_SCHEDULE = ['prorate'] as const;

/**
 * Whether an update changes nothing invoiced now. Sending later invoices instead of charging them
 * (`collection_method=send_invoice`) invoices nothing now either; what those invoices collect is
 * priced when a call makes them (previewPrice).
 */
function isFreeUpdate(params: Params): boolean {
  if (resumesRenewals(params)) return false;
  return Object.keys(params).every(
    (k) => UPDATE_FREE_KEYS.has(k) || (k === 'collection_method' && params[k] === 'send_invoice'),
  );
}

/**
 * The payment method a subscription names as its own (`default_payment_method`, legacy
 * `default_source`). Under automatic tax it can decide where the customer is taxed: Stripe takes the
 * customer's shipping address, then its billing address, then "the billing details of the most
 * specific payment method" (the invoice's, the subscription's, the customer's default), then the IP
 * address (docs.stripe.com/tax/customer-locations). Stripe's preview takes no payment method for a
 * subscription (`subscription_details` has none), so a preview cannot show the tax of one a call
 * names or switches to. Found by an adversarial probe (thirteenth round, fixes13s, HIGH, bounded by
 * the tax rate): a new subscription naming a DE payment method for a customer without an address was
 * counted at its preview's untaxed $10.00 and charged $11.90, and switching an existing one's method
 * was a free write that re-taxed every renewal. A schedule's phases do take one (scheduleDetails).
 */
const METHOD_KEYS = ['default_payment_method', 'default_source'] as const;

/** Whether a call names a payment method of the subscription's own (any value but empty on a create). */
function namesMethod(params: Params, create: boolean): boolean {
  return METHOD_KEYS.some((k) => Object.hasOwn(params, k) && !(create && params[k] === ''));
}

/** The refusal of a payment method named where automatic tax may be computed from it (METHOD_KEYS). */
function methodDenial(what: string): Denial {
  return deny(
    'price_unknown',
    `Keybrake cannot price automatic tax ${what}: the payment method's billing details may decide where the customer is taxed, and Stripe's invoice preview does not take it. Make it the customer's default (invoice_settings[default_payment_method] on the customer) and leave it out here, or give the customer an address.`,
  );
}

/**
 * Whether an update leaves automatic tax on where the subscription has it: the update does not
 * switch it off (`automatic_tax[enabled]=false`); one that switches it on is refused before any read.
 */
function keepsAutomaticTax(params: Params): boolean {
  return !Object.hasOwn(params, 'automatic_tax');
}

/**
 * The read of a subscription whose payment method an update switches and that invoices nothing now:
 * free, once read for its customer, unless the subscription has automatic tax on (METHOD_KEYS): then
 * every renewal may be taxed elsewhere, which no preview shows, so unpriced.
 */
function methodSwitch(subscription: string): Priced {
  return chain([
    {
      path: `/v1/subscriptions/${subscription}`,
      describe:
        "the subscription's customer, and whether it has automatic tax on, which a new payment method may re-locate",
      part: (o) => (hasAutomaticTax(o) ? undefined : 0),
    },
  ]);
}

/** Subscription item update parameters that change nothing invoiced. */
const ITEM_FREE_KEYS = new Set(['expand', 'metadata', 'off_session', 'payment_behavior']);

/** Schedule update parameters that change nothing invoiced. */
const SCHEDULE_FREE_KEYS = new Set(['expand', 'metadata']);

/** `POST /v1/subscriptions` and `POST /v1/customers/{customer}/subscriptions`. */
export function subscriptionCreate(
  params: Params,
  rates: ExchangeRates,
  known: KnownLinks,
  customerInPath?: string,
): Priced | Denial {
  const customer = customerInPath ?? objectId(params, 'customer');
  if (isDenial(customer)) return customer;
  if (namesMethod(params, true) && asksAutomaticTax(params)) {
    return methodDenial('on a new subscription that names its own default_payment_method or default_source');
  }
  const added = invoiceItems(params);
  if (isDenial(added)) return added;
  const trialDays = amount(params, 'trial_period_days');
  if (isDenial(trialDays)) return trialDays;
  const top = pick(params, INVOICE_KEYS);
  const base: Obj = { ...(customer !== undefined ? { customer } : {}), ...top };
  const details = subscriptionDetails(params);
  if (isDenial(details)) return details;
  // A trial or a later billing anchor only defers the first charge: Stripe makes it on its own,
  // with no call through Keybrake, and every period after it. So the subscription is counted at its
  // creation as if it started now, a whole first period: otherwise an agent could create any
  // number of subscriptions, each $0 against every cap (found by an adversarial probe).
  for (const deferral of DEFERRALS) delete details[deferral];
  const backdate = scalar(params, 'backdate_start_date');
  if (isDenial(backdate)) return backdate;
  if (backdate !== undefined) details['start_date'] = backdate;
  // A discount lowers the first invoice, and a 100 %-off coupon for one period defers the first
  // charge like a trial: priced without them (an over-count for a lasting discount, the safe side).
  return preview(
    withoutDiscounts({
      ...base,
      ...(added !== undefined ? { invoice_items: added } : {}),
      subscription_details: details,
    }),
    rates,
    known,
  );
}

/**
 * `POST /v1/subscriptions/{id}` and its legacy customer form. A switch to `charge_automatically`
 * alone previews the subscription unchanged: its next renewal, as Stripe will now charge it. One that
 * invoices nothing now is read for the subscription's customer, as a cancellation is: a customer
 * allowlist governs every change to a customer's subscription (found by a security tester, fourth
 * round: an update was never read, so it acted on any customer's subscription by its id).
 */
export function subscriptionUpdate(
  subscription: string,
  params: Params,
  rates: ExchangeRates,
  known: KnownLinks,
): Priced | Denial {
  // A new payment method with automatic tax on (switched on here, or the subscription's): unpriced
  // (METHOD_KEYS). Clearing one (`=`) falls back to the customer's default, another location too.
  const method = namesMethod(params, false);
  if (method && asksAutomaticTax(params)) {
    return methodDenial('on a subscription whose default_payment_method or default_source is switched');
  }
  if (isFreeUpdate(params)) {
    return method
      ? methodSwitch(subscription)
      : customerOf(`/v1/subscriptions/${subscription}`, 'subscription');
  }
  const added = invoiceItems(params);
  if (isDenial(added)) return added;
  const top = pick(params, ['automatic_tax', 'discounts'] as const);
  const details = subscriptionDetails(params);
  if (isDenial(details)) return details;
  return viaSubscription(
    subscription,
    {
      subscription,
      ...top,
      ...(added !== undefined ? { invoice_items: added } : {}),
      ...(Object.keys(details).length > 0 ? { subscription_details: details } : {}),
    },
    rates,
    known,
    method && keepsAutomaticTax(params),
  );
}

/**
 * `DELETE /v1/subscriptions/{id}` (and the customer form): free unless `invoice_now` issues a final
 * invoice now; then the preview of the cancellation, prorated only when `prorate` says so.
 */
export function subscriptionCancel(
  subscription: string,
  params: Params,
  rates: ExchangeRates,
): Priced | Denial {
  const now = flag(params, 'invoice_now', false, true);
  if (isDenial(now)) return now;
  if (!now) return customerOf(`/v1/subscriptions/${subscription}`, 'subscription');
  const prorate = flag(params, 'prorate', false, false);
  if (isDenial(prorate)) return prorate;
  return viaSubscription(subscription, cancelPreview(subscription, prorate), rates);
}

/**
 * `DELETE /v1/subscriptions/{id}/discount` (and the customer form): the subscription's next renewal
 * without discounts (`discounts=` on the preview), which Stripe then charges on its own.
 */
export function subscriptionDiscountDelete(subscription: string, rates: ExchangeRates): Priced {
  return viaSubscription(subscription, { subscription, discounts: '' }, rates);
}

/**
 * `POST /v1/subscription_schedules/{schedule}/release`: the subscription goes on, renewing past the
 * schedule's end (which may have cancelled it): read for its subscription, priced at that
 * subscription's next renewal. A schedule that has not started has none: free.
 */
export function scheduleRelease(schedule: string, rates: ExchangeRates): Priced {
  return viaSchedule(schedule, 'its next renewal', (subscription) => ({ subscription }), rates);
}

/** `POST /v1/subscriptions/{id}/resume`: the invoice resuming issues (by default it bills at once). */
export function subscriptionResume(
  subscription: string,
  params: Params,
  rates: ExchangeRates,
): Priced | Denial {
  const details = pick(params, ['billing_cycle_anchor', 'proration_behavior', 'proration_date'] as const);
  return viaSubscription(
    subscription,
    { subscription, subscription_details: { resume_at: 'now', ...details } },
    rates,
  );
}

/** `POST /v1/subscription_items`: the subscription named in the body with one more item. */
export function subscriptionItemCreate(
  params: Params,
  rates: ExchangeRates,
  known: KnownLinks,
): Priced | Denial {
  const subscription = objectId(params, 'subscription');
  if (isDenial(subscription)) return subscription;
  if (subscription === undefined) {
    return deny(
      'price_unknown',
      'A subscription item must name its "subscription" for Keybrake to price it.',
    );
  }
  const old = legacy(params, LEGACY_ITEM_CALL, '');
  if (old) return old;
  const item = pick(params, ITEM_KEYS);
  const rest = pick(params, ['proration_behavior', 'proration_date'] as const);
  return viaSubscription(
    subscription,
    { subscription, subscription_details: { items: [item], ...rest } },
    rates,
    known,
  );
}

/**
 * `POST /v1/subscription_items/{item}`: the item's subscription is read first, then previewed with
 * the item changed. Metadata-only updates are free, once read for the subscription's customer
 * (subscriptionItemCustomer), as a subscription update that invoices nothing is.
 */
export function subscriptionItemUpdate(
  item: string,
  params: Params,
  rates: ExchangeRates,
  known: KnownLinks,
): Priced | Denial {
  if (Object.keys(params).every((k) => ITEM_FREE_KEYS.has(k))) return subscriptionItemCustomer(item);
  const old = legacy(params, LEGACY_ITEM_CALL, '');
  if (old) return old;
  const changed = pick(params, ITEM_KEYS);
  const rest = pick(params, ['proration_behavior', 'proration_date'] as const);
  return viaItem(item, { ...changed, id: item }, rest, rates, known);
}

/**
 * `DELETE /v1/subscription_items/{item}`: a removal credits unused time and invoices nothing now,
 * unless `proration_behavior=always_invoice` invoices at once; then the preview of the removal. A
 * free removal is still read for the subscription's customer (subscriptionItemCustomer): it is a
 * partial cancellation of that customer's plan (tenth round).
 */
export function subscriptionItemDelete(item: string, params: Params, rates: ExchangeRates): Priced | Denial {
  const behavior = scalar(params, 'proration_behavior');
  if (isDenial(behavior)) return behavior;
  if (behavior !== 'always_invoice') return subscriptionItemCustomer(item);
  const clear = pick(params, ['clear_usage'] as const);
  const rest = pick(params, ['proration_behavior', 'proration_date'] as const);
  return viaItem(item, { id: item, deleted: 'true', ...clear }, rest, rates, NO_LINKS);
}

/**
 * `POST /v1/subscription_schedules`: the first invoice of the subscription the schedule starts,
 * charged automatically and without a trial (scheduleDetails), as a subscription create is, or the
 * first invoice of a later phase, whichever is dearer (schedulePreviews).
 */
export function scheduleCreate(params: Params, rates: ExchangeRates, known: KnownLinks): Priced | Denial {
  // Adopting an existing subscription changes nothing it bills, but puts that customer's
  // subscription under the schedule: read for its customer, as an update is (tenth round: another
  // customer's subscription was adopted unread under `allow.customers`).
  if (Object.hasOwn(params, 'from_subscription')) {
    const adopted = objectId(params, 'from_subscription');
    if (isDenial(adopted)) return adopted;
    if (adopted === undefined) {
      return deny('body_invalid', 'Parameter "from_subscription" must be one subscription id.');
    }
    return customerOf(`/v1/subscriptions/${adopted}`, 'subscription');
  }
  const customer = objectId(params, 'customer');
  if (isDenial(customer)) return customer;
  const top = pick(params, ['customer_account'] as const);
  const details = scheduleDetails(params, true);
  if (isDenial(details)) return details;
  const phases = (details['phases'] as Obj[] | undefined) ?? [];
  // A phase that sets no anchor takes Stripe's default, `automatic`, unless default_settings says.
  const whole = wholePhases(params, phases, 'automatic');
  // Each later phase alone, before the first is changed below (its currency lifted).
  const later = phases.slice(1).map((phase) => ({ ...phase }));
  const first = phases[0];
  const currency = first?.['currency'];
  if (first !== undefined) delete first['currency'];
  const base: Obj = { ...(customer !== undefined ? { customer } : {}), ...top };
  return chain(
    schedulePreviews(
      { ...base, ...(typeof currency === 'string' ? { currency } : {}), schedule_details: details },
      later,
      whole,
      base,
      rates,
      known,
      NOTHING_FOUND,
    ),
  );
}

/**
 * `POST /v1/subscription_schedules/{schedule}`: the schedule's next invoice with the new phases. The
 * schedule is read first for its subscription, which is leased before the preview: an update of the
 * subscription (which locks it by its own id) previews the same invoice, and the two never met.
 * Found by a security tester (sixth round): a schedule update went through while a subscription
 * update priced from its preview was in flight. A schedule not started yet has no subscription.
 */
export function scheduleUpdate(
  schedule: string,
  params: Params,
  rates: ExchangeRates,
  known: KnownLinks,
): Priced | Denial {
  // Free, once read for the schedule's customer: every change of a customer's schedule is governed
  // by a customer allowlist, as one of its subscription is (tenth round).
  if (Object.keys(params).every((k) => SCHEDULE_FREE_KEYS.has(k))) {
    return customerOf(`/v1/subscription_schedules/${schedule}`, 'schedule');
  }
  const details = scheduleDetails(params, false);
  if (isDenial(details)) return details;
  const phases = details['phases'] as Obj[] | undefined;
  const kept = phases === undefined ? keptPhasesDefaults(params) : {};
  if (isDenial(kept)) return kept;
  const body = {
    schedule,
    ...kept,
    ...(Object.keys(details).length > 0 ? { schedule_details: details } : {}),
  };
  const later = phases?.slice(1) ?? [];
  return chain([
    {
      path: `/v1/subscription_schedules/${schedule}`,
      describe:
        "the schedule's subscription and phases, then Stripe's invoice preview of the new phases and of each later phase",
      part: (o) => (o['subscription'] === null || idOf(o['subscription']) !== undefined ? 0 : undefined),
      // The schedule is the call's own lease: its phases and customer hold until the call settles.
      follow: (o) => {
        const found = scheduleFound(o);
        const customer = idOf(o['customer']);
        if (found === undefined || customer === undefined) return undefined;
        // An update that keeps the phases (a new end_behavior or default_settings) changes what the
        // schedule's later phases charge, which only their own previews would show, and the
        // schedule's answer gives them as objects, not parameters: unpriced while more than one is
        // current or to come (send the phases with the update). Tenth round.
        if (phases === undefined && !(phasesToCome(o) <= 1)) return undefined;
        // A phase the call gives no anchor keeps the schedule's default one (eleventh round).
        const whole = wholePhases(params, phases ?? [], defaultAnchor(o));
        const base = { customer };
        if (o['subscription'] === null)
          return schedulePreviews(body, later, whole, base, rates, known, found);
        const subscription = idOf(o['subscription']);
        if (subscription === undefined) return undefined;
        const leased = { ...found, locks: [subscription, ...found.locks] };
        return schedulePreviews(body, later, whole, base, rates, known, leased);
      },
    },
  ]);
}

/**
 * `default_settings` keys that change nothing an update without `phases` makes the one phase current
 * or to come invoice: texts, the platform's fee and transfer, the collection method (a schedule is
 * counted as charged automatically whatever it says), and the billing cycle anchor (it acts when a
 * phase starts after another, and no phase follows). Not the payment method since the thirteenth
 * round: under automatic tax it may decide where the customer is taxed (METHOD_KEYS), and only the
 * phases carry it into the preview.
 */
const KEPT_PHASE_FREE_DEFAULTS = new Set([
  'description',
  'invoice_settings',
  'collection_method',
  'application_fee_percent',
  'transfer_data',
  'billing_cycle_anchor',
]);

/**
 * What an update without `phases` adds to the preview of its schedule for its `default_settings`
 * (eleventh round, MEDIUM). Stripe's preview takes no `schedule_details[default_settings]`, and
 * scheduleDetails puts the defaults into the phases the call gives, so without phases they were left
 * out: tax the update switched on was not counted. Automatic tax switched on is put on the preview,
 * as a subscription update's `automatic_tax` is (switched off, it is left out: the preview counts the
 * schedule's tax as it is, no lower than the update makes it). Any other default that changes an
 * amount (`billing_thresholds`, `on_behalf_of`, one Keybrake does not know) is `price_unknown`:
 * send the phases with it, which carry it into the preview.
 */
function keptPhasesDefaults(params: Params): Obj | Denial {
  const defaults = objectParam(params, 'default_settings');
  if (isDenial(defaults)) return defaults;
  if (defaults === undefined) return {};
  const out: Obj = {};
  for (const [k, v] of Object.entries(defaults)) {
    if (KEPT_PHASE_FREE_DEFAULTS.has(k)) continue;
    if (k === 'automatic_tax') {
      // Anything but a plain switch-off goes to the preview as sent (one Stripe refuses, unpriced).
      if (!(isObj(v) && v['enabled'] === 'false')) out['automatic_tax'] = v;
      continue;
    }
    return deny(
      'price_unknown',
      `Keybrake cannot price "default_settings[${k}]" on a schedule update without "phases": send the phases with it.`,
    );
  }
  return out;
}

/**
 * How many of schedule `o`'s phases are current or still to come: those starting no earlier than its
 * `current_phase` (all of them before it starts). NaN when the answer does not say (no phase list, a
 * phase without a numeric start while one is current).
 */
function phasesToCome(o: Obj): number {
  const phases = o['phases'];
  if (!Array.isArray(phases)) return Number.NaN;
  const current = o['current_phase'];
  if (current === null || current === undefined) return phases.length;
  const from = isObj(current) ? current['start_date'] : undefined;
  if (typeof from !== 'number') return Number.NaN;
  let count = 0;
  for (const phase of phases) {
    const start = isObj(phase) ? phase['start_date'] : undefined;
    if (typeof start !== 'number') return Number.NaN;
    if (start >= from) count++;
  }
  return count;
}

/**
 * The previews a schedule is priced from (tenth round, HIGH). Stripe's preview of a schedule is its
 * next invoice, the first phase's: the later phases, whose items, quantities and added invoice items
 * the same call sets, Stripe then charges on its own, with no call through Keybrake (found by an
 * adversarial probe: a one-day $1 phase before a 9 000 × $1 phase was counted $1). So each later
 * phase is previewed too, alone, as a schedule for the same customer that starts with it now
 * (phaseAlone: its first invoice, a whole period of its items and its added items). A phase whose
 * start only moves the subscription to new items at its next renewal counts at the dearest, as a
 * subscription's first period counts once though it renews (renewals are not counted, see
 * docs/pricing.md). A phase that is a charge of its own counts whole, added to the rest (`whole`,
 * by phase: wholePhases): the phases may each last an hour, so ten such phases are ten charges on
 * one day (eleventh round, HIGH: ten phases each adding a $45 invoice item were counted $45).
 * `first` is the preview of the call as it is; `base` the customer of the rest.
 */
function schedulePreviews(
  first: Obj,
  later: readonly Obj[],
  whole: readonly boolean[],
  base: Obj,
  rates: ExchangeRates,
  known: KnownLinks,
  found: Found,
): [Read, ...Read[]] {
  if (later.length === 0) return previewReads(first, rates, known, found);
  return previewReads(first, rates, known, found, {
    floor: 0,
    // The first phase's added items are a charge of their own too: they must not raise the floor
    // the later phases' renewals are counted above.
    whole: whole[0] === true,
    // A phase that names no currency is billed in the schedule's, which the first preview shows.
    after: (floor, answer) =>
      dearerPreviews(
        later.map((phase, i) => ({
          body: phaseAlone(base, phase, answer['currency']),
          whole: whole[i + 1] !== false,
        })),
        floor,
        rates,
        known,
        found,
      ),
  });
}

/**
 * The previews of `bodies` in turn: a whole one counts all it bills, any other only what it bills
 * above the dearest of the others before it.
 */
function dearerPreviews(
  bodies: readonly { readonly body: Obj; readonly whole: boolean }[],
  floor: MicroUsd,
  rates: ExchangeRates,
  known: KnownLinks,
  found: Found,
): Read[] {
  const [next, ...rest] = bodies;
  if (next === undefined) return [];
  return previewReads(next.body, rates, known, found, {
    floor,
    whole: next.whole,
    after: (dearest) => dearerPreviews(rest, dearest, rates, known, found),
  });
}

/** When a phase starts and how long it lasts: left out of its preview alone, which starts it now. */
const PHASE_TIMING = ['start_date', 'end_date', 'duration', 'iterations'] as const;

/**
 * Which of a schedule's phases (`mapped` by scheduleDetails, the call's `default_settings` in them)
 * is a charge of its own, counted whole, rather than new items for the subscription's next renewal
 * (eleventh round, HIGH). Stripe invoices a phase when it starts if its billing cycle anchor is
 * `phase_start` (its own, or the default: `inherited` when the call sets none, undefined when
 * unknown), if it changes the billing interval (an anchor `automatic` then resets, which only a
 * phase whose items are all Prices or intervals of the phase before it is known not to do), if it
 * invoices its prorations at once (`always_invoice`), and when a trial ends: its own `trial_end`, or
 * a trial phase before it (not the first: the first phase is counted as charged when it starts, the
 * charge its trial defers). Since the twelfth round also a phase that is itself on trial (not the
 * first: its trial's end is a charge even when no phase follows and the release lets the
 * subscription run on), and one whose start may leave a proration pending (prorates): pending
 * prorations pile up across phases and a later invoice bills them together. A phase's `add_invoice_items` are a charge of their own wherever they are,
 * the first phase's too: each is billed once, on the phase's next invoice. Phases outside every cap
 * window are counted too (a later phase may start in an hour or in a year: Keybrake does not tell
 * them apart). `params` is the call's, already checked by scheduleDetails (its trials, which the
 * mapped phases leave out).
 */
function wholePhases(params: Params, mapped: readonly Obj[], inherited: unknown): boolean[] {
  const listed = objectList(params, 'phases');
  const given = isDenial(listed) || listed === undefined ? [] : listed;
  return mapped.map((phase, i) => {
    const added = phase['add_invoice_items'];
    if (Array.isArray(added) && added.length > 0) return true;
    if (i === 0) return false;
    const anchor = Object.hasOwn(phase, 'billing_cycle_anchor') ? phase['billing_cycle_anchor'] : inherited;
    if (anchor !== 'automatic') return true;
    if (phase['proration_behavior'] === 'always_invoice') return true;
    if (!keepsInterval(mapped[i - 1]!, phase)) return true;
    if (Object.hasOwn(given[i] ?? {}, 'trial_end')) return true;
    // A later phase on trial: the charge when its trial ends starts a new billing cycle, whether the
    // next phase or the schedule's release (the subscription runs on) follows it (twelfth round).
    if (onTrial(given[i] ?? {})) return true;
    if (prorates(given[i - 1] ?? {}, given[i] ?? {})) return true;
    return i >= 2 && onTrial(given[i - 1] ?? {});
  });
}

/**
 * Whether moving from phase `before` to phase `next` (as the call gives them) may leave a proration
 * to be invoiced (twelfth round, HIGH). Stripe prorates a phase change unless the phase says
 * `proration_behavior=none`, and keeps the proration pending for the next invoice: a later
 * `always_invoice` phase, a phase that starts a billing cycle, or the next renewal bills every one
 * pending at once, so an agent stepping up and down (`none` on the steps down, so nothing nets out)
 * piles up a charge no single phase's preview shows. What one change adds is at most a whole period
 * of the new phase's items (its unused-time credit only lowers it), which is what its preview alone
 * bills: such a phase counts whole. Only a phase whose billing is the same as the one before it,
 * apart from its dates, its added items (counted on their own), texts, trials and collection method,
 * is known to prorate nothing; anything else differing (items, quantities, discounts, tax) counts.
 */
function prorates(before: Obj, next: Obj): boolean {
  if (next['proration_behavior'] === 'none') return false;
  return billingOf(before) !== billingOf(next);
}

/** Phase keys that change nothing Stripe prorates when the phase starts (see prorates). */
const NOT_PRORATED: ReadonlySet<string> = new Set([
  ...PHASE_TIMING,
  'proration_behavior',
  'add_invoice_items',
  'metadata',
  'description',
  'invoice_settings',
  'default_payment_method',
  'collection_method',
  'trial',
  'trial_end',
  'trial_continuation',
  'trial_settings',
]);

/** A phase's billing as one comparable text: its keys sorted, NOT_PRORATED and any `metadata` left out. */
function billingOf(phase: Obj): string {
  const canonical = (v: unknown, top: boolean): unknown => {
    if (Array.isArray(v)) return v.map((x) => canonical(x, false));
    if (!isObj(v)) return v;
    const out: Obj = {};
    for (const k of Object.keys(v).sort()) {
      if (k === 'metadata' || (top && NOT_PRORATED.has(k))) continue;
      out[k] = canonical(v[k], false);
    }
    return out;
  };
  return JSON.stringify(canonical(phase, true));
}

/** The default billing cycle anchor a schedule's answer shows its phases (undefined when it shows none). */
function defaultAnchor(o: Obj): unknown {
  const defaults = o['default_settings'];
  return isObj(defaults) ? defaults['billing_cycle_anchor'] : undefined;
}

/** Whether a phase as the call gives it is a trial, or continues the trial of the phase before it. */
function onTrial(phase: Obj): boolean {
  return (
    (Object.hasOwn(phase, 'trial') && phase['trial'] !== 'false') ||
    Object.hasOwn(phase, 'trial_end') ||
    phase['trial_continuation'] === 'continue'
  );
}

/**
 * Whether phase `next` is known to bill at the interval of phase `before`: each of its items is a
 * Price `before` bills too (a Price's interval never changes) or an inline interval `before` has.
 */
function keepsInterval(before: Obj, next: Obj): boolean {
  const had = intervals(before);
  const has = intervals(next);
  return had !== undefined && has !== undefined && [...has].every((sign) => had.has(sign));
}

/** What sets each item's billing interval (its Price, or its inline interval); undefined when unknown. */
function intervals(phase: Obj): Set<string> | undefined {
  const items = phase['items'];
  if (!Array.isArray(items) || items.length === 0) return undefined;
  const signs = new Set<string>();
  for (const item of items) {
    const sign = isObj(item) ? intervalOf(item) : undefined;
    if (sign === undefined) return undefined;
    signs.add(sign);
  }
  return signs;
}

function intervalOf(item: Obj): string | undefined {
  const data = item['price_data'];
  if (isObj(data)) {
    const recurring = data['recurring'];
    if (!isObj(recurring) || typeof recurring['interval'] !== 'string') return undefined;
    const count = recurring['interval_count'] ?? '1';
    return typeof count === 'string' ? `every ${count} ${recurring['interval']}` : undefined;
  }
  const price = item['price'];
  return typeof price === 'string' && price !== '' ? `price ${price}` : undefined;
}

/**
 * A preview body of `phase` (mapped by scheduleDetails: no trial, no discount, no sent invoices) as
 * a new schedule for `base`'s customer that starts with it now and runs on: the first invoice Stripe
 * issues when the phase begins. Its currency is its own, or the schedule's (`currency`).
 */
function phaseAlone(base: Obj, phase: Obj, currency: unknown): Obj {
  const alone: Obj = { ...phase };
  for (const k of PHASE_TIMING) delete alone[k];
  const own = alone['currency'];
  delete alone['currency'];
  const billed = typeof own === 'string' ? own : typeof currency === 'string' ? currency : undefined;
  return {
    ...base,
    ...(billed !== undefined ? { currency: billed } : {}),
    schedule_details: { phases: [{ ...alone, start_date: 'now' }] },
  };
}

/**
 * `POST /v1/subscription_schedules/{schedule}/cancel`: cancels the schedule's subscription, invoicing
 * now unless `invoice_now=false` (Stripe's default is true here): the schedule is read for its
 * subscription, then the cancellation is previewed. A schedule that has not started bills nothing.
 */
export function scheduleCancel(schedule: string, params: Params, rates: ExchangeRates): Priced | Denial {
  const now = flag(params, 'invoice_now', true, true);
  if (isDenial(now)) return now;
  if (!now) return customerOf(`/v1/subscription_schedules/${schedule}`, 'schedule');
  const prorate = flag(params, 'prorate', true, false);
  if (isDenial(prorate)) return prorate;
  return viaSchedule(
    schedule,
    'its cancellation',
    (subscription) => cancelPreview(subscription, prorate),
    rates,
  );
}

/**
 * Reads the schedule for its subscription (leased), then previews `body` of it; a schedule that has
 * not started has no subscription and bills nothing.
 */
function viaSchedule(
  schedule: string,
  what: string,
  body: (subscription: string) => Obj,
  rates: ExchangeRates,
): Priced {
  return chain([
    {
      path: `/v1/subscription_schedules/${schedule}`,
      describe: `the schedule's subscription, then Stripe's invoice preview of ${what}`,
      part: (o) => (o['subscription'] === null || idOf(o['subscription']) !== undefined ? 0 : undefined),
      follow: (o) => {
        if (o['subscription'] === null) return [];
        const subscription = idOf(o['subscription']);
        if (subscription === undefined) return undefined;
        return [subscriptionRead(subscription, body(subscription), rates, NO_LINKS)];
      },
    },
  ]);
}

/**
 * Prices the preview's invoice at its `amount_due`, however it is collected (see above), with the
 * customer's credits it uses up added back (previewCharge, fourteenth round): the pending credits and
 * balance it takes from the customer's next invoice, which Stripe then charges that much more.
 */
export function previewPrice(o: Obj, rates: ExchangeRates): MicroUsd | undefined {
  const charge = previewCharge(o);
  return charge === undefined ? undefined : micros(charge, o['currency'], rates);
}

/** The form encoding Stripe reads (Rack brackets, lists as `a[0]`), of parsed parameters. */
export function encodeForm(params: Obj): string {
  const pairs: string[] = [];
  const walk = (name: string, v: unknown): void => {
    if (typeof v === 'string') pairs.push(`${encodeURIComponent(name)}=${encodeURIComponent(v)}`);
    else if (Array.isArray(v)) for (const [i, x] of v.entries()) walk(`${name}[${i}]`, x);
    else if (isObj(v)) for (const [k, x] of Object.entries(v)) walk(`${name}[${k}]`, x);
  };
  for (const [k, v] of Object.entries(params)) walk(k, v);
  return pairs.join('&');
}

/** The preview of `body`, knowing the products of the Prices in `known` (previewReads). */
function preview(body: Obj, rates: ExchangeRates, known: KnownLinks = NO_LINKS): Priced {
  return chain(previewReads(body, rates, known));
}

/** The preview of `body`, a change of existing `subscription` the call holds (subscriptionRead). */
function viaSubscription(
  subscription: string,
  body: Obj,
  rates: ExchangeRates,
  known: KnownLinks = NO_LINKS,
  untaxedOnly = false,
): Priced {
  return chain([subscriptionRead(subscription, body, rates, known, untaxedOnly)]);
}

/**
 * Reads `subscription` under its lease (taken with what the body names, before the read), then
 * previews `body` of it with its customer and its items' Prices and Products leased too (ADR 0007 §5,
 * seventh round): the preview bills them though the body does not name them. Leased, the
 * subscription's items cannot change between the read and the forward; its customer never changes.
 */
function subscriptionRead(
  subscription: string,
  body: Obj,
  rates: ExchangeRates,
  known: KnownLinks,
  untaxedOnly = false,
): Read {
  const { own } = previewLeases(body, known, { ...NOTHING_FOUND, locks: [subscription] });
  return {
    path: `/v1/subscriptions/${subscription}`,
    describe: untaxedOnly
      ? "the subscription's customer and items, leased before Stripe's invoice preview, and whether it has automatic tax on, which the new payment method may re-locate"
      : "the subscription's customer and items, leased before Stripe's invoice preview",
    locks: own,
    links: itemLinks,
    part: () => 0,
    follow: (o) => {
      // A payment method the update switches, which the preview cannot take (METHOD_KEYS).
      if (untaxedOnly && hasAutomaticTax(o)) return undefined;
      const found = subscriptionFound(o);
      return found === undefined ? undefined : previewReads(body, rates, known, found);
    },
  };
}

/**
 * What a preview of `body` leases: what a read under the call's lease `found` it bills, and every
 * Price and Product the body names with the Product behind each Price (sixth round: a
 * Price's `currency_options`; seventh round: the `tax_code` automatic tax reads of a
 * `price_data[product]`, of a named Price's product, then an existing subscription's customer and
 * items). Stripe never changes a Price's product, so one `known` (or shown by `found`) is leased with
 * the rest; `unknown` are the Prices to read for their product first.
 */
function previewLeases(body: Obj, known: KnownLinks, found: Found): { own: string[]; unknown: string[] } {
  const productOfPrice = (price: string) => found.products.get(price) ?? known(price);
  const prices = [...new Set([...found.prices, ...namedIn(body, 'price')])];
  const account = idOf(body['customer_account']);
  const named = [
    ...found.locks,
    // Automatic tax the body switches on reads the account's tax settings (tax-settings.ts); one
    // a subscription or schedule read has on is among found.locks.
    asksAutomaticTax(body) ? TAX_SETTINGS_READ : undefined,
    account === undefined ? undefined : known(customerOfAccount(account)),
    ...prices,
    ...namedIn(body, 'product'),
    ...prices.map(productOfPrice),
  ];
  return {
    own: [...new Set(named.filter((id): id is string => id !== undefined))],
    unknown: prices.filter((p) => productOfPrice(p) === undefined),
  };
}

/**
 * The reads that price `body` by Stripe's preview, leasing what previewLeases says: in the first lease
 * step when the preview comes first (chain hoists these locks); a Price whose product is not known is
 * read for it first (leased: a Plan's custom id could be deleted and made again), and the products
 * found are leased before the preview.
 */
function previewReads(
  body: Obj,
  rates: ExchangeRates,
  known: KnownLinks,
  found: Found = NOTHING_FOUND,
  dearest?: Dearest,
): [Read, ...Read[]] {
  const { own, unknown } = previewLeases(body, known, found);
  return productsFirst(unknown, own, (products) => previewRead(body, rates, [...own, ...products], dearest));
}

/**
 * A preview that is one of several a call is priced from (a schedule's phases, schedulePreviews).
 * Unless `whole`, it counts only what it bills above `floor`, the dearest before it, so those parts of
 * the chain add up to the dearest of them; a `whole` one counts all it bills and leaves the floor as
 * it is. `after` names the previews after it from the new floor and this preview's answer.
 */
interface Dearest {
  readonly floor: MicroUsd;
  readonly whole: boolean;
  readonly after: (floor: MicroUsd, answer: Obj) => readonly Read[] | undefined;
}

/**
 * A read of each Price in `unknown` for its product, then `then` of the products found. Each read
 * leases `own` (the first read's are the call's own, taken in its first lease step) and shows the
 * proxy the link, so the next call knows it.
 */
function productsFirst(
  unknown: readonly string[],
  own: readonly string[],
  then: (found: readonly string[]) => Read,
  found: readonly string[] = [],
): [Read] {
  const [price, ...rest] = unknown;
  if (price === undefined) return [then(found)];
  return [
    {
      path: pricePath(price),
      describe: `the product of price ${price}, leased before Stripe's invoice preview (automatic tax reads its tax_code)`,
      locks: own,
      links: priceLinks,
      part: () => 0,
      follow: (o) => {
        const product = productOf(o);
        return product === undefined ? undefined : productsFirst(rest, own, then, [...found, product]);
      },
    },
  ];
}

/**
 * Stripe's preview of `body`, leasing `leased`. An answer that bills what the call did not lease (its
 * customer, a line's Price or Product: a Plan id deleted and made again for another product since the
 * link was learnt, whatever a read before it missed) leaves the call unpriced, for every preview; the
 * proxy keeps the links the answer shows, so a retry leases what was missing.
 */
function previewRead(body: Obj, rates: ExchangeRates, leased: readonly string[], dearest?: Dearest): Read {
  const inline = namedIn(body, 'product');
  const account = idOf(body['customer_account']);
  // The customer a create names is the call's own lock (its operation row's), taken before any read.
  const customer = idOf(body['customer']);
  const held = customer === undefined ? leased : [...leased, customer];
  const priced = (o: Obj) => (billsUnleased(o, held, inline) ? undefined : previewPrice(o, rates));
  // The pending items past the first page of lines, when the page may not show them all
  // (preview-pending.ts), then the previews after this one.
  const more = (o: Obj): readonly Read[] | undefined => {
    const due = priced(o);
    const hidden = due === undefined ? undefined : hiddenPendingReads(o, held, rates);
    if (due === undefined || hidden === undefined || dearest === undefined) return hidden;
    const after = dearest.after(dearest.whole ? dearest.floor : Math.max(dearest.floor, due), o);
    return after === undefined ? undefined : [...hidden, ...after];
  };
  return {
    path: PREVIEW,
    method: 'POST',
    body: encodeForm(body),
    describe: PREVIEW_DESCRIBED,
    ...(leased.length > 0 ? { locks: leased } : {}),
    links: (o) => [...lineLinks(o), ...(account === undefined ? [] : accountLinks(account, o))],
    part: (o) => {
      const due = priced(o);
      if (due === undefined || dearest === undefined || dearest.whole) return due;
      return Math.max(0, due - dearest.floor);
    },
    follow: more,
  };
}

/**
 * What a preview-priced call is priced from, as its refusal quotes it ("priced from …"): it was
 * "(amount_due)" until the fourteenth round, which no longer said what the price is nor why a preview
 * can leave the call unpriced (probe credits14).
 */
const PREVIEW_DESCRIBED =
  "Stripe's invoice preview of this change: what it charges before the customer's credit balance, plus the pending credits it takes in; not priced when the answer bills an object the call did not lease (retry: the call then leases it), shows a credit line without its tax, or does not give its amounts";

/**
 * The name under which the proxy keeps the customer a `customer_account` is (a preview's answer shows
 * both): apart from Price ids, which a Plan's custom id could spell the same.
 */
function customerOfAccount(account: string): string {
  return `customer of ${account}`;
}

/** The link a preview for `account` shows: the customer its invoice is for. */
function accountLinks(account: string, o: unknown): (readonly [string, string])[] {
  const customer = isObj(o) ? idOf(o['customer']) : undefined;
  return customer === undefined ? [] : [[customerOfAccount(account), customer]];
}

/**
 * Every id a preview body names under `key`, at any depth: a `price` of items, invoice items and
 * phases, a `product` of their `price_data`.
 */
function namedIn(v: unknown, key: string): string[] {
  if (Array.isArray(v)) return v.flatMap((x) => namedIn(x, key));
  if (!isObj(v)) return [];
  return Object.entries(v).flatMap(([k, x]) =>
    k === key && typeof x === 'string' ? (x === '' ? [] : [x]) : namedIn(x, key),
  );
}

/** Reads the item for its subscription, then previews that subscription with `item` changed. */
function viaItem(item: string, change: Obj, rest: Obj, rates: ExchangeRates, known: KnownLinks): Priced {
  return chain([
    {
      path: `/v1/subscription_items/${item}`,
      describe: "the item's subscription, then Stripe's invoice preview of the change",
      part: () => 0,
      follow: (o) => {
        const subscription = idOf(o['subscription']);
        if (subscription === undefined) return undefined;
        const body = { subscription, subscription_details: { items: [change], ...rest } };
        return [subscriptionRead(subscription, body, rates, known)];
      },
    },
  ]);
}

function cancelPreview(subscription: string, prorate: boolean): Obj {
  return {
    subscription,
    subscription_details: { cancel_now: 'true', proration_behavior: prorate ? 'create_prorations' : 'none' },
  };
}

/** `subscription_details` from a subscription create or update: the mapped items and details. */
function subscriptionDetails(params: Params): Obj | Denial {
  const old = legacy(params, LEGACY_SUBSCRIPTION, '');
  if (old) return old;
  const details = pick(params, DETAIL_KEYS);
  const items = objectList(params, 'items');
  if (isDenial(items)) return items;
  const over = overStripeLimit(items, 'items');
  if (over) return over;
  if (items !== undefined) {
    const mapped: Obj[] = [];
    for (const item of items) {
      const oldItem = legacy(item, LEGACY_ITEM, 'items[]');
      if (oldItem) return oldItem;
      mapped.push(pick(item, ITEM_KEYS));
    }
    details['items'] = mapped;
  }
  return details;
}

/** Parameters that only lower what is invoiced: a discount, or a coupon by its older names. */
const DISCOUNT_KEYS: ReadonlySet<string> = new Set(['discounts', 'coupon', 'promotion_code']);

/** `body` without DISCOUNT_KEYS at any depth (a copy; `body` is left as it is). */
function withoutDiscounts(body: Obj): Obj {
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (!isObj(v)) return v;
    const out: Obj = {};
    for (const [k, x] of Object.entries(v)) if (!DISCOUNT_KEYS.has(k)) out[k] = strip(x);
    return out;
  };
  return strip(body) as Obj;
}

/** `add_invoice_items` as the preview's `invoice_items`; undefined when there are none. */
function invoiceItems(params: Params): Obj[] | undefined | Denial {
  const list = objectList(params, 'add_invoice_items');
  if (isDenial(list) || list === undefined) return list;
  const over = overStripeLimit(list, 'add_invoice_items');
  if (over) return over;
  const mapped: Obj[] = [];
  for (const item of list) {
    mapped.push(pick(item, INVOICE_ITEM_KEYS));
  }
  return mapped.length > 0 ? mapped : undefined;
}

/**
 * Phase keys the preview leaves out (`currency` is lifted to the preview's own on create): those with
 * no amount, and those that only defer a charge. A phase on trial, or one whose invoice is sent, is
 * followed by phases Stripe charges on its own, with no call through Keybrake: the preview prices the
 * first phase as if it were charged now (found by an adversarial probe: a one-day trial phase before a
 * $90 phase, or a sent first invoice before automatic collection, previewed at $0).
 */
const PHASE_DROP = new Set([
  'metadata',
  'description',
  'invoice_settings',
  'trial',
  'trial_end',
  'trial_continuation',
  'trial_settings',
  'collection_method',
]);
/**
 * What `default_settings` gives every phase that does not set it, as far as the amount goes. The
 * payment method since the thirteenth round: under automatic tax its billing details may decide where
 * the customer is taxed (METHOD_KEYS), and a phase of Stripe's preview takes one, so a phase's own or
 * the default one goes into the preview (it was dropped: a schedule naming a DE method was previewed
 * with the customer's default and counted untaxed).
 */
const DEFAULT_KEYS = [
  'automatic_tax',
  'billing_cycle_anchor',
  'billing_thresholds',
  'default_payment_method',
];

/** `schedule_details` from a schedule create or update: its phases (with the defaults they inherit). */
function scheduleDetails(params: Params, create: boolean): Obj | Denial {
  const old = legacy(params, LEGACY_SCHEDULE, '');
  if (old) return old;
  const details = pick(params, ['end_behavior', 'proration_behavior', 'billing_mode'] as const);
  const defaults = objectParam(params, 'default_settings');
  if (isDenial(defaults)) return defaults;
  const phases = objectList(params, 'phases');
  if (isDenial(phases)) return phases;
  if (phases !== undefined) {
    for (const phase of phases) {
      const refused = refusedPhase(phase);
      if (refused) return refused;
    }
    const mapped = phases.map((phase): Obj => {
      const m: Obj = {};
      // Discounts too, at any depth of the phase: as on a subscription create (withoutDiscounts).
      for (const [k, v] of Object.entries(withoutDiscounts(phase))) if (!PHASE_DROP.has(k)) m[k] = v;
      for (const k of DEFAULT_KEYS) {
        if (defaults !== undefined && Object.hasOwn(defaults, k) && !Object.hasOwn(m, k)) m[k] = defaults[k];
      }
      return m;
    });
    if (create && mapped.length > 0 && !Object.hasOwn(mapped[0]!, 'start_date')) {
      const start = scalar(params, 'start_date');
      if (isDenial(start)) return start;
      if (start !== undefined) mapped[0]!['start_date'] = start;
    }
    details['phases'] = mapped;
  }
  return details;
}

/** A phase's legacy parameter, or its items', or a list longer than Stripe takes; undefined when none. */
function refusedPhase(phase: Obj): Denial | undefined {
  const old = legacy(phase, LEGACY_PHASE, 'phases[]');
  if (old) return old;
  const items = objectList(phase, 'items');
  if (isDenial(items)) return items;
  const added = objectList(phase, 'add_invoice_items');
  if (isDenial(added)) return added;
  const over =
    overStripeLimit(items, 'phases[][items]') ?? overStripeLimit(added, 'phases[][add_invoice_items]');
  if (over) return over;
  for (const item of items ?? []) {
    const oldItem = legacy(item, LEGACY_ITEM, 'phases[][items][]');
    if (oldItem) return oldItem;
  }
  return undefined;
}

/** The first of `names` that `o` has, refused as a parameter of an older API version. */
function legacy(o: Obj, names: readonly string[], where: string): Denial | undefined {
  const name = names.find((n) => Object.hasOwn(o, n));
  if (name === undefined) return undefined;
  return deny(
    'price_unknown',
    `Keybrake cannot price "${where}${name}", a parameter of older Stripe API versions: send its current form (a price in items, default_tax_rates, collection_method, proration_behavior).`,
  );
}

/** The named keys of `params` that are present, as they are. */
function pick(params: Params, keys: readonly string[]): Obj {
  const out: Obj = {};
  for (const k of keys) if (Object.hasOwn(params, k)) out[k] = params[k];
  return out;
}

/**
 * A Stripe boolean parameter: `true`/`false`, `fallback` when absent, and any other value read the
 * costly way (`costly`), whatever Stripe would make of it.
 */
function flag(params: Params, name: string, fallback: boolean, costly: boolean): boolean | Denial {
  const v = scalar(params, name);
  if (isDenial(v)) return v;
  if (v === undefined) return fallback;
  return v === 'true' ? true : v === 'false' ? false : costly;
}
