import { dayBucket, monthBucket } from '../../counters/windows.ts';
import { type Denial, deny } from '../../decision/reasons.ts';
import type { CallContext, PipelineDeps } from '../context.ts';
import { FALLBACK_LEASE_TTL_MS, LEASE_UNCONFIRMED_MS } from './lease.ts';
import { revalidate } from './revalidate.ts';

/**
 * The forward stage's last word on a call, asked when undici hands it to a connection, the moment
 * before a byte of it is written (ForwardRequest.admit). Every connection of a pool may be busy, and
 * an agent can keep them so with its own slow free reads, so a call may wait there while what
 * admitted it lapses: a probe had a confirm sent 16.5 s after its lease renewal, after another
 * replica had raised the amount it was priced from; a run key's charge sent 9.8 s after its run was
 * stopped (ADR 0007 §8, fifth round). Synchronous and without I/O: it runs inside undici's dispatch.
 *
 * The call is sent only while, judged again from what this replica knows now:
 *   - the counter store vouched for its leases at most LEASE_UNCONFIRMED_MS ago (a call that waited
 *     for its key's turn asked it again when the turn came: forward.ts), so a lease Redis lost before
 *     its TTL leaves only that long for another call to change what it was priced from (ninth round);
 *   - its leases outlast its answer (`answerMs`, the upstream timeout), so no other call can change
 *     what it was priced from before the vendor acts on it;
 *   - its credential and policy are those it was judged under (the revalidate stage: key removed,
 *     suspended, expired or re-minted; policy changed; run key expired or its run stopped);
 *   - the calendar day and month it was counted in have not ended in the policy's time zone.
 */
export function sendable(ctx: CallContext, deps: PipelineDeps, answerMs: number): Denial | undefined {
  const now = deps.clock.now();
  if (ctx.leases !== null) {
    const lapsed = leasesLapsed(ctx, deps, now, answerMs);
    if (lapsed !== undefined) return lapsed;
  }
  const changed = revalidate(ctx, deps);
  if (changed !== undefined) return changed;
  return counted(ctx, now) ? undefined : nextPeriod();
}

/** Why the call's leases no longer cover its sending, if they do not. */
function leasesLapsed(
  ctx: CallContext,
  deps: PipelineDeps,
  now: number,
  answerMs: number,
): Denial | undefined {
  const unconfirmed = now - ctx.leasesConfirmedAt;
  if (unconfirmed > LEASE_UNCONFIRMED_MS) {
    return deny(
      'object_busy',
      `This call waited ${unconfirmed} ms for an upstream connection after the counter store last confirmed its lock on the object, longer than the ${LEASE_UNCONFIRMED_MS} ms Keybrake trusts a lock unconfirmed, so it was not sent; retry shortly.`,
    );
  }
  if (now + answerMs > ctx.leasesConfirmedAt + (deps.leaseTtlMs ?? FALLBACK_LEASE_TTL_MS)) {
    return deny(
      'object_busy',
      'This call waited for an upstream connection until its lock on the object could lapse before the vendor answers, so it was not sent; retry shortly.',
    );
  }
  return undefined;
}

/** Whether the day and month windows the call's money was counted in are still the current ones. */
function counted(ctx: CallContext, now: number): boolean {
  const money = ctx.reservation?.money;
  if (money === undefined) return true;
  const tz = ctx.key!.policy.timezone;
  for (const w of money) {
    if (w.bucket.startsWith('day:') && w.bucket !== dayBucket(now, tz)) return false;
    if (w.bucket.startsWith('month:') && w.bucket !== monthBucket(now, tz)) return false;
  }
  return true;
}

function nextPeriod(): Denial {
  return deny(
    'upstream_unavailable',
    "This call waited for an upstream connection past the end of the day it was counted in (in the policy's time zone), so it was not sent; retry it to have it counted in the new day.",
  );
}
