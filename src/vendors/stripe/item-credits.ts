import { ceilProduct, type Decimal, parseDecimal } from './amounts.ts';
import { idOf } from './costs.ts';
import { isObj } from './fields.ts';
import { isMinor } from './line-credits.ts';

/**
 * What a pending Stripe invoice item as read (`GET /v1/invoiceitems/…`, a list of them) gives the
 * customer's next invoice: its credit with its tax. Shared by the invoice item calls and the sweep of
 * a new invoice (billing.ts) and by the previews whose first page of lines does not show every
 * pending item (preview-pending.ts).
 */

type Obj = Record<string, unknown>;

/**
 * What a pending invoice item as read (no `invoice`) gives the customer's next invoice, perhaps a
 * renewal Stripe charges on its own: its credit with the tax its own rates add (withOwnTax), as
 * deleting it counts (invoiceItemDelete); 0 for an item that charges or is on an invoice. Undefined
 * when it cannot say. Found by an adversarial probe (twelfth round): attaching a -$150.00 pending
 * credit to a draft that waits (add_lines `invoice_item`) was counted $0.00, and a remove_lines of
 * that line on the waiting draft is free: the credit was gone from the renewal.
 */
export function pendingCredit(o: Obj): bigint | undefined {
  if (!isMinor(o['amount'])) return undefined;
  if (o['amount'] >= 0 || idOf(o['invoice']) !== undefined) return 0n;
  return withOwnTax(o, BigInt(-o['amount']));
}

/**
 * `credit` with the exclusive tax the item's own `tax_rates` (full tax rate objects, as Stripe
 * answers an item) add to it, each `percentage` rounded up; an inclusive rate is in the amount.
 * Undefined when a rate does not say both (`percentage`, `inclusive`), or is not a percentage
 * (`rate_type` other than `percentage`): the credit's tax cannot be known.
 */
export function withOwnTax(o: Obj, credit: bigint): bigint | undefined {
  return withRates(o['tax_rates'], credit);
}

/** `credit` with the exclusive tax the tax rate objects of `list` add to it (withOwnTax). */
export function withRates(list: unknown, credit: bigint): bigint | undefined {
  if (!Array.isArray(list)) return undefined;
  let total = credit;
  for (const rate of list) {
    if (!isObj(rate) || typeof rate['inclusive'] !== 'boolean') return undefined;
    const type = rate['rate_type'];
    if (type !== undefined && type !== null && type !== 'percentage') return undefined;
    const pct = percentOf(rate['percentage']);
    if (pct === undefined || pct.units < 0n) return undefined;
    if (!rate['inclusive']) total += ceilProduct(pct, { units: credit, scale: 2 });
  }
  return total;
}

/** A tax rate's `percentage`, a JSON number Stripe gives with decimals (8.875), exactly as written. */
function percentOf(v: unknown): Decimal | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? parseDecimal(String(v)) : undefined;
}
