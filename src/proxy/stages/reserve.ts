import type { IncomingHttpHeaders } from 'node:http';
import type { Clock } from '../../clock.ts';
import {
  type CounterStore,
  CounterStoreUnavailableError,
  type ReserveResult,
  type WindowKind,
} from '../../counters/store.ts';
import { windowsFor } from '../../counters/windows.ts';
import { type Denial, type DenyReason, deny, isDenial } from '../../decision/reasons.ts';
import { formatUsd } from '../../money/micro-usd.ts';
import type { CompiledKey } from '../../snapshot/types.ts';
import { startChildSpan } from '../../telemetry/tracing.ts';
import type { CallContext, PipelineDeps } from '../context.ts';
import { errorText } from '../error-text.ts';

const REFUSAL: Record<WindowKind, DenyReason> = {
  minute: 'rate_limited',
  day: 'daily_cap_exceeded',
  month: 'monthly_cap_exceeded',
  run: 'run_cap_exceeded',
};

const WINDOW_NAME: Record<WindowKind, string> = {
  minute: 'per-minute request limit',
  day: 'daily spend cap',
  month: 'monthly spend cap',
  run: 'spend cap for this run',
};

/** Idempotency records live as long as Stripe keeps its own (24 h). */
export const IDEMPOTENCY_TTL_SECONDS = 24 * 60 * 60;

/** Reserves every window of a call in one store operation; a refusal names the window. */
export async function reserveWindows(
  store: CounterStore,
  key: CompiledKey,
  costMicros: number,
  runId: string | undefined,
  idempotencyKey: string | undefined,
  clock: Clock,
): Promise<Extract<ReserveResult, { ok: true }> | Denial> {
  const now = clock.now();
  const windows = windowsFor(key.policy, costMicros, now, runId);
  if (windows.length === 0) {
    // Nothing to count, but a policy may still want reads refused while the store is down.
    if (!key.policy.readsWhenStoreDown && !store.available()) {
      throw new CounterStoreUnavailableError('counter store is down and this policy refuses reads meanwhile');
    }
    return { ok: true, reservation: { scope: key.uid, money: [] }, replay: false };
  }
  const result = await store.reserve({
    scope: key.uid,
    windows,
    now,
    ...(idempotencyKey !== undefined && costMicros > 0
      ? { idempotencyKey, idempotencyTtlSeconds: IDEMPOTENCY_TTL_SECONDS }
      : {}),
  });
  if (result.ok) return result;
  const what = WINDOW_NAME[result.refused];
  const detail =
    result.refused === 'minute'
      ? `${what} of ${result.limit} reached`
      : `${what} of $${formatUsd(result.limit)} would be exceeded ($${formatUsd(result.used)} used, this call $${formatUsd(costMicros)})`;
  return deny(REFUSAL[result.refused], `Keybrake: ${detail}.`);
}

/**
 * The reserve stage: one store operation over every window. Fail closed for anything that moves
 * money; a read may go on without counters when its policy allows.
 */
export async function reserve(ctx: CallContext, deps: PipelineDeps): Promise<Denial | undefined> {
  const key = ctx.key!;
  const op = ctx.op!;
  const span = startChildSpan(ctx.span, 'keybrake.reserve');
  try {
    const reserved = await reserveWindows(
      deps.counters,
      key,
      op.costMicros,
      ctx.runId ?? undefined,
      idempotencyKey(ctx.call.headers),
      deps.clock,
    );
    if (isDenial(reserved)) return reserved;
    // A replay was counted the first time: nothing to count now, nothing to settle later.
    if (!reserved.replay) {
      ctx.reservation = reserved.reservation;
      ctx.countedMicros = op.costMicros;
    }
  } catch (err) {
    deps.metrics.counterStoreErrors.inc();
    if (!(err instanceof CounterStoreUnavailableError))
      deps.log.error({ err: errorText(err) }, 'counter store failed');
    if (op.movesMoney || op.costMicros > 0 || !key.policy.readsWhenStoreDown) {
      return deny('counter_store_unavailable');
    }
  } finally {
    span.end();
  }
  return undefined;
}

/** The caller's Idempotency-Key, when it is one a store may keep. */
function idempotencyKey(headers: IncomingHttpHeaders): string | undefined {
  const v = headers['idempotency-key'];
  return typeof v === 'string' && v.length > 0 && v.length <= 255 ? v : undefined;
}
