import { createHash } from 'node:crypto';
import { type Denial, deny, isDenial } from '../../decision/reasons.ts';
import type { VendorName } from '../../snapshot/types.ts';
import type { CallContext, PipelineDeps } from '../context.ts';
import { parseJson } from '../parse-json.ts';
import { LocalRefusal, upstreamAuthorization, upstreamHeaders } from '../upstreams.ts';
import { leaseAccount } from './lease.ts';

/**
 * The lease account of a call (ADR 0007 §5, "Since 2026-12-02 (fourteenth round)"): every replica and
 * every vault key acting on one upstream account must meet on the same leases. Found by an adversarial
 * probe (fixes13y, HIGH): Stripe leases were keyed by the secret, so two vault keys holding different
 * keys of one account (a restricted key per agent, an `sk_` and an `rk_`, a platform key naming the
 * account and its own key, the old and new key of a roll) shared no lease, and an amount raise through
 * one went out while the other's confirm was priced from its lookup.
 *
 * A vendor whose adapter names a rule (Stripe) leases under the account the call names itself
 * (Stripe-Account: the account it acts as, for its objects and its tax settings alike; a preview
 * whose automatic tax another account is liable for is refused by the vendor's pricing,
 * vendors/stripe/tax-liability.ts), or else the account its upstream credential belongs to, learnt once per credential
 * on this replica (deps.leaseAccounts) with the vendor's read; any other vendor under its credential's
 * identity (leaseAccount: a Twilio account SID). When the account cannot be learnt the call is refused
 * unsent, retryable: a lease under the credential alone would not meet the account's other keys.
 */
export async function callLeaseAccount(ctx: CallContext, deps: PipelineDeps): Promise<string | Denial> {
  const vendor = ctx.vendor!;
  const credential = ctx.key!.upstream;
  const rule = ctx.adapter!.leaseAccount;
  if (rule === undefined) return leaseAccount(vendor, credential);
  const named = rule.named(ctx.req!);
  if (named !== undefined) return accountLease(vendor, named);
  const digest = leaseAccount(vendor, credential);
  const account = await deps.leaseAccounts!.of(digest, () => learn(ctx, deps, digest));
  if (account !== undefined) return account;
  return deny(
    'upstream_unavailable',
    `Keybrake could not learn which ${vendor} account this vault key's upstream key belongs to (GET ${rule.read}), so it cannot lock what this call depends on against the account's other keys; the call was not sent. Retry shortly; if it persists, let the upstream key read ${rule.read}.`,
  );
}

/**
 * One read of the account the call's credential belongs to, as a lease account; undefined when the
 * vendor's answer names none or the read failed on its way; the Denial when this proxy refused it by
 * its own bounds (LocalRefusal), which lease-accounts.ts does not hold against the credential.
 */
async function learn(
  ctx: CallContext,
  deps: PipelineDeps,
  digest: string,
): Promise<string | undefined | Denial> {
  const rule = ctx.adapter!.leaseAccount!;
  // The caller's headers are not sent: the read is Keybrake's own, not the call's (a Stripe-Account
  // would name another account). No signal either: other calls may be waiting on this read. Its own
  // share, the credential's digest (no secret in it), not the calling key's: found by an adversarial
  // probe (fourteenth round, leases14, MEDIUM), under the first caller's uid it queued behind that
  // key's own calls and was refused by its full budget, and every other key of the secret waited on
  // it or was refused. Bounded: one read per credential at a time (LeaseAccounts), no body. No vault
  // key's share can be this one: a uid (a UUID, or namespace/name) holds no ':'.
  const res = await deps.upstreams.forward({
    vendor: ctx.vendor!,
    method: 'GET',
    pathAndQuery: rule.read,
    headers: upstreamHeaders({}, upstreamAuthorization(ctx.adapter!, ctx.key!.upstream)),
    share: `lease-account:${digest}`,
  });
  if (res instanceof LocalRefusal) return res;
  if (isDenial(res)) return undefined;
  const account = rule.of(res.status, parseJson(res.body));
  return account === undefined ? undefined : accountLease(ctx.vendor!, account);
}

/**
 * The lease account of an upstream account id: the same digest whichever key or replica asks. Case is
 * folded (ids differing only in case then meet: over-locking, never a gap), as canonicalObject does.
 */
export function accountLease(vendor: VendorName, account: string): string {
  const digest = createHash('sha256')
    .update(`${vendor}\0account\0${account.toLowerCase()}`)
    .digest('hex')
    .slice(0, 32);
  return `${vendor}:${digest}`;
}
