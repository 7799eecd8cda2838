/**
 * How a lease name says it is taken shared (ADR 0007 §5, "Since 2026-12-02 (fourteenth round)"):
 * vocabulary the vendors' pricing (which names leases) and the counter stores (which hold them)
 * share, through every stage between them unchanged.
 *
 * A lease is exclusive unless its name is `sharedLease(name)`: then any number of calls may hold it
 * together, and an exclusive lease of `name` waits until none does (and the other way round), a
 * readers-writer lock. What needs it: the account's Stripe Tax settings, which every automatic-tax
 * preview reads and only a tax-settings write changes. Exclusive between previews, one tenant looping
 * free previews on its own subscription held every other tenant's previews of the account off
 * (thirteenth round, fixes13y, MEDIUM).
 *
 * The mark starts with a blank, which no object id a lease names can hold (vendors/stripe/fields.ts),
 * so a shared name never meets an object's lease by accident.
 */
const SHARED_MARK = ' shared ';

/** `name` taken shared: calls holding it hold it together; an exclusive `name` waits for all of them. */
export function sharedLease(name: string): string {
  return `${SHARED_MARK}${name}`;
}

/** Whether a lease name is taken shared. */
export function isSharedLease(name: string): boolean {
  return name.startsWith(SHARED_MARK);
}

/** The object a lease name guards, whichever way it is taken: what a refusal names. */
export function leasedObject(name: string): string {
  return isSharedLease(name) ? name.slice(SHARED_MARK.length) : name;
}
