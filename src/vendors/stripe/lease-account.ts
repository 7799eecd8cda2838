import { isDenial } from '../../decision/reasons.ts';
import { trimOws } from '../../http-whitespace.ts';
import type { LeaseAccountRule, VendorRequest } from '../types.ts';
import { isObj } from './fields.ts';
import { accountsOf } from './parties.ts';

const ACCOUNT_ID = /^acct_[A-Za-z0-9]{1,255}$/;

/**
 * Stripe's permission refusal of a restricted key, as Stripe words it: "The provided key 'rk_…' does
 * not have the required permissions for this endpoint on account 'acct_…'." It names the account the
 * key belongs to, so a restricted key without the Account read permission is still told apart.
 */
const PERMISSION_ACCOUNT = /\bon account '(acct_[A-Za-z0-9]{1,255})'/;

/**
 * Whose objects a Stripe call's leases guard (ADR 0007 §5, "Since 2026-12-02 (fourteenth round)"): the
 * Stripe account the call acts on, not the secret it is made with. Found by an adversarial probe
 * (fixes13y, HIGH): leases were keyed by the secret, so two vault keys holding different keys of one
 * account (Stripe's advice: a restricted key per agent; an `sk_` and an `rk_`; a platform key with
 * `Stripe-Account: acct_X` and acct_X's own key; the old and the new key of a roll) shared no lease,
 * and an amount raise through one went out while the other's confirm was priced from its lookup.
 *
 * The account a call names itself (`Stripe-Account`, or the last account of a `Stripe-Context` path:
 * the one the call acts as) is taken as it is; otherwise the proxy learns the key's own account once
 * per upstream key and replica with `GET /v1/account` (answer `id`; a restricted key without that permission is refused
 * with a message naming its account, which is read too). Nothing learnt: the call is refused unsent.
 */
export const stripeLeaseAccount: LeaseAccountRule = {
  named(req: VendorRequest): string | undefined {
    // A malformed or contradictory header was refused before any lease (the price stage, parties.ts):
    // read here as naming none, so the key's own account is used, never a guess at which one Stripe picks.
    if (isDenial(accountsOf(req.headers))) return undefined;
    const account = req.headers['stripe-account'];
    if (typeof account === 'string') return trimOws(account);
    // The last account of a Stripe-Context path is the one the call acts as (accountsOf dedupes the
    // path, so it is read here as sent: acct_1/acct_2/acct_1 acts as acct_1).
    const context = req.headers['stripe-context'];
    return typeof context === 'string' ? trimOws(context).split('/').at(-1) : undefined;
  },
  read: '/v1/account',
  of(status: number, body: unknown): string | undefined {
    if (!isObj(body)) return undefined;
    if (status === 200) {
      const id = body['id'];
      return typeof id === 'string' && ACCOUNT_ID.test(id) && body['object'] === 'account' ? id : undefined;
    }
    if (status !== 403) return undefined;
    const error = body['error'];
    const message = isObj(error) ? error['message'] : undefined;
    if (typeof message !== 'string') return undefined;
    const found = [...message.matchAll(new RegExp(PERMISSION_ACCOUNT, 'g'))].map((m) => m[1]);
    // Exactly one account named, or none is trusted.
    return found.length === 1 ? found[0] : undefined;
  },
};
