import { deny } from '../../decision/reasons.ts';
import type { Stage } from '../context.ts';

/**
 * Fail closed on an old policy table (DESIGN.md §3): a revocation may not have reached this replica,
 * so money-moving calls wait for a fresh snapshot; reads go on.
 */
export const staleness: Stage = (ctx, deps) => {
  const age = deps.snapshots.ageMs();
  if (
    ctx.op!.movesMoney &&
    deps.maxStalenessMs !== undefined &&
    (age === undefined || age > deps.maxStalenessMs)
  ) {
    return deny(
      'policy_stale',
      `The policy snapshot is ${Math.round((age ?? 0) / 1000)} s old; money-moving calls are paused until it is refreshed.`,
    );
  }
  return undefined;
};
