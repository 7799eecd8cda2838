import { isObj } from './fields.ts';
import { isMinor, lineCredit } from './line-credits.ts';

/**
 * What a Stripe invoice preview charges before the customer's credits it uses up: the amount a
 * subscription or schedule priced by its preview (previews.ts) is counted at.
 *
 * A preview's `amount_due` has two kinds of credit taken off that the call spends all the same
 * (fourteenth round, probe fixmoney14, HIGH, bounded by the credits). Stripe's definition: a pending
 * invoice item naming no invoice "is added to the next upcoming scheduled invoice", and the preview
 * "will show you all the charges that are pending, including … invoice item charges". So a new
 * subscription's first invoice (an update's or schedule's invoice made now alike) takes the
 * customer's pending credits in; they no longer lower the renewal they were meant for, which Stripe
 * then charges that much more on its own. The customer's credit balance (`starting_balance`) is taken
 * off the same way. A new $100.00 subscription for a customer with a -$150.00 pending credit was
 * counted $0.00 under a $1.00 cap, where the same credit swept into an invoice by `POST /v1/invoices`
 * is counted in full (billing.ts pendingSweep, ADR 0003). Now the preview is counted at what it
 * charges before the balance (`total`, when larger than `amount_due`), plus every credit, with its
 * tax, of a line that comes from a pending invoice item (takenCredits): the subscription's own
 * charge and the credits it takes from the next invoice. A credit larger than the charge is counted
 * whole though its rest goes to the balance and still lowers a later invoice: an over-count, the safe
 * side.
 */

type Obj = Record<string, unknown>;

/**
 * What preview `o` charges before the credits it uses up (minor units of its currency): the larger of
 * `amount_due` and `total` (a credit balance applied), plus takenCredits. Undefined when the answer
 * does not say.
 */
export function previewCharge(o: Obj): bigint | undefined {
  const due = o['amount_due'];
  if (!isMinor(due)) return undefined;
  const total = o['total'];
  const before = isMinor(total) && total > due ? total : due;
  const taken = takenCredits(o);
  return taken === undefined ? undefined : BigInt(before) + taken;
}

/**
 * The credit, tax included (lineCredit), of every line of preview `o` that the preview takes in
 * rather than computes: a pending invoice item (`parent.invoice_item_details` from API version
 * 2025-03-31, a line of `type: invoiceitem` before), a proration left pending by an earlier change
 * (it names its `invoice_item`), and any line of a shape not known here (the safe side). A line the
 * preview computes for the call is its own, not a credit taken from elsewhere: a subscription item's
 * line, and a proration of the change (an upgrade's unused time) that names no invoice item yet.
 *
 * Stripe sorts an invoice's lines "(1) pending invoice items (including prorations) …, (2)
 * subscription items …" (the definition's `lines`), and the answer holds their first page only: with
 * more to come (`has_more` other than false), every pending item was seen only if the page reaches a
 * subscription item's line; otherwise undefined (unpriced). An answer without `lines` shows none
 * (Stripe's invoice always has them): 0, the preview's amount as before.
 */
export function takenCredits(o: Obj): bigint | undefined {
  const lines = o['lines'];
  if (lines === undefined) return 0n;
  const data = isObj(lines) ? lines['data'] : undefined;
  if (!isObj(lines) || !Array.isArray(data)) return undefined;
  let sum = 0n;
  let pastPending = false;
  for (const line of data) {
    if (!isObj(line)) return undefined;
    if (subscriptionLine(line)) pastPending = true;
    if (computedLine(line)) continue;
    const credit = lineCredit(line);
    if (credit === undefined) return undefined;
    sum += credit;
  }
  return lines['has_more'] === false || pastPending ? sum : undefined;
}

/** The details of the subscription item that made `line` (API version 2025-03-31 on), if it says so. */
function itemDetails(line: Obj): Obj | undefined {
  const parent = line['parent'];
  if (!isObj(parent)) return undefined;
  const details = parent['subscription_item_details'];
  return parent['type'] === 'subscription_item_details' && isObj(details) ? details : undefined;
}

/** Whether `line` is a subscription item's own charge (group 2 of Stripe's order): not a proration. */
function subscriptionLine(line: Obj): boolean {
  const details = itemDetails(line);
  if (details !== undefined) return details['proration'] === false;
  return line['parent'] === undefined && line['type'] === 'subscription' && line['proration'] === false;
}

/**
 * Whether `line` is one the preview computes for the call: a subscription item's charge, or a
 * proration of the change naming no invoice item (one left pending by an earlier change names its
 * item, and is taken in). A line before API version 2019-12-03 has no `invoice_item` (its id was the
 * item's): never known to be computed.
 */
function computedLine(line: Obj): boolean {
  const details = itemDetails(line);
  if (details !== undefined) return details['proration'] === false || !namesItem(details['invoice_item']);
  if (line['parent'] !== undefined) return false;
  if (line['type'] === 'subscription') return true;
  return (
    line['type'] === 'invoiceitem' &&
    line['proration'] === true &&
    Object.hasOwn(line, 'invoice_item') &&
    !namesItem(line['invoice_item'])
  );
}

/** Whether a line's `invoice_item` names one (any id, or the item expanded); null and absent do not. */
function namesItem(v: unknown): boolean {
  return (typeof v === 'string' && v !== '') || isObj(v);
}
