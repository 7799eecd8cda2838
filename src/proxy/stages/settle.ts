import type { Reservation } from '../../counters/store.ts';
import type { MicroUsd } from '../../money/micro-usd.ts';
import type { Operation, VendorAdapter } from '../../vendors/types.ts';
import type { CallContext, PipelineDeps, Stage } from '../context.ts';
import { errorText } from '../error-text.ts';
import { parseJson } from '../parse-json.ts';
import type { UpstreamResponse } from '../upstreams.ts';

/** Keep, adjust to the actual amount, or release when the vendor provably did nothing (4xx). */
export const settle: Stage = (ctx, deps) =>
  ctx.reservation ? settleReservation(ctx, deps, ctx.reservation) : undefined;

/**
 * What the call cost: nothing when the vendor refused it, what the vendor reports, else what was
 * reserved. Only a call that moves money is settled from its answer (VendorAdapter.settle), so a
 * read's body is never parsed here.
 */
function actualCost(adapter: VendorAdapter, op: Operation, res: UpstreamResponse): MicroUsd {
  if (res.status >= 400 && res.status < 500) return 0;
  if (op.movesMoney && res.status >= 200 && res.status < 300)
    return adapter.settle(op, res.status, parseJson(res.body)) ?? op.costMicros;
  return op.costMicros;
}

async function settleReservation(
  ctx: CallContext,
  deps: PipelineDeps,
  reservation: Reservation,
): Promise<undefined> {
  await settleTo(ctx, deps, reservation, actualCost(ctx.adapter!, ctx.op!, ctx.upstream!));
  return undefined;
}

/**
 * Adjusts a reservation to what the call cost, and records that as counted: also for a call that
 * never left the proxy (forward.ts settles it to 0).
 */
export async function settleTo(
  ctx: CallContext,
  deps: PipelineDeps,
  reservation: Reservation,
  actual: MicroUsd,
): Promise<void> {
  const reserved = ctx.op!.costMicros;
  // A key without spend caps has no money window to adjust, but its calls still cost what they cost.
  if (actual === reserved || reservation.money.length === 0) {
    ctx.countedMicros = actual;
    return;
  }
  try {
    // Kept: a replay admitted while this call was in flight may have moved what this call did not.
    const outcome = await deps.counters.settle(reservation, actual);
    ctx.countedMicros = outcome === 'kept' ? reserved : actual;
  } catch (err) {
    // Failing to release over-counts, which is the safe side; the reservation stands.
    deps.metrics.counterStoreErrors.inc();
    deps.log.warn({ err: errorText(err) }, 'could not settle a reservation; it stays counted');
    ctx.countedMicros = reserved;
  }
}
