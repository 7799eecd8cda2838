import { createHash, randomBytes } from 'node:crypto';
import { MAX_LEASES_PER_CALL } from '../../counters/keys.ts';
import { CounterStoreUnavailableError, type LeaseSpec, type WindowSpec } from '../../counters/store.ts';
import { windowsFor } from '../../counters/windows.ts';
import { type Denial, deny } from '../../decision/reasons.ts';
import type { CompiledPolicy, UpstreamCredential, VendorName } from '../../snapshot/types.ts';
import { startChildSpan } from '../../telemetry/tracing.ts';
import type { CallContext, PipelineDeps, Stage } from '../context.ts';
import { errorText } from '../error-text.ts';
import { callLeaseAccount } from './lease-account.ts';
import { leaseHeldOff } from './lease-duty.ts';
import { refusal, spentRefusal } from './reserve.ts';

/** Added to the upstream timeout: a lease outlives the longest time the vendor may still act on a call. */
export const LEASE_MARGIN_MS = 5_000;

/** The lease TTL for a proxy whose upstream timeout is `upstreamTimeoutMs` (ADR 0007 §5). */
export function leaseTtlMsFor(upstreamTimeoutMs: number): number {
  return upstreamTimeoutMs + LEASE_MARGIN_MS;
}

/**
 * How long after the counter store last vouched for a call's leases (the step that took or renewed
 * them) the forward may still send the call without asking again (ADR 0007 §5, ninth round). A lease
 * can vanish before its TTL, when Redis loses data (a restart without persistence, a flush, a
 * failover, an eviction), and nothing tells the holder: another call then takes the object and
 * changes it. A call that waited for its key's turn on the upstream connections asks again
 * (`renewHeldLeases`) when the turn comes; past this, one still waiting in the pool is refused unsent.
 * Below LEASE_MARGIN_MS, so a lease so vouched for also outlasts the call's answer.
 */
export const LEASE_UNCONFIRMED_MS = 1_000;

/**
 * The TTL when the pipeline is not told its upstream timeout. Generous on purpose: a lease is
 * normally released when its call settles, and only a call whose upstream timed out leaves it to
 * expire, so too long costs a few retries of `object_busy` while too short would reopen the race.
 */
export const FALLBACK_LEASE_TTL_MS = leaseTtlMsFor(10 * 60_000);

/**
 * The lease stage, first half (ADR 0007 §5, §8): a call that looks its price up counts its call rate
 * and takes its leases in one store step before the lookup, so a rate-limited call does no upstream
 * read and no update can change what the lookup reads until the call has settled. The step counts
 * the call and its first read (ADR 0003, fifth round); each further read is counted as it comes
 * (`countFurtherRead`).
 */
export const leaseBeforeLookup: Stage = (ctx, deps) =>
  ctx.op!.lookup !== undefined ? takeLeases(ctx, deps, 1) : undefined;

/**
 * The lease stage, second half, once every check has passed, before the forward: a write that locks
 * objects without a lookup (an update of a payment intent a confirm is priced from) takes its leases;
 * a call that took leases before or during its lookup renews them (`renewHeldLeases`), since the
 * lookup may have taken longer than their TTL.
 */
export const leaseBeforeForward: Stage = (ctx, deps) => {
  if (ctx.leases !== null) return renewHeldLeases(ctx, deps);
  return (ctx.op!.locks?.length ?? 0) > 0 && !ctx.rateCounted ? takeLeases(ctx, deps, 0) : undefined;
};

/**
 * One store step: counts the call rate (the call, and `reads` upstream reads it makes before it is
 * forwarded) and takes an exclusive lease on every object the call locks. A busy object answers 409
 * `object_busy` (retryable); plain calls never get here, so they pay no round trip. The release step
 * (release.ts) gives the leases back after settle. A key backed off one of the objects on this
 * replica (lease-duty.ts) is refused first, with nothing counted, leased or read.
 */
async function takeLeases(ctx: CallContext, deps: PipelineDeps, reads: number): Promise<Denial | undefined> {
  const op = ctx.op!;
  const locks = op.locks ?? [];
  const key = ctx.key!;
  const alone = rateAlone(key.policy, 1 + reads);
  if (alone) return alone;
  const now = deps.clock.now();
  // The call rate only: money is reserved once the price is known (the reserve stage).
  const windows = rateWindows(key.policy, now, 1 + reads);
  let leases: LeaseSpec | undefined;
  if (locks.length > 0) {
    const objects = locks.map(canonicalObject);
    if (objects.some((o) => o === undefined)) {
      return deny('path_invalid', 'The call names an object id Keybrake cannot read.');
    }
    if (objects.length > MAX_LEASES_PER_CALL) {
      return deny(
        'body_invalid',
        `The call names ${objects.length} objects to lock, and Keybrake locks at most ${MAX_LEASES_PER_CALL} at once.`,
      );
    }
    const heldOff = leaseHeldOff(ctx, deps, objects as string[]);
    if (heldOff) return heldOff;
    const account = await callLeaseAccount(ctx, deps);
    if (typeof account !== 'string') return account;
    leases = {
      account,
      objects: objects as string[],
      token: randomBytes(16).toString('base64url'),
      ttlMs: deps.leaseTtlMs ?? FALLBACK_LEASE_TTL_MS,
    };
  }
  if (windows.length === 0 && leases === undefined) return undefined;
  // Before a lookup, the step also asks whether a cap the call would raise is already spent.
  const ceilings = reads > 0 ? spentCeilings(ctx, now) : [];

  const span = startChildSpan(ctx.span, 'keybrake.lease');
  try {
    const result = await deps.counters.acquireLeases({
      scope: key.uid,
      windows,
      now,
      ...(ceilings.length > 0 ? { ceilings } : {}),
      ...(leases !== undefined ? { leases } : {}),
    });
    if (result.ok) {
      ctx.leases = result.held ?? null;
      if (leases !== undefined) ctx.leasesConfirmedAt = now;
      ctx.rateCounted = windows.length > 0;
      return undefined;
    }
    if ('busy' in result) {
      return deny('object_busy', `Another call on ${result.busy} is in flight; retry shortly.`);
    }
    return result.refused === 'minute'
      ? refusal(result.refused, result.used, result.limit, 0)
      : spentRefusal(result.refused, result.used, result.limit);
  } catch (err) {
    return leaseStoreFailed(err, deps);
  } finally {
    span.end();
  }
}

/**
 * The money windows a call priced from a lookup will raise, as ceilings (ADR 0003, "Since 2026-12-01
 * (fifth round)"): each adds the least a call can cost, 1 µUSD, so the lease step refuses the call
 * before any read when its key's day, month or run cap is already spent, and writes nothing. They
 * ride on the step the call makes anyway (its rate or its leases): a call that makes none is not given
 * a round trip for them, and is bounded by its reads (price.ts) and refused at reserve.
 */
function spentCeilings(ctx: CallContext, now: number): WindowSpec[] {
  const runKey = ctx.runKey ?? undefined;
  return windowsFor(
    ctx.key!.policy,
    1,
    now,
    ctx.runId ?? undefined,
    runKey && { capMicros: runKey.capMicros },
  ).filter((w) => w.kind !== 'minute');
}

/**
 * Counts one more upstream read of a call's price lookup against its key's `requestsPerMinute`
 * (ADR 0003, fifth round), before the read: a chain that would pass the rate is refused 429
 * `rate_limited` with the read not made. A key without the limit has nothing to count here (its
 * reads are bounded in process, lookup-reads.ts), and pays no round trip.
 */
export async function countFurtherRead(
  ctx: CallContext,
  deps: PipelineDeps,
  reads: number,
): Promise<Denial | undefined> {
  const key = ctx.key!;
  const alone = rateAlone(key.policy, 1 + reads);
  if (alone) return alone;
  const now = deps.clock.now();
  const windows = rateWindows(key.policy, now, 1);
  if (windows.length === 0) return undefined;
  const span = startChildSpan(ctx.span, 'keybrake.lease');
  try {
    const result = await deps.counters.acquireLeases({ scope: key.uid, windows, now });
    // No lease is asked for, so the rate is the only thing that can refuse.
    return !result.ok && 'refused' in result
      ? refusal(result.refused, result.used, result.limit, 0)
      : undefined;
  } catch (err) {
    return leaseStoreFailed(err, deps);
  } finally {
    span.end();
  }
}

/**
 * The refusal of a call that needs more requests by itself than its key's `requestsPerMinute` (the
 * call and the `requests - 1` reads of its price lookup so far, each counted): it could not pass in
 * any minute, so it is refused without a store step, and its message says what it needs rather than
 * that the limit was "reached" (sixth round: a refund priced from its charge under a limit of 1 was
 * refused as the limit reached, in a fresh minute). rate_limited, as every refusal of the window.
 */
export function rateAlone(policy: CompiledPolicy, requests: number): Denial | undefined {
  const limit = policy.limits.requestsPerMinute;
  if (limit === undefined || requests <= limit) return undefined;
  const reads = requests - 1;
  return deny(
    'rate_limited',
    `Keybrake: this call needs at least ${requests} requests of the per-minute request limit (the call and ${reads} upstream read${reads === 1 ? '' : 's'} of its price lookup) and the limit is ${limit}, so it can never pass under this policy; its requestsPerMinute must be at least ${requests}.`,
  );
}

/** The call-rate window of a policy (none without `requestsPerMinute`), adding `requests`. */
function rateWindows(policy: CompiledPolicy, now: number, requests: number): WindowSpec[] {
  return windowsFor(policy, 0, now, undefined).map((w) => ({ ...w, amount: requests }));
}

/**
 * Extends every lease the call holds to a full TTL from now, if the call still holds them all
 * (ADR 0007 §5, "Since 2026-12-01 (fourth round)"). A lease is counted from when it was taken, and a
 * price lookup may take longer than its TTL (a chain of reads, each allowed the upstream timeout), so
 * the lookup renews before each further read (price.ts) and this stage once more before the forward:
 * the lease then outlasts the forward by the margin. A lease that expired meanwhile may have let
 * another call change what the lookup read, so the call is refused (409 object_busy, retryable) and
 * nothing is sent. No leases held: nothing to do, no round trip. When the store vouched for them is
 * kept on the call: the forward sends it only shortly after (sendable.ts), and a call that waited for
 * a connection renews once more when it gets one (forward.ts), since Redis may have lost them meanwhile.
 */
export async function renewHeldLeases(ctx: CallContext, deps: PipelineDeps): Promise<Denial | undefined> {
  const held = ctx.leases;
  if (held === null) return undefined;
  const span = startChildSpan(ctx.span, 'keybrake.lease');
  const ttlMs = deps.leaseTtlMs ?? FALLBACK_LEASE_TTL_MS;
  // Read before the round trip: the store counts the TTL from later, so this errs early.
  const from = deps.clock.now();
  try {
    const result = await deps.counters.renewLeases(held, ttlMs);
    if (result.ok) {
      ctx.leasesConfirmedAt = from;
      return undefined;
    }
    return deny(
      'object_busy',
      `This call's lock on ${result.lost} was lost before the call could be sent (it expired while Keybrake looked up the price or waited for a connection, or the counter store lost it), so it was not sent; retry shortly.`,
    );
  } catch (err) {
    return leaseStoreFailed(err, deps);
  } finally {
    span.end();
  }
}

/** Fail closed: without its leases a looked-up price could be raced. */
export function leaseStoreFailed(err: unknown, deps: PipelineDeps): Denial {
  deps.metrics.counterStoreErrors.inc();
  if (!(err instanceof CounterStoreUnavailableError))
    deps.log.error({ err: errorText(err) }, 'counter store failed');
  return deny('counter_store_unavailable');
}

const accounts = new WeakMap<UpstreamCredential, string>();

/**
 * The vendor and a digest of the upstream credential's identity (the secret of a bearer key, the
 * account SID of a Twilio credential), so every vault key and every replica holding the same upstream
 * credential meet on the same leases, and no other tenant's. The lease account of a vendor whose keys
 * do not say their account (Stripe) is the account instead (lease-account.ts, fourteenth round); this
 * digest still scopes what its lookups learnt (price.ts linkScope) and names its key there.
 * Compiled keys are immutable and live as long as their snapshot, so the digest is kept per object.
 */
export function leaseAccount(vendor: VendorName, credential: UpstreamCredential): string {
  let account = accounts.get(credential);
  if (account === undefined) {
    const identity =
      credential.kind === 'bearer'
        ? `bearer\0${credential.token}`
        : `account\0${credential.accountSid ?? credential.username}`;
    const digest = createHash('sha256').update(`${vendor}\0${identity}`).digest('hex').slice(0, 32);
    account = `${vendor}:${digest}`;
    accounts.set(credential, account);
  }
  return account;
}

/**
 * One spelling per object: a path segment the vendor will percent-decode is decoded here too, and
 * case is folded (ids that differ only in case then share a lease: over-locking, never a gap).
 * Undefined for a malformed escape, an empty id, or a UUID in any spelling but the canonical one.
 */
export function canonicalObject(id: string): string | undefined {
  let decoded = id;
  if (id.includes('%')) {
    try {
      decoded = decodeURIComponent(id);
    } catch {
      // Not reached behind the route stage, which refuses a malformed escape first (tenth round);
      // kept so that this function, judged on its own, fails closed too.
      return undefined;
    }
  }
  const object = decoded.toLowerCase();
  return object.length === 0 || isOtherUuidSpelling(object) ? undefined : object;
}

const CANONICAL_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * A UUID written another way than 8-4-4-4-12: Postgres (behind Resend's ids) also reads it without
 * hyphens, in braces, or with a hyphen after any group of four digits, so a probe leased
 * `4f8b2d1e9c3a…` while a send held `4f8b2d1e-9c3a-…`. Refused rather than mapped, so no reader's
 * rules have to be matched: 32 hex digits among hyphens, braces and blanks only. No Stripe id (`xx_`
 * prefix) or Twilio SID (34 characters) looks like one.
 */
function isOtherUuidSpelling(id: string): boolean {
  return /^[0-9a-f{}\s-]+$/.test(id) && id.replace(/[{}\s-]/g, '').length === 32 && !CANONICAL_UUID.test(id);
}
