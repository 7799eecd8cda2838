import { type Denial, deny, isDenial } from '../../decision/reasons.ts';
import type { CostLookup, Operation, Params } from '../types.ts';
import { isObj } from './fields.ts';
import { asksAutomaticTax, hasAutomaticTax, TAX_SETTINGS_READ } from './tax-settings.ts';

/**
 * Whose tax settings a preview-priced call's automatic tax reads (ADR 0007 §5, "Since 2026-12-02
 * (fourteenth round)"). The `tax settings` lease (tax-settings.ts) is taken under the call's lease
 * account (stages/lease-account.ts): the account `Stripe-Account`/`Stripe-Context` names, else the
 * key's own. But Stripe loads the head office and registrations from the account a call makes liable
 * (`automatic_tax[liability][account]`, "the business address and tax registrations required to
 * perform the tax calculation are loaded from this account"), and an invoice issued for a connected
 * account (`issuer[account]`, `invoice_settings[issuer]`) or on its behalf (`on_behalf_of`) may be
 * taxed as that account's. Found by an adversarial probe (fourteenth round, leases14, HIGH): a
 * platform key's subscription with `automatic_tax[liability][account]=acct_1Conn` and no header
 * leased the tax settings under the platform, a registration written with `Stripe-Account:
 * acct_1Conn` locked them under acct_1Conn, the two never met, and the subscription was counted at
 * the preview's untaxed figure while the registration went out.
 *
 * A call's leases have one account (one Redis hash slot), so a preview cannot lease another
 * account's tax settings in the same step. The rule: automatic tax computed for any account but the
 * one the call acts as is not priced (price_unknown, unsent) — the platform acts as that account
 * with `Stripe-Account`, or uses the merchant's own key, and the leases meet. Judged on the body
 * before anything is sent and, for what only Stripe's answers show (an existing subscription's or
 * schedule's stored liability, the preview's own), on every answer of the call's lookup chain.
 */

/** The keys whose account makes another account's tax settings apply: an object with `account`. */
const ACCOUNT_REFERENCES: ReadonlySet<string> = new Set(['liability', 'issuer']);

/**
 * Every account a body or answer names as liable for tax, as an invoice's issuer, or in
 * `on_behalf_of`, at any depth (a schedule's phases and default settings, `subscription_details`,
 * `invoice_settings`), as written. `metadata` holds the caller's own names and is skipped.
 */
export function liableAccounts(v: unknown): string[] {
  if (Array.isArray(v)) return v.flatMap(liableAccounts);
  if (!isObj(v)) return [];
  return Object.entries(v).flatMap(([k, x]) => {
    if (k === 'metadata') return [];
    if (k === 'on_behalf_of') return [...idOf(x), ...liableAccounts(x)];
    if (ACCOUNT_REFERENCES.has(k) && isObj(x)) return [...idOf(x['account']), ...liableAccounts(x)];
    return liableAccounts(x);
  });
}

/** An account id as a body (a string) or an answer (a string, or an expanded object) gives it. */
function idOf(x: unknown): string[] {
  if (typeof x === 'string' && x !== '') return [x];
  if (isObj(x) && typeof x['id'] === 'string') return [x['id']];
  return [];
}

/**
 * The first account of `v` that is not `acting` (case-folded, as lease accounts are: ids differing in
 * case meet on one lease); with no `acting` (the call acts as its key's own account) every named one.
 */
export function foreignLiable(v: unknown, acting: string | undefined): string | undefined {
  const own = acting?.toLowerCase();
  return liableAccounts(v).find((account) => account.toLowerCase() !== own);
}

/** The refusal of automatic tax computed for `account`, not the account the call acts as. */
export function foreignTaxDenial(account: string, acting: string | undefined): Denial {
  const as = acting === undefined ? "its key's own account" : `${acting} (Stripe-Account)`;
  return deny(
    'price_unknown',
    `This call has Stripe compute automatic tax from the tax settings of ${account}, not of the account it acts as (${as}): Keybrake leases an account's tax settings only under the account a call acts as, so a change of ${account}'s tax settings or registrations could not be held off until the call settles. Send it as that account (Stripe-Account: ${account}) or with that account's own key. The call was not sent.`,
  );
}

/**
 * `op` (a preview-priced Stripe call) held to the rule above: refused at once when the body switches
 * automatic tax on and names another account; else its lookup refuses (unpriced) an answer showing
 * automatic tax on for, or the body naming, another account. `acting` is the account the call's
 * headers name (stripeLeaseAccount.named), undefined for the key's own.
 */
export function heldToActingAccount(
  op: Operation | Denial,
  params: Params,
  acting: string | undefined,
): Operation | Denial {
  if (isDenial(op)) return op;
  const named = foreignLiable(params, acting);
  const asked = asksAutomaticTax(params);
  if (named !== undefined && asked) return foreignTaxDenial(named, acting);
  // A body naming another account without switching automatic tax on (an issuer on a subscription
  // that has it on) is refused where a read that leases the tax settings follows (guarded).
  if (op.lookup === undefined) return op;
  return { ...op, lookup: guarded(op.lookup, asked, named, acting) };
}

/**
 * `lookup` held to the rule: a read that leases the tax settings (a preview with automatic tax,
 * or a read before it in the same lease step) leaves the call unpriced when another account is
 * named with automatic tax on, by the body (`named`), by an answer before it (a subscription's or
 * schedule's stored liability, issuer or `on_behalf_of`), or by its own answer (the preview's); and
 * a read whose next one would lease them does too. A read leasing no tax settings is left as it is
 * (a metadata update of such a subscription is read for its customer only, and reads no tax).
 */
function guarded(
  lookup: CostLookup,
  taxOn: boolean,
  named: string | undefined,
  acting: string | undefined,
): CostLookup {
  const seenWith = (body: unknown): { on: boolean; named: string | undefined } => {
    const on = taxOn || (isObj(body) && hasAutomaticTax(body));
    return { on, named: named ?? (on ? foreignLiable(body, acting) : undefined) };
  };
  const readsTax = (l: CostLookup | undefined) => l?.locks?.includes(TAX_SETTINGS_READ) === true;
  const next = lookup.next;
  const refused = (body: unknown): boolean => {
    const seen = seenWith(body);
    if (readsTax(lookup) && seen.on && seen.named !== undefined) return true;
    return seen.on && seen.named !== undefined && readsTax(next?.(body));
  };
  return {
    ...lookup,
    price: (body) => (refused(body) ? undefined : lookup.price(body)),
    ...(next !== undefined
      ? {
          next: (body: unknown) => {
            if (refused(body)) return undefined;
            const more = next(body);
            if (more === undefined) return undefined;
            const seen = seenWith(body);
            return guarded(more, seen.on, seen.named, acting);
          },
        }
      : {}),
  };
}
