import type { CostLookup } from '../types.ts';
import { chain, idOf } from './costs.ts';

type Obj = Record<string, unknown>;

/**
 * Writes of a saved payment method that name neither its customer nor a lease a preview holds
 * (price stage): `POST /v1/payment_methods/{pm}` (`billing_details`), its `detach`, and a legacy
 * Source's update (`owner[address]`). Under automatic tax "the billing details of the most specific
 * payment method" (the invoice's, the subscription's, the customer's default) decide where a customer
 * without a shipping or billing address is taxed (docs.stripe.com/tax/customer-locations), and a
 * detach can take away the method that did. Every payment method a subscription or an invoice may
 * use is saved to that customer, and every preview leases its customer (ADR 0007 §5), so these
 * writes lease the customer too. Found by an adversarial probe (thirteenth round, fixes13s, HIGH,
 * bounded by the tax rate): while a subscription create's preview with automatic tax was held, the
 * customer's address update answered `object_busy` but `POST /v1/payment_methods/pm_123
 * billing_details[address][country]=DE` went through, read for its customer and not leased.
 *
 * The request names only the method: it is read for its customer, then read once more with that
 * customer leased (a lookup leases objects before a read, never after the last one), as a tax id's
 * deletion is (tax-ids.ts). Unlike a tax id a payment method can change customer (detached, attached
 * elsewhere) between the two reads: a second answer naming a customer that is not leased leaves the
 * call unpriced, unsent. A method saved to no customer (`customer` null, or absent on a Source, which
 * Stripe leaves out until it is attached) is no subscription's or invoice's: nothing is leased. Both
 * answers name the customer, so a customer allowlist governs the write as the plain read did.
 */
export function leasedOwner(path: string, what: string): CostLookup {
  return chain([
    {
      path,
      describe: `the ${what}'s customer, then the ${what} again with its customer leased`,
      part: () => 0,
      follow: (o) => {
        const owners = ownersOf(o);
        if (owners === undefined) return undefined;
        if (owners.length === 0) return [];
        return [
          {
            path,
            describe: `the ${what}, with its customer leased`,
            locks: owners,
            part: (again) => {
              const now = ownersOf(again);
              return now?.every((id) => owners.includes(id)) ? 0 : undefined;
            },
          },
        ];
      },
    },
  ]).lookup!;
}

/**
 * The customers a payment method answer names (`customer`, and `customer_account` where Stripe gives
 * it), [] when it is saved to none; undefined when a field holds something that is no id.
 */
function ownersOf(o: Obj): string[] | undefined {
  const ids: string[] = [];
  for (const field of ['customer', 'customer_account']) {
    const v = o[field];
    if (v === undefined || v === null) continue;
    const id = idOf(v);
    if (id === undefined) return undefined;
    ids.push(id);
  }
  return [...new Set(ids)];
}
