import { type Denial, deny } from '../../decision/reasons.ts';
import type { Params } from '../types.ts';

/**
 * Names older Stripe API versions gave invoice parameters, which a call pinned to an old
 * `Stripe-Version` still sets an invoice by, and which the invoice formulas (billing.ts), reading
 * today's names only, would not see: `closed` (before 2018-11-08; `closed=false` is today's
 * `auto_advance=true`), `forgiven` (before 2018-11-08, today `mark_uncollectible`), `billing` (before
 * 2019-10-17, today's `collection_method`), `tax_percent` (a tax before tax rates). Found by a
 * security tester (fourth round): `closed=false` or `billing=charge_automatically` on another
 * customer's draft switched on automatic collection, a free write Stripe then finalised and charged.
 * Refused, never translated: an old name costs a caller nothing to replace by the new one.
 */
const LEGACY_INVOICE_NAMES = ['closed', 'forgiven', 'billing', 'tax_percent'] as const;

/** The invoice writes: every `POST` under `/v1/invoices` (create, update, finalize, pay, send, lines). */
function isInvoiceWrite(method: string, path: string): boolean {
  return method === 'POST' && (path === '/v1/invoices' || path.startsWith('/v1/invoices/'));
}

/** The refusal of an invoice write (`method` and the row's `path`) that sets a legacy name; undefined otherwise. */
export function legacyInvoiceDenial(method: string, path: string, params: Params): Denial | undefined {
  if (!isInvoiceWrite(method, path)) return undefined;
  const name = LEGACY_INVOICE_NAMES.find((n) => Object.hasOwn(params, n));
  if (name === undefined) return undefined;
  return deny(
    'price_unknown',
    `Keybrake cannot price "${name}" on an invoice, a parameter of older Stripe API versions: send its current form (auto_advance, collection_method, mark_uncollectible, default_tax_rates).`,
  );
}
