import type { Clock } from '../clock.ts';
import { isSharedLease, leasedObject } from '../lease-names.ts';
import type { MicroUsd } from '../money/micro-usd.ts';
import {
  counterKey,
  DEFAULT_IDEMPOTENCY_TTL_SECONDS,
  idempotencyRecordKey,
  LAST_USED_TTL_SECONDS,
  lastUsedKey,
  leaseKey,
} from './keys.ts';
import {
  type CounterStore,
  CounterStoreUnavailableError,
  type HeldLeases,
  type LeaseRequest,
  type LeaseResult,
  REPLAYED_MARK,
  type RenewResult,
  type Reservation,
  type ReserveRequest,
  type ReserveResult,
  type SettleOutcome,
  type WindowSpec,
} from './store.ts';
import {
  assertCeiling,
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

interface TextEntry {
  value: string;
  expiresAt: number;
}

/**
 * Default bound of the memory store. An entry costs 150 to 300 bytes (its key, value and map slot;
 * idempotency records are the largest), so the default holds at most about 300 MiB.
 */
export const DEFAULT_MEMORY_MAX_ENTRIES = 1_000_000;

/**
 * When the store is full, expired entries are looked for at most this often: a pass over every entry
 * (about 0.1 s for a million on a busy 2-core machine), so a full store spends at most ~2 % of a core
 * on it.
 */
export const FULL_STORE_SWEEP_EVERY_MS = 5_000;

/** Options of the in-process store; the sweep only reclaims memory, expiry is also checked on read. */
export interface MemoryCounterStoreOptions {
  readonly clock: Clock;
  /** How often expired entries are dropped (ms); 0 disables the timer (tests). Default 60 s. */
  readonly sweepIntervalMs?: number;
  /**
   * Most entries held: windows, idempotency records, leases and last-use records together. Default
   * DEFAULT_MEMORY_MAX_ENTRIES. When full: expired entries go first, then last-use records, then
   * idempotency records (oldest first); a call that still needs a new window or lease fails closed
   * (CounterStoreUnavailableError). docs/counters.md, "The memory store's bound".
   */
  readonly maxEntries?: number;
}

/** What the bound has done since the store was created (keybrake_counter_store_* metrics). */
export interface MemoryCounterStoreStats {
  /** Entries held now, live or expired but not yet swept. */
  readonly entries: number;
  readonly maxEntries: number;
  /** Last-use records dropped to make room (status.lastUsedAt only: no cap is affected). */
  readonly evictedLastUse: number;
  /** Idempotency records dropped to make room: a retry of such a call is counted again. */
  readonly evictedIdempotency: number;
  /** Reserves and lease acquisitions refused because the store was full of live windows and leases. */
  readonly refusedFull: number;
}

/**
 * What a new entry may push out when the store is full, besides expired entries, from the cheapest
 * loss to the dearest: `lastUse` (for a last-use record), or `idempotency`: last-use records, then
 * idempotency records (for a window, a lease or an idempotency record).
 */
type Evictable = 'lastUse' | 'idempotency';

/**
 * The counters of one process (`keybrake serve` without --redis). Atomic because every method runs
 * its check and its update without an await in between, so no other call can interleave. Same key
 * names and semantics as the Redis store, so tests of one describe the other.
 *
 * Bounded (`maxEntries`). A live window or lease is never dropped: that could under-count, letting a
 * call past a cap or a lease. What may be dropped when full can only forget or over-count: last-use
 * records (nothing in one process reads them for a decision) and idempotency records (a retry of
 * that call is then counted again, the safe side). When that is not enough, the call that needs a
 * new window or lease is refused, fail closed, like a Redis store that cannot answer.
 */
export class MemoryCounterStore implements CounterStore {
  readonly #clock: Clock;
  readonly #maxEntries: number;
  /** Money and call-rate windows: never evicted while live. */
  readonly #windows = new Map<string, Entry>();
  /** `{vk:<uid>}:last`, in the order first written: the first to go when full. */
  readonly #lastUse = new Map<string, Entry>();
  /** Idempotency fingerprints, in the order written: evicted oldest first, after every last use. */
  readonly #idempotency = new Map<string, TextEntry>();
  /** Lease tokens: never evicted while live. */
  readonly #leases = new Map<string, TextEntry>();
  /** Shared leases (lease-names.ts), by the key of the object they guard: each holder's token and expiry. */
  readonly #shared = new Map<string, Map<string, number>>();
  #lastFullSweep = Number.NEGATIVE_INFINITY;
  #evictedLastUse = 0;
  #evictedIdempotency = 0;
  #refusedFull = 0;
  #closed = false;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(opts: MemoryCounterStoreOptions) {
    this.#clock = opts.clock;
    this.#maxEntries = opts.maxEntries ?? DEFAULT_MEMORY_MAX_ENTRIES;
    if (!Number.isSafeInteger(this.#maxEntries) || this.#maxEntries < 1)
      throw new RangeError('maxEntries must be a positive whole number');
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
    const recorded = idemKey === undefined ? undefined : this.#text(this.#idempotency, idemKey, now);
    // Only the same call is a replay; a key reused for another call is counted like any new call.
    const replayed = idem === undefined ? undefined : idem.fingerprint + REPLAYED_MARK;
    const replay = recorded !== undefined && (recorded === idem?.fingerprint || recorded === replayed);
    // A replay still counts towards the call rate; only the money was already reserved.
    const apply = replay ? req.windows.filter((w) => !isMoneyWindow(w)) : req.windows;

    for (const w of apply) {
      const used = this.#live(this.#windows, counterKey(req.scope, w.bucket), now)?.value ?? 0;
      if (used + w.amount > w.limit) return { ok: false, refused: w.kind, used, limit: w.limit };
    }
    // Room for every window this call opens, before anything is written: all or nothing.
    this.#roomForWindows(req.scope, apply, now);
    for (const w of apply) this.#add(counterKey(req.scope, w.bucket), w.amount, w.ttlSeconds, now);
    this.#touch(req.scope, req.now, now);

    if (replay) {
      // Marked, like reserve.lua: should the first call still be refused, its money stays counted.
      const record = this.#idempotency.get(flat(idemKey!));
      if (record) record.value = replayed!;
      return { ok: true, replay: true, reservation: { scope: req.scope, money: [] } };
    }
    const money = req.windows
      .filter(isMoneyWindow)
      .map((w) => ({ bucket: w.bucket, amount: w.amount, ttlSeconds: w.ttlSeconds }));
    // The first call's record stands: a different call under its key does not replace it. With no
    // room for it the call is simply not recorded: its retry is counted again (the safe side).
    if (
      idem !== undefined &&
      idemKey !== undefined &&
      recorded === undefined &&
      money.length > 0 &&
      this.#makeRoom(1, now, 'idempotency')
    ) {
      const ttl = idem.ttlSeconds ?? DEFAULT_IDEMPOTENCY_TTL_SECONDS;
      this.#idempotency.set(flat(idemKey), { value: idem.fingerprint, expiresAt: now + ttl * 1000 });
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

  async settle(reservation: Reservation, actual: MicroUsd): Promise<SettleOutcome> {
    assertMicros(actual, 'actual');
    const now = this.#clock.now();
    const idem = reservation.idempotency;
    if (actual === 0 && idem !== undefined) {
      // Compare-and-delete, like settle.lua: only the record this reservation wrote, and only while
      // it is unmarked. Marked, a replay admitted meanwhile may have moved the money this call did
      // not; gone (dropped to make room) or replaced, nobody can say that none was: nothing is
      // given back either way (over-counting, the safe side).
      const key = idempotencyRecordKey(reservation.scope, idem.key);
      if (this.#text(this.#idempotency, key, now) !== idem.fingerprint) return 'kept';
      this.#idempotency.delete(key);
    }
    for (const m of reservation.money) {
      const delta = actual - m.amount;
      const key = counterKey(reservation.scope, m.bucket);
      if (delta > 0) {
        // The call has happened: its cost is written even when the store is full (a bucket that
        // expired since the reserve comes back). At most one entry per call in flight over the bound.
        if (!this.#windows.has(key)) this.#makeRoom(1, now, 'idempotency');
        this.#add(key, delta, m.ttlSeconds, now);
      } else if (delta < 0) {
        // Like settle.lua: a window with nothing left spent is dropped, so calls the vendor refused
        // leave no entries behind (a fresh run id per refused call would fill the bound for 7 days).
        const e = this.#live(this.#windows, key, now);
        if (e && e.value + delta > 0) e.value += delta;
        else if (e) this.#windows.delete(key);
      }
    }
    return 'settled';
  }

  async acquireLeases(req: LeaseRequest): Promise<LeaseResult> {
    for (const w of req.windows) assertRateWindow(w);
    const ceilings = req.ceilings ?? [];
    for (const w of ceilings) assertCeiling(w);
    assertEpochMs(req.now);
    const leases = req.leases && { ...req.leases, objects: distinctObjects(req.leases.objects) };
    if (leases) assertLeases(leases);
    const now = this.#clock.now();
    // Like acquire.lua: the ceilings and the rate first (a refusal writes nothing), then the leases,
    // all or none.
    for (const w of [...ceilings, ...req.windows]) {
      const used = this.#live(this.#windows, counterKey(req.scope, w.bucket), now)?.value ?? 0;
      if (used + w.amount > w.limit) return { ok: false, refused: w.kind, used, limit: w.limit };
    }
    const objects = leases?.objects ?? [];
    // Like acquire.lua: an exclusive lease is busy while anyone holds it either way, a shared one
    // while someone holds it exclusive.
    const busy = objects.findIndex((o) => {
      const key = leaseKey(leases!.account, leasedObject(o));
      if (this.#text(this.#leases, key, now) !== undefined) return true;
      return !isSharedLease(o) && this.#holders(key, now) > 0;
    });
    // Room for the windows and, unless one is busy (then none is taken), every lease.
    this.#roomForWindows(req.scope, req.windows, now, busy === -1 ? objects.length : 0);
    for (const w of req.windows) this.#add(counterKey(req.scope, w.bucket), w.amount, w.ttlSeconds, now);
    if (req.windows.length > 0) this.#touch(req.scope, req.now, now);
    if (!leases) return { ok: true };
    if (busy !== -1) return { ok: false, busy: leasedObject(objects[busy]!) };
    const expiresAt = now + leases.ttlMs;
    for (const o of objects) {
      const key = flat(leaseKey(leases.account, leasedObject(o)));
      if (!isSharedLease(o)) this.#leases.set(key, { value: leases.token, expiresAt });
      else {
        const holders = this.#shared.get(key) ?? new Map<string, number>();
        this.#shared.set(key, holders.set(leases.token, expiresAt));
      }
    }
    return { ok: true, held: { account: leases.account, objects: leases.objects, token: leases.token } };
  }

  async renewLeases(held: HeldLeases, ttlMs: number): Promise<RenewResult> {
    const objects = distinctObjects(held.objects);
    assertLeases({ ...held, objects, ttlMs });
    const now = this.#clock.now();
    // Like renew.lua: every lease checked before any is extended. An existing entry needs no room.
    const holds = (o: string) => {
      const key = leaseKey(held.account, leasedObject(o));
      if (!isSharedLease(o)) return this.#text(this.#leases, key, now) === held.token;
      return this.#holders(key, now) > 0 && this.#shared.get(key)!.has(held.token);
    };
    const lost = objects.find((o) => !holds(o));
    if (lost !== undefined) return { ok: false, lost: leasedObject(lost) };
    for (const o of objects) {
      const key = leaseKey(held.account, leasedObject(o));
      if (isSharedLease(o)) this.#shared.get(key)!.set(held.token, now + ttlMs);
      else this.#leases.get(key)!.expiresAt = now + ttlMs;
    }
    return { ok: true };
  }

  async releaseLeases(held: HeldLeases): Promise<void> {
    const now = this.#clock.now();
    for (const o of distinctObjects(held.objects)) {
      const key = leaseKey(held.account, leasedObject(o));
      if (isSharedLease(o)) {
        const holders = this.#shared.get(key);
        holders?.delete(held.token);
        if (holders?.size === 0) this.#shared.delete(key);
      } else if (this.#text(this.#leases, key, now) === held.token) this.#leases.delete(key);
    }
  }

  async used(scope: string, bucket: string): Promise<number> {
    return this.#live(this.#windows, counterKey(scope, bucket), this.#clock.now())?.value ?? 0;
  }

  async lastUsed(scope: string): Promise<number | undefined> {
    return this.#live(this.#lastUse, lastUsedKey(scope), this.#clock.now())?.value;
  }

  available(): boolean {
    return true;
  }

  async healthy(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Drops every expired entry (the periodic timer calls this; so does a full store, at most every 5 s). */
  sweep(): void {
    const now = this.#clock.now();
    for (const map of [this.#windows, this.#lastUse, this.#idempotency, this.#leases]) {
      for (const [k, e] of map) if (e.expiresAt <= now) map.delete(k);
    }
    for (const key of this.#shared.keys()) this.#holders(key, now);
  }

  /** Number of live and not yet swept entries (keybrake_counter_store_entries). */
  get size(): number {
    let shared = 0;
    for (const holders of this.#shared.values()) shared += holders.size;
    return this.#windows.size + this.#lastUse.size + this.#idempotency.size + this.#leases.size + shared;
  }

  /** Whether close() was called (its metrics are then no longer reported). */
  get closed(): boolean {
    return this.#closed;
  }

  get stats(): MemoryCounterStoreStats {
    return {
      entries: this.size,
      maxEntries: this.#maxEntries,
      evictedLastUse: this.#evictedLastUse,
      evictedIdempotency: this.#evictedIdempotency,
      refusedFull: this.#refusedFull,
    };
  }

  #live(map: Map<string, Entry>, key: string, now: number): Entry | undefined {
    const e = map.get(key);
    if (e && e.expiresAt <= now) {
      map.delete(key);
      return undefined;
    }
    return e;
  }

  /** How many calls hold the shared lease of `key` (lease-names.ts), dropping the expired. */
  #holders(key: string, now: number): number {
    const holders = this.#shared.get(key);
    if (!holders) return 0;
    for (const [token, expiresAt] of holders) if (expiresAt <= now) holders.delete(token);
    if (holders.size === 0) this.#shared.delete(key);
    return holders.size;
  }

  /** An idempotency fingerprint or a lease token, unless expired. */
  #text(map: Map<string, TextEntry>, key: string, now: number): string | undefined {
    const e = map.get(key);
    if (e && e.expiresAt <= now) {
      map.delete(key);
      return undefined;
    }
    return e?.value;
  }

  /**
   * Makes room for the windows of `windows` that do not exist yet (live), plus `more` entries (leases),
   * or throws CounterStoreUnavailableError having written nothing: the call fails closed.
   */
  #roomForWindows(scope: string, windows: readonly WindowSpec[], now: number, more = 0): void {
    let needed = more;
    const seen = new Set<string>();
    for (const w of windows) {
      const key = counterKey(scope, w.bucket);
      if (!seen.has(key) && this.#live(this.#windows, key, now) === undefined) needed++;
      seen.add(key);
    }
    if (needed === 0 || this.#makeRoom(needed, now, 'idempotency')) return;
    this.#refusedFull++;
    throw new CounterStoreUnavailableError(
      `memory counter store is full (${this.#maxEntries} entries of live windows and leases)`,
    );
  }

  /**
   * Whether `needed` more entries fit, after dropping what `evictable` allows: expired entries
   * (looked for at most every FULL_STORE_SWEEP_EVERY_MS), then last-use records, then idempotency records, oldest first.
   */
  #makeRoom(needed: number, now: number, evictable: Evictable): boolean {
    const fits = () => this.size + needed <= this.#maxEntries;
    if (fits()) return true;
    if (now - this.#lastFullSweep >= FULL_STORE_SWEEP_EVERY_MS) {
      this.#lastFullSweep = now;
      this.sweep();
      if (fits()) return true;
    }
    for (const key of this.#lastUse.keys()) {
      if (fits()) return true;
      this.#lastUse.delete(key);
      this.#evictedLastUse++;
    }
    if (evictable === 'lastUse') return fits();
    for (const key of this.#idempotency.keys()) {
      if (fits()) return true;
      this.#idempotency.delete(key);
      this.#evictedIdempotency++;
    }
    return fits();
  }

  // Like reserve.lua: the latest call time wins (replicas' clocks differ a little), the TTL is refreshed.
  // When the store is full of what cannot be dropped, the last use is not recorded (status only).
  #touch(scope: string, callTime: number, now: number): void {
    const key = lastUsedKey(scope);
    const e = this.#live(this.#lastUse, key, now);
    if (e) {
      e.value = Math.max(e.value, callTime);
      e.expiresAt = now + LAST_USED_TTL_SECONDS * 1000;
    } else if (this.#makeRoom(1, now, 'lastUse')) {
      this.#lastUse.set(flat(key), { value: callTime, expiresAt: now + LAST_USED_TTL_SECONDS * 1000 });
    }
  }

  // Like INCRBY + "EXPIRE only when new" in the Redis script: the first write fixes the expiry.
  #add(key: string, amount: number, ttlSeconds: number, now: number): void {
    const e = this.#live(this.#windows, key, now);
    if (e) e.value += amount;
    else this.#windows.set(flat(key), { value: amount, expiresAt: now + ttlSeconds * 1000 });
  }
}

/**
 * A key built by concatenation is a rope (a V8 ConsString) that keeps every piece it was made of
 * alive. Reading a character flattens it in place, so a stored key costs its characters, not its
 * pieces: measured, a run window takes 210 bytes instead of 745. The read must have an effect or the
 * compiler drops it: every key starts with its hash tag's `{` (keys.ts), checked here.
 */
function flat(key: string): string {
  if (key.charCodeAt(0) !== 0x7b) throw new RangeError(`counter key ${key} lacks its hash tag`);
  return key;
}
