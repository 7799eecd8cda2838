import type { CostLookup, Parties } from '../types.ts';
import { chain, idOf, lookedUpParties, type Priced } from './costs.ts';
import { isObj } from './fields.ts';

/*
 * Reads of the customer an existing object belongs to (price stage), for calls that cost nothing yet
 * act on that one customer's object: the read's answer names its customer (lookedUpParties), so a
 * customer allowlist governs the free form of a call as it governs the priced one. Without the read
 * the call names no customer at all, and an allowlist cannot see whose object it changes.
 */

/**
 * The read of `path`, priced 0, for the customer its answer names (`what` says whose: "the
 * subscription's customer"). First for a cancellation that bills nothing: an MCP probe cancelled
 * another customer's subscription by its id alone under `allow.customers` (the path-with-customer
 * form was refused); now every free write on one customer's object that names none.
 */
export function customerOf(path: string, what: string): Priced {
  return chain([{ path, describe: `the ${what}'s customer`, part: () => 0 }]);
}

/**
 * A subscription item names its subscription, not its customer: the item is read for its
 * subscription, and that for its customer. Found by an adversarial probe (tenth round): removing
 * another customer's item (a partial cancellation that credits that customer a proration) was free
 * and never read, so `allow.customers` never saw whose subscription it changed, while cancelling or
 * updating that subscription was refused. An answer naming no subscription leaves the call unpriced.
 */
export function subscriptionItemCustomer(item: string): Priced {
  return chain([
    {
      path: `/v1/subscription_items/${item}`,
      describe: "the item's subscription, then its customer",
      part: () => 0,
      follow: (o) => {
        const subscription = idOf(o['subscription']);
        if (subscription === undefined) return undefined;
        return [
          {
            path: `/v1/subscriptions/${subscription}`,
            describe: "the subscription's customer",
            part: () => 0,
          },
        ];
      },
    },
  ]);
}

/**
 * Objects of one payment that name the payment rather than its customer: a dispute (Stripe keeps no
 * `customer` on it), a Radar review, a refund (its own `customer` is not in every API version, and the
 * caller picks the version the read is made with). The object is read, then its charge, or without one
 * its payment intent, for that payment's customer; what the first read names is kept too. Found by an
 * MCP probe (eleventh round): `update_dispute` of the official Stripe MCP server submitted evidence on,
 * and a close conceded, another customer's dispute under `allow.customers`, while the same change
 * through the charge (`/v1/charges/{charge}/dispute`) was read and refused. An answer naming neither a
 * charge nor a payment intent leaves the call unpriced (refused): whose payment it is cannot be said.
 */
export function paymentCustomer(path: string, what: string): CostLookup {
  return chain([
    {
      path,
      describe: `the ${what}'s charge or payment intent, then its customer`,
      part: () => 0,
      follow: (o) => {
        // A link that is there but is no id is not skipped for the other: the answer is not understood.
        const [charge, intent] = [o['charge'], o['payment_intent']];
        if (charge !== undefined && charge !== null) {
          const id = idOf(charge);
          return id === undefined
            ? undefined
            : [{ path: `/v1/charges/${id}`, describe: "the charge's customer", part: () => 0 }];
        }
        if (intent === undefined || intent === null) return undefined;
        const id = idOf(intent);
        return id === undefined
          ? undefined
          : [{ path: `/v1/payment_intents/${id}`, describe: "the payment intent's customer", part: () => 0 }];
      },
    },
  ]).lookup!;
}

/**
 * The read of a write on one customer's object that keeps its catalog class (classify.ts: the call is
 * still a free write, now with the customer its object names as a party).
 */
export function ownerLookup(path: string, what: string): CostLookup {
  return customerOf(path, what).lookup!;
}

/**
 * Objects that keep their customer below the top level, under a name of their own, which
 * lookedUpParties (top-level `customer`, `customer_account`) does not see. Found by an adversarial probe (twelfth
 * round, fixesr): under `allow.customers` another customer's Financial Connections account was
 * disconnected or unsubscribed, and another customer's Identity verification session updated,
 * cancelled or redacted (its identity documents deleted for good), all forwarded unread, since the
 * eleventh round's sweep looked for objects with a top-level `customer`.
 *
 * Each reader returns the customers the answer names, [] when it says the object is no customer's,
 * and undefined when it cannot say: the field is missing (the read is made with the caller's
 * `Stripe-Version`, and Stripe writes a field it has as null, never leaves it out), or holds neither
 * null nor an id. Undefined leaves the call unpriced (price_unknown), with or without a customer
 * allowlist, as an answer naming no payment does for paymentCustomer.
 */
export type NestedCustomers = (o: Record<string, unknown>) => readonly string[] | undefined;

/**
 * A Financial Connections account's `account_holder`: `{type: 'customer', customer | customer_account}`
 * or `{type: 'account', account}` (a connected account's own bank account, no customer's). Any other
 * holder, or a customer holder naming no customer, cannot be told.
 */
export const accountHolderCustomers: NestedCustomers = (o) => {
  const holder = o['account_holder'];
  if (!isObj(holder)) return undefined;
  const customers = idsOrNull(holder, ['customer', 'customer_account']);
  if (customers === undefined) return undefined;
  if (holder['type'] === 'customer') return customers.length > 0 ? customers : undefined;
  return holder['type'] === 'account' ? customers : undefined;
};

/**
 * An Identity verification session's `related_customer` (null: the session is tied to no customer)
 * and `related_customer_account` (newer: may be absent in an older API version's answer).
 */
export const relatedCustomers: NestedCustomers = (o) => {
  if (!Object.hasOwn(o, 'related_customer')) return undefined;
  return idsOrNull(o, ['related_customer', 'related_customer_account']);
};

/**
 * A billing alert's customers, two levels down: `usage_threshold.filters[].customer` (Stripe allows
 * one filter today, of type `customer`; the list may grow, so every filter counts, and each customer
 * it names must be allowed). Found by an adversarial probe (twelfth round, fixes12a): archiving,
 * deactivating or activating another customer's usage alert (the alert a merchant set on that
 * customer's metered usage) was forwarded unread under `allow.customers`, while creating one for that
 * customer was refused; the fixesr sweep, which reads one level down, missed it.
 *
 * `filters` null (an alert on the meter's whole usage) names no customer. Anything else that cannot
 * be told is undefined: another `alert_type` (its customer could be kept elsewhere), no
 * `usage_threshold` or no `filters` (Stripe writes a field it has as null), a filter of another type,
 * a customer filter naming no customer or a value that is no id.
 */
export const alertCustomers: NestedCustomers = (o) => {
  if (o['alert_type'] !== 'usage_threshold' || !Object.hasOwn(o, 'usage_threshold')) return undefined;
  const threshold = o['usage_threshold'];
  // An alert of the one type without its configuration is not an answer understood.
  if (!isObj(threshold) || !Object.hasOwn(threshold, 'filters')) return undefined;
  const filters = threshold['filters'];
  if (filters === null) return [];
  if (!Array.isArray(filters)) return undefined;
  const customers: string[] = [];
  for (const filter of filters) {
    if (!isObj(filter) || filter['type'] !== 'customer') return undefined;
    const ids = idsOrNull(filter, ['customer', 'customer_account']);
    if (ids === undefined || ids.length === 0) return undefined;
    customers.push(...ids);
  }
  return customers;
};

/** The ids of `fields` in `o`: each absent, null, or an id (or expanded object); undefined otherwise. */
function idsOrNull(o: Record<string, unknown>, fields: readonly string[]): string[] | undefined {
  const ids: string[] = [];
  for (const field of fields) {
    const v = Object.hasOwn(o, field) ? o[field] : null;
    if (v === null) continue;
    const id = idOf(v);
    if (id === undefined) return undefined;
    ids.push(id);
  }
  return ids;
}

/**
 * The read of `path`, priced 0, for the customers `customers` finds below the top level of its answer
 * (beside any top-level `customer` lookedUpParties finds); unpriced when `customers` cannot say.
 */
export function nestedOwnerLookup(path: string, what: string, customers: NestedCustomers): CostLookup {
  const found = (body: unknown) => (isObj(body) ? customers(body) : undefined);
  return {
    path,
    describe: `the ${what}'s customer`,
    parties: (body): Partial<Parties> => {
      const top = lookedUpParties(body);
      const all = [...new Set([...(top.customers ?? []), ...(found(body) ?? [])])];
      return all.length > 0 ? { ...top, customers: all } : top;
    },
    price: (body) => (found(body) === undefined ? undefined : 0),
  };
}
