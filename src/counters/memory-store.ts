import type { Clock } from '../clock.ts';
import type { MicroUsd } from '../money/micro-usd.ts';
import {
  counterKey,
  DEFAULT_IDEMPOTENCY_TTL_SECONDS,
  idempotencyRecordKey,
  LAST_USED_TTL_SECONDS,
  lastUsedKey,
  leaseKey,
} from './keys.ts';
import type {
  CounterStore,
  HeldLeases,
  LeaseRequest,
  LeaseResult,
  Reservation,
  ReserveRequest,
  ReserveResult,
} from './store.ts';
import {
  assertEpochMs,
  assertFingerprint,
  assertLeases,
  assertMicros,
  assertRateWindow,
  assertWindow,
  distinctObjects,
  isMoneyWindow,
} from './validate.ts';

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
  /** String values: idempotency fingerprints and lease tokens. */
  readonly #records = new Map<string, { value: string; expiresAt: number }>();
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
    const idem = req.idempotency;
    if (idem) assertFingerprint(idem.fingerprint);
    const now = this.#clock.now();
    const idemKey = idem === undefined ? undefined : idempotencyRecordKey(req.scope, idem.key);
    const recorded = idemKey === undefined ? undefined : this.#record(idemKey, now);
    // Only the same call is a replay; a key reused for another call is counted like any new call.
    const replay = recorded !== undefined && recorded === idem?.fingerprint;
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
    // The first call's record stands: a different call under its key does not replace it.
    if (idem !== undefined && idemKey !== undefined && recorded === undefined && money.length > 0) {
      const ttl = idem.ttlSeconds ?? DEFAULT_IDEMPOTENCY_TTL_SECONDS;
      this.#records.set(idemKey, { value: idem.fingerprint, expiresAt: now + ttl * 1000 });
      return {
        ok: true,
        replay: false,
        reservation: {
          scope: req.scope,
          money,
          idempotency: { key: idem.key, fingerprint: idem.fingerprint },
        },
      };
    }
    return { ok: true, replay: false, reservation: { scope: req.scope, money } };
  }

  async settle(reservation: Reservation, actual: MicroUsd): Promise<void> {
    assertMicros(actual, 'actual');
    const now = this.#clock.now();
    const idem = reservation.idempotency;
    if (actual === 0 && idem !== undefined) {
      // Compare-and-delete, like settle.lua: only the record this reservation wrote.
      const key = idempotencyRecordKey(reservation.scope, idem.key);
      if (this.#record(key, now) === idem.fingerprint) this.#records.delete(key);
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

  async acquireLeases(req: LeaseRequest): Promise<LeaseResult> {
    for (const w of req.windows) assertRateWindow(w);
    assertEpochMs(req.now);
    const leases = req.leases && { ...req.leases, objects: distinctObjects(req.leases.objects) };
    if (leases) assertLeases(leases);
    const now = this.#clock.now();
    // Like acquire.lua: the rate first (a refusal writes nothing), then the leases, all or none.
    for (const w of req.windows) {
      const used = this.#live(counterKey(req.scope, w.bucket), now)?.value ?? 0;
      if (used + w.amount > w.limit) return { ok: false, refused: w.kind, used, limit: w.limit };
    }
    for (const w of req.windows) this.#add(counterKey(req.scope, w.bucket), w.amount, w.ttlSeconds, now);
    if (req.windows.length > 0) this.#touch(req.scope, req.now, now);
    if (!leases) return { ok: true };
    const keys = leases.objects.map((o) => leaseKey(leases.account, o));
    const busy = keys.findIndex((k) => this.#record(k, now) !== undefined);
    if (busy !== -1) return { ok: false, busy: leases.objects[busy]! };
    for (const k of keys) this.#records.set(k, { value: leases.token, expiresAt: now + leases.ttlMs });
    return { ok: true, held: { account: leases.account, objects: leases.objects, token: leases.token } };
  }

  async releaseLeases(held: HeldLeases): Promise<void> {
    const now = this.#clock.now();
    for (const o of distinctObjects(held.objects)) {
      const key = leaseKey(held.account, o);
      if (this.#record(key, now) === held.token) this.#records.delete(key);
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
    for (const [k, e] of this.#records) if (e.expiresAt <= now) this.#records.delete(k);
  }

  /** Number of live and not yet swept entries (tests check that expiry reclaims memory). */
  get size(): number {
    return this.#entries.size + this.#records.size;
  }

  #live(key: string, now: number): Entry | undefined {
    const e = this.#entries.get(key);
    if (e && e.expiresAt <= now) {
      this.#entries.delete(key);
      return undefined;
    }
    return e;
  }

  /** An idempotency fingerprint or a lease token, unless expired. */
  #record(key: string, now: number): string | undefined {
    const e = this.#records.get(key);
    if (e && e.expiresAt <= now) {
      this.#records.delete(key);
      return undefined;
    }
    return e?.value;
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
