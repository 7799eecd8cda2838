import type { WindowSpec } from './store.ts';

/** Money windows are settled and skipped on replay; the minute window is a call count, never refunded. */
export function isMoneyWindow(w: WindowSpec): boolean {
  return w.kind !== 'minute';
}

/** Counter arithmetic is exact only on non-negative safe integers; anything else is a caller bug. */
export function assertMicros(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new RangeError(`counter ${what} must be a non-negative safe integer`);
}

/** Rejects a window the stores could not count exactly (a caller bug, never a policy outcome). */
export function assertWindow(w: WindowSpec): void {
  assertMicros(w.amount, 'amount');
  assertMicros(w.limit, 'limit');
  if (!Number.isSafeInteger(w.ttlSeconds) || w.ttlSeconds <= 0) {
    throw new RangeError('counter window ttlSeconds must be a positive integer');
  }
}

/** The call's time becomes a stored integer (status.lastUsedAt); a fraction or NaN is a caller bug. */
export function assertEpochMs(now: number): void {
  if (!Number.isSafeInteger(now) || now < 0) throw new RangeError('reserve now must be epoch milliseconds');
}
