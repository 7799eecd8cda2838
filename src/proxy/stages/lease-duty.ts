import { type Denial, deny, type Reason } from '../../decision/reasons.ts';
import type { CallContext, PipelineDeps } from '../context.ts';
import { LEASE_BACKOFF_OBJECTS } from '../lease-backoff.ts';

/**
 * The refusals that say nothing about the key: another call's lease (or this call's, lapsed), the
 * store, the table, the process or the vendor failed. Every other refusal of a call that held leases
 * and sent nothing (a cap, an allowlist, a price that cannot be had, a rate) was the key's own call
 * refused after its lookup, and spent nothing while its leases kept every other key of the account
 * off those objects (ADR 0007 §5, sixth round).
 */
const NOT_THE_KEYS: ReadonlySet<Reason> = new Set<Reason>([
  'object_busy',
  'counter_store_unavailable',
  'policy_stale',
  'shutting_down',
  'audit_backlog',
  'upstream_unavailable',
  'upstream_timeout',
  'internal_error',
]);

/**
 * Refuses, before any lease or read, a call whose key is backed off one of `objects` on this replica
 * (lease-backoff.ts): 429 rate_limited, retryable, naming how long.
 */
export function leaseHeldOff(
  ctx: CallContext,
  deps: PipelineDeps,
  objects: readonly string[],
): Denial | undefined {
  const wait = deps.leaseBackoff!.wait(ctx.key!.uid, objects);
  if (wait === undefined) return undefined;
  const why = wait.every
    ? `this key's calls on more than ${LEASE_BACKOFF_OBJECTS} objects were refused after their price lookups, the last on ${wait.object}, so it may lease no object on this proxy`
    : `this key's last call on ${wait.object} was refused after its price lookup, having held ${wait.object} while spending nothing, so it may not lease ${wait.object} on this proxy`;
  return deny('rate_limited', `Keybrake: ${why} for ${wait.ms} ms more; retry after ${wait.ms} ms.`);
}

/**
 * Tells the backoff how a call that held leases ended, before they are released: refused after its
 * lookup for a reason of its own, unsent, its objects back off further; forwarded and taken by the
 * vendor (below 400), they start over. A vendor's refusal changes neither.
 */
export function noteLeaseOutcome(ctx: CallContext, deps: PipelineDeps, reason: Reason): void {
  const held = ctx.leases;
  if (held === null || ctx.key === null) return;
  if (reason === 'ok') {
    if (ctx.upstream !== null && ctx.upstream.status < 400)
      deps.leaseBackoff!.passed(ctx.key.uid, held.objects);
    return;
  }
  if (!ctx.sent && !NOT_THE_KEYS.has(reason)) deps.leaseBackoff!.refused(ctx.key.uid, held.objects);
}
