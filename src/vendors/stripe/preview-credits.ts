import { idOf } from './costs.ts';
import { isObj } from './fields.ts';
import { withRates } from './item-credits.ts';
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
 * side. The answer shows the first page of the lines only: where pending items may be past it
 * (pageSeen), the customer's pending items are read and the credits of those past the page counted
 * (hiddenCredit, preview-pending.ts; fourteenth round, probe credits14).
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
 * The credit, tax included (lineCredit), of every line of preview `o`'s first page that the preview
 * takes in rather than computes: a pending invoice item (`parent.invoice_item_details` from API
 * version 2025-03-31, a line of `type: invoiceitem` before), a proration left pending by an earlier
 * change (it names its `invoice_item`), and any line of a shape not known here (the safe side). A
 * line the preview computes for the call is its own, not a credit taken from elsewhere: a
 * subscription item's line, and a proration of the change (an upgrade's unused time) that names no
 * invoice item yet. The lines past the first page are not here: pageSeen says whether there are
 * pending items among them, and preview-pending.ts reads those. An answer without `lines` shows none
 * (Stripe's invoice always has them): 0, the preview's amount as before.
 */
export function takenCredits(o: Obj): bigint | undefined {
  const lines = o['lines'];
  if (lines === undefined) return 0n;
  const data = isObj(lines) ? lines['data'] : undefined;
  if (!isObj(lines) || !Array.isArray(data)) return undefined;
  let sum = 0n;
  for (const line of data) {
    if (!isObj(line)) return undefined;
    if (computedLine(line)) continue;
    const credit = lineCredit(line);
    if (credit === undefined) return undefined;
    sum += credit;
  }
  return sum;
}

/** What the first page of a preview's lines shows of the pending invoice items the preview takes in. */
export interface PageSeen {
  /** Every pending item's line is on the page: nothing past it to read. */
  readonly whole: boolean;
  /** The invoice items whose lines the page holds: their credits are counted from those lines. */
  readonly items: readonly string[];
}

/**
 * Whether the first page of preview `o`'s lines holds every pending invoice item it takes in, and
 * which items it holds. Stripe sorts an invoice's lines "(1) pending invoice items (including
 * prorations) …, (2) subscription items …" (the definition's `lines`), and the answer holds their
 * first page only: with more to come (`has_more` other than false), every pending item was seen only
 * if the page reaches a subscription item's line. Before the fourteenth round's second fix a page
 * that did not was refused, which refused every plan change moving 5 or more items (10 or more of
 * the change's own prorations come first) and every new subscription for a customer with 10 or more
 * pending charges (probe credits14, finding 1): such a preview now has the customer's pending items
 * read (preview-pending.ts). Undefined when the lines are no list (takenCredits refuses them).
 */
export function pageSeen(o: Obj): PageSeen | undefined {
  const lines = o['lines'];
  if (lines === undefined) return { whole: true, items: [] };
  const data = isObj(lines) ? lines['data'] : undefined;
  if (!isObj(lines) || !Array.isArray(data)) return undefined;
  const items: string[] = [];
  let pastPending = false;
  for (const line of data) {
    if (!isObj(line)) return undefined;
    if (subscriptionLine(line)) pastPending = true;
    const item = lineItem(line);
    if (item !== undefined) items.push(item);
  }
  return { whole: lines['has_more'] === false || pastPending, items };
}

/**
 * The credit (minor units of its own currency) that pending invoice item `item`, as a list of the
 * customer's pending items shows it, gives preview `o`'s invoice when its line is past the page the
 * preview showed: 0 for a charge or an item on an invoice; else its credit with the tax Stripe adds
 * to a line: the item's own `tax_rates`, else the invoice's `default_tax_rates`. Undefined when the
 * preview computes tax itself (automatic tax, or it does not say): no read shows the rate it would
 * take off that credit. Every pending item of the customer is counted, those Stripe keeps for
 * another subscription's invoice or bills in another currency too: an over-count, the safe side.
 */
export function hiddenCredit(item: Obj, o: Obj): bigint | undefined {
  const amount = item['amount'];
  if (!isMinor(amount)) return undefined;
  if (amount >= 0 || idOf(item['invoice']) !== undefined) return 0n;
  const automatic = o['automatic_tax'];
  if (!isObj(automatic) || automatic['enabled'] !== false) return undefined;
  const own = item['tax_rates'];
  if (!Array.isArray(own)) return undefined;
  return withRates(own.length > 0 ? own : o['default_tax_rates'], BigInt(-amount));
}

/**
 * The invoice item a preview line comes from, if it names one: `parent.invoice_item_details`
 * (2025-03-31 on), a pending proration's `subscription_item_details.invoice_item`, or the line's
 * `invoice_item` before. A line before API version 2019-12-03 bore the item's id as its own.
 */
function lineItem(line: Obj): string | undefined {
  const parent = line['parent'];
  if (isObj(parent)) {
    const details = parent['invoice_item_details'] ?? parent['subscription_item_details'];
    return isObj(details) ? idOf(details['invoice_item']) : undefined;
  }
  if (line['type'] !== 'invoiceitem') return undefined;
  return idOf(Object.hasOwn(line, 'invoice_item') ? line['invoice_item'] : line['id']);
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
