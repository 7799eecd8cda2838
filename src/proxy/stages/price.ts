import { randomBytes } from 'node:crypto';
import { MAX_LEASES_PER_CALL } from '../../counters/keys.ts';
import { type Denial, deny, isDenial } from '../../decision/reasons.ts';
import { type CostLookup, type KnownLinks, NO_LINKS, type Parties } from '../../vendors/types.ts';
import type { CallContext, PipelineDeps, Stage } from '../context.ts';
import { carriesCredential, unscannableBody } from '../credential-scan.ts';
import { parseJson } from '../parse-json.ts';
import { type UpstreamResponse, upstreamAuthorization, upstreamHeaders } from '../upstreams.ts';
import {
  canonicalObject,
  countFurtherRead,
  FALLBACK_LEASE_TTL_MS,
  leaseAccount,
  leaseStoreFailed,
  renewHeldLeases,
} from './lease.ts';
import { callLeaseAccount } from './lease-account.ts';
import { leaseHeldOff } from './lease-duty.ts';

/** Which operation this is, its class and its cost, from the vendor's catalog; may deny. */
export const price: Stage = (ctx, deps) => {
  const op = ctx.adapter!.price(ctx.req!, ctx.params!, ctx.key!, knownLinks(ctx, deps));
  if (isDenial(op)) {
    // A refused operation Keybrake recognised is still named in the audit record.
    ctx.operationId = op.operation ?? null;
    return op;
  }
  ctx.op = op;
  return undefined;
};

/** What this replica's lookups learnt in the call's account context; nothing without a cache (offline). */
function knownLinks(ctx: CallContext, deps: PipelineDeps): KnownLinks {
  const links = deps.objectLinks;
  if (links === undefined) return NO_LINKS;
  let scope: string | undefined;
  // The scope is built on the first question only: most calls ask none.
  return (from) => {
    scope ??= linkScope(ctx);
    return links.get(scope, from);
  };
}

/**
 * Whose objects a call's links are about (ADR 0007 §5, seventh round): the upstream credential's
 * identity, as its leases are (leaseAccount, no NUL in it), and the account context the vendor adds
 * (a Stripe-Account), so a link an answer showed for one account is never used for another.
 */
function linkScope(ctx: CallContext): string {
  return `${leaseAccount(ctx.vendor!, ctx.key!.upstream)}\0${ctx.adapter!.linkScope?.(ctx.req!) ?? ''}`;
}

/**
 * The most upstream reads one call's price may take (ADR 0007 §8: every request has bounded work): a
 * chain of lookups (`CostLookup.next`) longer than this is denied with price_unknown. Adapters bound
 * their own chains below it (Resend: a broadcast read and its segment's contact pages).
 */
export const MAX_LOOKUP_READS = 128;

const FORM = 'application/x-www-form-urlencoded';

/**
 * Prices a call whose amount lives upstream (a refund without amount, a capture). It is an upstream
 * read with the real key, so the pipeline runs it only after the checks that need no lookup, and
 * before those that need the amount and parties it finds.
 */
export const lookUpCost: Stage = (ctx, deps) => {
  const op = ctx.op!;
  if (!op.lookup) return undefined;
  // What the request named, apart from what the read will add: refusals quote only these. A read that
  // only confirms the request's own price adds nothing to keep apart.
  if (!op.lookup.confirms) ctx.partiesBeforeLookup = op.parties;
  return priceUpstream(ctx, deps, op.lookup);
};

/**
 * GETs with the real key and the caller's account headers (Stripe-Account), failing closed: one, or
 * a chain when each read names the next (`next`), leasing what a read names (`locks`) before the
 * read that depends on it. The parties of every read are added to the call's.
 */
async function priceUpstream(
  ctx: CallContext,
  deps: PipelineDeps,
  first: CostLookup,
): Promise<Denial | undefined> {
  const { adapter, req, op } = ctx;
  const {
    'content-type': _type,
    'idempotency-key': _idem,
    ...rest
  } = upstreamHeaders(ctx.call.headers, upstreamAuthorization(adapter!, ctx.key!.upstream));
  const parties = { ...op!.parties };
  let lookup = first;
  let cost: number | undefined;
  for (let reads = 1; ; reads++) {
    const over = await admitRead(ctx, deps, reads);
    if (over) return over;
    // Each read may take the upstream timeout, so a chain outlasts the leases' TTL: before every read
    // after the first, the call renews what it holds, and stops if it lost any (ADR 0007 §5).
    if (reads > 1) {
      const lost = await renewHeldLeases(ctx, deps);
      if (lost) return lost;
    }
    if ((lookup.locks?.length ?? 0) > 0) {
      const busy = await leaseFound(ctx, deps, lookup.locks!);
      if (busy) return busy;
    }
    const res = await deps.upstreams.forward({
      vendor: ctx.vendor!,
      ...((lookup.subHost ?? req!.subHost) !== undefined ? { subHost: lookup.subHost ?? req!.subHost } : {}),
      method: lookup.method ?? 'GET',
      pathAndQuery: lookup.path,
      share: ctx.key!.uid,
      ...(ctx.call.signal !== undefined ? { signal: ctx.call.signal } : {}),
      // A preview (POST) carries its parameters as a form; a GET carries none.
      ...(lookup.method === 'POST'
        ? { headers: { ...rest, 'content-type': FORM }, body: Buffer.from(lookup.body ?? '', 'utf8') }
        : { headers: rest }),
    });
    if (isDenial(res)) return res;
    const withheld = screenLookup(ctx, res);
    if (withheld) return withheld;
    // A read the vendor refuses (the credential may not make it) says so: it is no answer about the call.
    if (res.status === 401 || res.status === 403) return readRefused(ctx, lookup, res.status);
    const body = res.status === 200 ? parseJson(res.body) : undefined;
    if (body === undefined) return unpriced(ctx, lookup);
    const links = lookup.links?.(body) ?? [];
    if (links.length > 0 && deps.objectLinks !== undefined) {
      const scope = linkScope(ctx);
      for (const [from, to] of links) deps.objectLinks.learn(scope, from, to);
    }
    const found = lookup.parties?.(body) ?? {};
    for (const [name, values] of Object.entries(found) as [keyof Parties, string[]][]) {
      parties[name] = [...new Set([...parties[name], ...values])];
    }
    const next = lookup.next?.(body);
    if (next === undefined) {
      cost = lookup.price(body);
      break;
    }
    if (reads >= MAX_LOOKUP_READS) return unpriced(ctx, lookup);
    lookup = next;
  }
  if (cost === undefined) return unpriced(ctx, lookup);
  const { lookup: _done, ...priced } = op!;
  ctx.op = { ...priced, costMicros: cost, parties };
  return undefined;
}

/**
 * Whether the `reads`th read of a lookup may be made (ADR 0003, "Since 2026-12-01 (fifth round)"):
 * every read is an upstream request the vendor counts against the account's rate limit, which every
 * key of the account shares. Under `requestsPerMinute` each read counts one call (the first with the
 * call itself, in the lease step; each further one here); without it, the key's reads on this replica
 * are bounded by `deps.lookupReads`. Over either: 429 rate_limited, the read not made.
 */
function admitRead(
  ctx: CallContext,
  deps: PipelineDeps,
  reads: number,
): Denial | undefined | Promise<Denial | undefined> {
  const key = ctx.key!;
  if (key.policy.limits.requestsPerMinute !== undefined) {
    return reads > 1 ? countFurtherRead(ctx, deps, reads) : undefined;
  }
  if (deps.lookupReads!.take(key.uid)) return undefined;
  return deny(
    'rate_limited',
    `Keybrake: this key's price lookups reached ${deps.lookupReads!.perSecond} upstream reads a second on this proxy (its policy sets no requestsPerMinute); retry shortly.`,
  );
}

/**
 * A lookup's answer is a vendor answer like a forwarded one (ADR 0007 §1): what it names becomes the
 * call's parties, and a denial names them back to the caller. So an answer that carries the upstream
 * credential, or that Keybrake cannot scan, stops the call before anything is forwarded.
 */
function screenLookup(ctx: CallContext, res: UpstreamResponse): Denial | undefined {
  const unscannable = unscannableBody(res);
  const what =
    unscannable !== undefined
      ? `came with ${unscannable}, which Keybrake did not ask for and cannot check for credentials`
      : carriesCredential(res, ctx.key!.upstream)
        ? "contained this key's upstream credential"
        : undefined;
  if (what === undefined) return undefined;
  return deny(
    'credential_in_response',
    `The ${ctx.vendor} API's answer to Keybrake's price lookup for this ${ctx.op!.id} call ${what}, so Keybrake stopped the call; it was not sent.`,
  );
}

function unpriced(ctx: CallContext, lookup: CostLookup): Denial {
  const how = lookup.describe === undefined ? '' : ` (priced from ${lookup.describe})`;
  return deny(
    'price_unknown',
    `Keybrake could not determine the amount of this ${ctx.op!.id} call${how}, so it is not allowed.`,
  );
}

/**
 * A price lookup the vendor answered 401 or 403: unpriced (fail closed) like any answer that cannot be
 * read, but worded for the operator, who must give the upstream credential access to the read
 * (fourteenth round, probe fixtwre14, finding 4); the call's price in words would misstate why.
 */
function readRefused(ctx: CallContext, lookup: CostLookup, status: number): Denial {
  // Not the path: a later read's may hold an id only an earlier answer named.
  const why =
    lookup.needs !== undefined
      ? `: the upstream credential needs ${lookup.needs}`
      : lookup.describe !== undefined
        ? ` (of ${lookup.describe})`
        : '';
  return deny(
    'price_unknown',
    `Keybrake could not determine the amount of this ${ctx.op!.id} call: the ${ctx.vendor} API refused Keybrake's price lookup with HTTP ${status}${why}. The call was not sent.`,
  );
}

/**
 * Leases the objects a read found (ADR 0007 §5), beside the ones the lease stage took for the call:
 * same account, same token, so the release step gives them all back together. A busy object is
 * 409 object_busy; a store that cannot answer fails the call closed; an object the key is backed off
 * (lease-duty.ts) is refused before it is leased or read.
 */
async function leaseFound(
  ctx: CallContext,
  deps: PipelineDeps,
  ids: readonly string[],
): Promise<Denial | undefined> {
  const held = ctx.leases;
  const objects: string[] = [];
  for (const id of ids) {
    const object = canonicalObject(id);
    if (object === undefined) return deny('price_unknown', 'A looked-up object id cannot be leased.');
    if (!held?.objects.includes(object) && !objects.includes(object)) objects.push(object);
  }
  if (objects.length === 0) return undefined;
  const total = (held?.objects.length ?? 0) + objects.length;
  if (total > MAX_LEASES_PER_CALL) {
    return deny(
      'price_unknown',
      `The call depends on ${total} objects (those it names and those its price lookup found, such as the Product of each Price), and Keybrake locks at most ${MAX_LEASES_PER_CALL} at once.`,
    );
  }
  const heldOff = leaseHeldOff(ctx, deps, objects);
  if (heldOff) return heldOff;
  const account = held?.account ?? (await callLeaseAccount(ctx, deps));
  if (typeof account !== 'string') return account;
  const token = held?.token ?? randomBytes(16).toString('base64url');
  try {
    const result = await deps.counters.acquireLeases({
      scope: ctx.key!.uid,
      windows: [],
      now: deps.clock.now(),
      leases: { account, objects, token, ttlMs: deps.leaseTtlMs ?? FALLBACK_LEASE_TTL_MS },
    });
    if (!result.ok) {
      const busy = 'busy' in result ? result.busy : objects[0]!;
      return deny('object_busy', `Another call on ${busy} is in flight; retry shortly.`);
    }
  } catch (err) {
    return leaseStoreFailed(err, deps);
  }
  ctx.leases = { account, token, objects: [...(held?.objects ?? []), ...objects] };
  return undefined;
}
