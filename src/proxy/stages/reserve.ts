import type { Clock } from '../../clock.ts';
import {
  type CounterStore,
  CounterStoreUnavailableError,
  type ReserveResult,
  type WindowKind,
} from '../../counters/store.ts';
import { windowsFor } from '../../counters/windows.ts';
import { type Denial, type DenyReason, deny } from '../../decision/reasons.ts';
import { formatUsd } from '../../money/micro-usd.ts';
import type { CompiledKey } from '../../snapshot/types.ts';

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
export async function reserve(
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
