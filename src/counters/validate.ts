import { isSharedLease, leasedObject } from '../lease-names.ts';
import { LEASE_ACCOUNT, MAX_LEASES_PER_CALL } from './keys.ts';
import type { LeaseSpec, WindowSpec } from './store.ts';

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

/** A fingerprint is a non-empty short string (the pipeline sends sha256 hex). */
export function assertFingerprint(fingerprint: string): void {
  if (typeof fingerprint !== 'string' || fingerprint.length === 0 || fingerprint.length > 128) {
    throw new RangeError('idempotency fingerprint must be a non-empty string of at most 128 characters');
  }
}

const LEASE_TOKEN = /^[A-Za-z0-9_-]{8,128}$/;

/** Leases the stores could not key or expire safely are a caller bug, never a policy outcome. */
export function assertLeases(leases: LeaseSpec): void {
  if (!LEASE_ACCOUNT.test(leases.account))
    throw new RangeError('lease account must be <vendor>:<hex digest>');
  if (leases.objects.length === 0 || leases.objects.length > MAX_LEASES_PER_CALL) {
    throw new RangeError(`a call takes 1 to ${MAX_LEASES_PER_CALL} leases`);
  }
  for (const o of leases.objects) {
    if (typeof o !== 'string' || o.length === 0) throw new RangeError('lease object ids must be non-empty');
  }
  if (!LEASE_TOKEN.test(leases.token))
    throw new RangeError('lease token must be 8 to 128 URL-safe characters');
  if (!Number.isSafeInteger(leases.ttlMs) || leases.ttlMs <= 0) {
    throw new RangeError('lease ttlMs must be a positive integer');
  }
}

/** A money window checked before a lookup (`LeaseRequest.ceilings`): never a call-rate window. */
export function assertCeiling(w: WindowSpec): void {
  assertWindow(w);
  if (!isMoneyWindow(w)) throw new RangeError('only money windows are checked as ceilings');
}

/** Windows counted with leases are call-rate windows: money is reserved once the price is known. */
export function assertRateWindow(w: WindowSpec): void {
  assertWindow(w);
  if (isMoneyWindow(w)) throw new RangeError('only call-rate windows are counted with leases');
}

/**
 * The distinct leases of a call, in first-seen order (a refund may name one object twice). An object
 * the call names both ways is taken exclusive only: the call would otherwise wait for itself.
 */
export function distinctObjects(objects: readonly string[]): string[] {
  const distinct = new Set(objects);
  return [...distinct].filter((o) => !(isSharedLease(o) && distinct.has(leasedObject(o))));
}
