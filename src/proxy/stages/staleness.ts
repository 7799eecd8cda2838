import { deny } from '../../decision/reasons.ts';
import type { Stage } from '../context.ts';
import { isPlainRead } from '../plain-read.ts';

/**
 * Fail closed on an old policy table (DESIGN.md §3, ADR 0005): a revocation may not have reached
 * this replica, so only reads go on until a fresh snapshot arrives. Any other call, a free write or
 * a delete too, could be a revoked key's, and what it changes cannot be taken back.
 */
export const staleness: Stage = (ctx, deps) => {
  if (deps.maxStalenessMs === undefined) return undefined;
  const age = deps.snapshots.ageMs();
  if (age !== undefined && age <= deps.maxStalenessMs) return undefined;
  if (isPlainRead(ctx.op!)) return undefined;
  const how =
    age === undefined || Number.isFinite(age)
      ? `is ${Math.round((age ?? 0) / 1000)} s old`
      : 'is vouched for as current by no operator';
  return deny('policy_stale', `The policy snapshot ${how}; only reads go on until it is refreshed.`);
};
