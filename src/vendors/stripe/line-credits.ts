import { isObj } from './fields.ts';

/**
 * What a line of a Stripe invoice as read gives the customer: its credit with its tax. Shared by the
 * invoice line edits (billing.ts: a credit shrunk or removed) and the previews (preview-credits.ts:
 * a pending credit a new invoice takes in).
 */

type Obj = Record<string, unknown>;

/**
 * The credit a line as read gives, tax included (0 for a line that charges): minus its `amount` and
 * the amounts of its taxes, `taxes` from API version 2025-03-31, `tax_amounts` before it. The read
 * is made with the caller's `Stripe-Version`, which the agent chooses: found by an adversarial probe
 * (twelfth round), `taxes` alone read a 2024-pinned line's tax as none ($80 counted for a credit of
 * $100 with its VAT). A line that charges (`amount` ≥ 0) gives none whatever its tax (a tax has
 * the sign of the amount it taxes); a credit line with neither list (Stripe's definition makes
 * `taxes` nullable), or an amount that is no integer, is undefined.
 */
export function lineCredit(line: Obj | undefined): bigint | undefined {
  if (line === undefined || !isMinor(line['amount'])) return undefined;
  if (line['amount'] >= 0) return 0n;
  const taxes = line['taxes'] ?? line['tax_amounts'];
  if (!Array.isArray(taxes)) return undefined;
  let net = BigInt(line['amount']);
  for (const tax of taxes) {
    const a = isObj(tax) ? tax['amount'] : undefined;
    if (!isMinor(a)) return undefined;
    net += BigInt(a);
  }
  return net < 0n ? -net : 0n;
}

/** An amount in minor units as Stripe reports one: an integer BigInt takes whole. */
export function isMinor(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v);
}
