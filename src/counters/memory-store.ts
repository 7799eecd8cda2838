import type { Clock } from '../clock.ts';
import type { MicroUsd } from '../money/micro-usd.ts';
import {
  counterKey,
  DEFAULT_IDEMPOTENCY_TTL_SECONDS,
  idempotencyRecordKey,
  LAST_USED_TTL_SECONDS,
  lastUsedKey,
} from './keys.ts';
import type { CounterStore, Reservation, ReserveRequest, ReserveResult } from './store.ts';
import { assertEpochMs, assertMicros, assertWindow, isMoneyWindow } from './validate.ts';

interface Entry {
  value: number;
  expiresAt: number;
}

/** Options of the in-process store; the sweep only reclaims memory, expiry is also checked on read. */
export interface MemoryCounterStoreOptions {
  readonly clock: Clock;
  /** How often expired entries are dropped (ms); 0 disables the timer (tests). Default 60 s. */
  readonly sweepIntervalMs?: number;
}

/**
 * The counters of one process (`keybrake serve` without --redis). Atomic because every method runs
 * its check and its update without an await in between, so no other call can interleave. Same key
 * names and semantics as the Redis store, so tests of one describe the other.
 */
export class MemoryCounterStore implements CounterStore {
  readonly #clock: Clock;
  readonly #entries = new Map<string, Entry>();
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(opts: MemoryCounterStoreOptions) {
    this.#clock = opts.clock;
    const every = opts.sweepIntervalMs ?? 60_000;
    if (every > 0) {
      this.#timer = setInterval(() => this.sweep(), every);
      this.#timer.unref();
    }
  }

  async reserve(req: ReserveRequest): Promise<ReserveResult> {
    // Like the Redis store: a call with no window touches nothing, not even its last use.
    if (req.windows.length === 0)
      return { ok: true, replay: false, reservation: { scope: req.scope, money: [] } };
    for (const w of req.windows) assertWindow(w);
    assertEpochMs(req.now);
    const now = this.#clock.now();
    const idemKey =
      req.idempotencyKey === undefined ? undefined : idempotencyRecordKey(req.scope, req.idempotencyKey);
    const replay = idemKey !== undefined && this.#live(idemKey, now) !== undefined;
    // A replay still counts towards the call rate; only the money was already reserved.
    const apply = replay ? req.windows.filter((w) => !isMoneyWindow(w)) : req.windows;

    for (const w of apply) {
      const used = this.#live(counterKey(req.scope, w.bucket), now)?.value ?? 0;
      if (used + w.amount > w.limit) return { ok: false, refused: w.kind, used, limit: w.limit };
    }
    for (const w of apply) this.#add(counterKey(req.scope, w.bucket), w.amount, w.ttlSeconds, now);
    this.#touch(req.scope, req.now, now);

    if (replay) return { ok: true, replay: true, reservation: { scope: req.scope, money: [] } };
    const money = req.windows
      .filter(isMoneyWindow)
      .map((w) => ({ bucket: w.bucket, amount: w.amount, ttlSeconds: w.ttlSeconds }));
    let idempotencyKey: string | undefined;
    if (idemKey !== undefined && money.length > 0) {
      const ttl = req.idempotencyTtlSeconds ?? DEFAULT_IDEMPOTENCY_TTL_SECONDS;
      this.#entries.set(idemKey, { value: 1, expiresAt: now + ttl * 1000 });
      idempotencyKey = req.idempotencyKey;
    }
    const reservation: Reservation =
      idempotencyKey === undefined
        ? { scope: req.scope, money }
        : { scope: req.scope, money, idempotencyKey };
    return { ok: true, replay: false, reservation };
  }

  async settle(reservation: Reservation, actual: MicroUsd): Promise<void> {
    assertMicros(actual, 'actual');
    const now = this.#clock.now();
    if (actual === 0 && reservation.idempotencyKey !== undefined) {
      this.#entries.delete(idempotencyRecordKey(reservation.scope, reservation.idempotencyKey));
    }
    for (const m of reservation.money) {
      const delta = actual - m.amount;
      const key = counterKey(reservation.scope, m.bucket);
      if (delta > 0) this.#add(key, delta, m.ttlSeconds, now);
      else if (delta < 0) {
        const e = this.#live(key, now);
        if (e) e.value = Math.max(0, e.value + delta);
      }
    }
  }

  async used(scope: string, bucket: string): Promise<number> {
    return this.#live(counterKey(scope, bucket), this.#clock.now())?.value ?? 0;
  }

  async lastUsed(scope: string): Promise<number | undefined> {
    return this.#live(lastUsedKey(scope), this.#clock.now())?.value;
  }

  available(): boolean {
    return true;
  }

  async healthy(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Drops every expired entry (the periodic timer calls this; tests may too). */
  sweep(): void {
    const now = this.#clock.now();
    for (const [k, e] of this.#entries) if (e.expiresAt <= now) this.#entries.delete(k);
  }

  /** Number of live and not yet swept entries (tests check that expiry reclaims memory). */
  get size(): number {
    return this.#entries.size;
  }

  #live(key: string, now: number): Entry | undefined {
    const e = this.#entries.get(key);
    if (e && e.expiresAt <= now) {
      this.#entries.delete(key);
      return undefined;
    }
    return e;
  }

  // Like reserve.lua: the latest call time wins (replicas' clocks differ a little), the TTL is refreshed.
  #touch(scope: string, callTime: number, now: number): void {
    const key = lastUsedKey(scope);
    const value = Math.max(this.#live(key, now)?.value ?? 0, callTime);
    this.#entries.set(key, { value, expiresAt: now + LAST_USED_TTL_SECONDS * 1000 });
  }

  // Like INCRBY + "EXPIRE only when new" in the Redis script: the first write fixes the expiry.
  #add(key: string, amount: number, ttlSeconds: number, now: number): void {
    const e = this.#live(key, now);
    if (e) e.value += amount;
    else this.#entries.set(key, { value: amount, expiresAt: now + ttlSeconds * 1000 });
  }
}
