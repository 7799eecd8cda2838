import { isObj } from './fields.ts';

/**
 * How an invoice as Stripe renders it is collected (`charge_automatically`, `send_invoice`): its
 * `collection_method`, or `billing`, that field's name before API version 2019-10-17, which Stripe
 * renders instead under an older `Stripe-Version` (the caller's: it pins the answer a call settles
 * from and the reads that price it). Found by a security tester (fourth round): a sent invoice's
 * finalize answered with `billing: "send_invoice"` under 2019-08-14 and settled as if charged
 * automatically, at 0. Undefined when it says neither.
 */
export function collectionOf(invoice: unknown): string | undefined {
  if (!isObj(invoice)) return undefined;
  const method = invoice['collection_method'] ?? invoice['billing'];
  return typeof method === 'string' ? method : undefined;
}
