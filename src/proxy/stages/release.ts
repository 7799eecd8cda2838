import type { CallContext, PipelineDeps } from '../context.ts';
import { errorText } from '../error-text.ts';

/**
 * The step after settle that every call goes through, whichever stage stopped it (like audit): it
 * gives back the leases the lease stage took (ADR 0007 §5). A call that was sent upstream and got no
 * answer (a timeout, a dropped connection) keeps them: the vendor may still act, so they expire by
 * their TTL (upstream timeout + margin) instead. Never throws; a failed release also leaves the
 * leases to their TTL (later calls on those objects meet object_busy, which is retryable).
 */
export async function release(ctx: CallContext, deps: PipelineDeps): Promise<void> {
  const held = ctx.leases;
  if (held === null || (ctx.sent && ctx.upstream === null)) return;
  ctx.leases = null;
  try {
    await deps.counters.releaseLeases(held);
  } catch (err) {
    deps.metrics.counterStoreErrors.inc();
    deps.log.warn({ err: errorText(err) }, 'could not release leases; they expire by their TTL');
  }
}
