import { type Denial, deny, isDenial } from '../../decision/reasons.ts';
import type { CallContext, PipelineDeps } from '../context.ts';
import { stopRefusal } from '../runs.ts';
import { findCaller } from './authenticate.ts';
import { expiredKey } from './expired-key.ts';

/**
 * The caller's credential, judged again just before anything is counted and forwarded. A call may
 * spend a while between authenticate and here (a price lookup: up to --upstream-timeout per read,
 * a chain of them), and meanwhile its run key or key may expire, its run be stopped, or its key be
 * suspended, deleted or re-minted (a probe had a run key's confirm forwarded 2 s after the key had
 * expired). With the table authenticate used still in force, only the clock and the stopped runs
 * can have changed; a new table is asked again, the one SHA-256 a lookup does.
 *
 * A new table may also hold a new policy for the key: the checks behind the call (caps, allowlists,
 * endpoints) were made under the old one, and reserve would count under its limits (a fourth-round
 * probe lowered a day cap while a broadcast's recipients were read, and the send went out under the
 * old cap). An unchanged policy keeps its object from table to table (a delta carries only the
 * policies that changed), so a different object is a changed (or rebuilt) policy: the call is refused as `policy_stale`, retryable, and is
 * judged whole under the new policy when it is sent again.
 *
 * Synchronous, without I/O: the forward asks it once more when the call gets a connection (sendable.ts).
 */
export function revalidate(ctx: CallContext, deps: PipelineDeps): Denial | undefined {
  const key = ctx.key!;
  const now = deps.clock.now();
  const table = deps.snapshots.current;
  if (table !== ctx.table) {
    const caller = table && findCaller(ctx.adapter!, ctx.call.headers, table, now, deps.stoppedRuns);
    if (!caller || isDenial(caller) || caller.key.uid !== key.uid) return deny('key_unknown');
    if (caller.refused) return caller.refused;
    if (caller.key.policy !== key.policy)
      return deny(
        'policy_stale',
        "The key's policy changed while this call was being priced; nothing was forwarded. Retry it: it is judged under the new policy.",
      );
    return undefined;
  }
  if (key.expiresAt !== undefined && now >= key.expiresAt) return expiredKey(key.expiresAt);
  const run = ctx.runKey;
  if (run) {
    if (now >= run.expiresAt) return deny('key_expired', 'This Keybrake run key has expired.');
    const stopped = stopRefusal(deps.stoppedRuns, key.uid, run.runId, now);
    if (stopped) return stopped;
  }
  return undefined;
}
