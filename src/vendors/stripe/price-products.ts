import type { IncomingHttpHeaders } from 'node:http';
import type { VendorRequest } from '../types.ts';
import { idOf } from './costs.ts';
import { isObj } from './fields.ts';

/**
 * A Price's product, as Stripe's answers show it (ADR 0007 §5, seventh round). A preview's automatic
 * tax reads the `tax_code` of the product behind each Price it names, so the preview leases that
 * product; the request names only the Price. Stripe changes a Price's product only by a Plan update
 * naming `product` (`POST /v1/plans/{plan}`, until a subscription uses it), which is money_unpriced
 * (tax-inputs.ts: an exact entry only) and locks the Plan, so the link is learnt from answers
 * Keybrake reads anyway (a Price read for pricing, a preview's lines) and kept by the proxy
 * (proxy/object-links.ts); a Price it does not know is read once for it. A link such an update made
 * stale leases the old Product: the preview's answer then bills one it did not lease and the call
 * is refused (preview-leases.ts billsUnleased), and that answer teaches the new link.
 */

type Link = readonly [price: string, product: string];

/**
 * An id of Stripe's answer, as it is: Plans and Products may have custom ids (`gold-monthly`), and
 * what is done with one is leasing it under that name, or reading a Price at its encoded path.
 */
export const nameOf = (v: unknown): string | undefined => idOf(v, (id) => id.length > 0);

/**
 * The account context a call is made in beyond its key: the Stripe-Account and Stripe-Context
 * headers as given (absent is not empty). A Price id is one account's (a Plan's custom id may name
 * another object in each account), so a link is never used under other headers: another spelling of
 * the same account only costs a read.
 */
export function stripeLinkScope(req: VendorRequest): string {
  const h: IncomingHttpHeaders = req.headers;
  return JSON.stringify([h['stripe-account'] ?? null, h['stripe-context'] ?? null]);
}

/** The product a Price answer names (an id, or the product expanded); undefined when it names none. */
export function productOf(price: unknown): string | undefined {
  return isObj(price) ? nameOf(price['product']) : undefined;
}

/** The link a Price answer shows: its own id and its product's. */
export function priceLinks(price: unknown): Link[] {
  const id = isObj(price) ? nameOf(price['id']) : undefined;
  const product = productOf(price);
  return id !== undefined && product !== undefined ? [[id, product]] : [];
}

/**
 * The links an invoice's lines show (a preview's answer), in both of Stripe's shapes: a line's
 * `price` object before API version 2025-03-31, its `pricing.price_details` (`price`, `product`)
 * since. Only the lines the answer holds (its first page).
 */
export function lineLinks(invoice: unknown): Link[] {
  const lines = isObj(invoice) && isObj(invoice['lines']) ? invoice['lines']['data'] : undefined;
  if (!Array.isArray(lines)) return [];
  return lines.flatMap((line): Link[] => {
    if (!isObj(line)) return [];
    const pricing = line['pricing'];
    const details = isObj(pricing) ? pricing['price_details'] : undefined;
    if (isObj(details)) {
      const price = nameOf(details['price']);
      const product = nameOf(details['product']);
      return price !== undefined && product !== undefined ? [[price, product]] : [];
    }
    return priceLinks(line['price']);
  });
}
