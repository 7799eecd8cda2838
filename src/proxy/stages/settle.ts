import type { Reservation } from '../../counters/store.ts';
import { windowsFor } from '../../counters/windows.ts';
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
  if (actual === reserved) {
    ctx.countedMicros = actual;
    return;
  }
  // No money window was reserved: either the key has no spend caps (nothing to adjust, but its calls
  // still cost what they cost), or the call was reserved at $0 (windowsFor raises no money window
  // for $0) and the vendor's answer says it moved more. That spend is counted in the windows it
  // would have been reserved in, now (the caps see it, as they see any settle above a reservation),
  // so what the audit record and keybrake_spend_usd_total report is what the caps counted. Found by
  // an adversarial probe (thirteenth round): a Stripe call reserved at $0 settled at $500.00 was
  // reported spent and counted against no cap.
  const settling =
    reservation.money.length > 0
      ? reservation
      : actual > reserved
        ? fromNothing(ctx, deps, reservation, actual)
        : undefined;
  if (settling === undefined) {
    ctx.countedMicros = actual;
    return;
  }
  try {
    // Kept: a replay admitted while this call was in flight may have moved what this call did not.
    const outcome = await deps.counters.settle(settling, actual);
    ctx.countedMicros = outcome === 'kept' ? reserved : actual;
  } catch (err) {
    // Failing to release over-counts, which is the safe side; the reservation stands (and what it
    // counted is reported: for a $0 reservation, nothing).
    deps.metrics.counterStoreErrors.inc();
    deps.log.warn({ err: errorText(err) }, 'could not settle a reservation; it stays counted');
    ctx.countedMicros = reserved;
  }
}

/**
 * A reservation of $0 in each money window a call costing `actual` is counted in (windowsFor: the
 * key's day and month caps, its run's window), for a call that reserved none and settles above $0;
 * undefined when there is none (a key without spend caps). Settling it adds `actual` to each; it
 * names no epoch, so a store that lost its windows counts `actual` too.
 */
function fromNothing(
  ctx: CallContext,
  deps: PipelineDeps,
  reservation: Reservation,
  actual: MicroUsd,
): Reservation | undefined {
  const runKey = ctx.runKey ?? undefined;
  const windows = windowsFor(
    ctx.key!.policy,
    actual,
    deps.clock.now(),
    ctx.runId ?? undefined,
    runKey && { capMicros: runKey.capMicros },
  ).filter((w) => w.kind !== 'minute');
  if (windows.length === 0) return undefined;
  return {
    scope: reservation.scope,
    money: windows.map((w) => ({ bucket: w.bucket, amount: 0, ttlSeconds: w.ttlSeconds })),
  };
}
