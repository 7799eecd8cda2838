import { performance } from 'node:perf_hooks';

/**
 * How long a key first keeps off an object after a call of its that held the object's lease was
 * refused after its lookup, spending nothing (ADR 0007 §5, sixth round: lease duty; `--lease-backoff`).
 * Each further such refusal doubles it, up to 32 times the first.
 */
export const LEASE_BACKOFF_FIRST_MS = 250;
const DOUBLINGS_CAP = 32;
export const LEASE_BACKOFF_MAX_MS = LEASE_BACKOFF_FIRST_MS * DOUBLINGS_CAP;

/**
 * Objects remembered per key; past this the oldest is dropped and its wait is kept for every object
 * of the key, so a key cannot clear its backoff on one object by being refused on many others. Not
 * MAX_LEASES_PER_CALL (128) or twice it: the memory (4 096 keys of 32 ids, about 24 MiB at worst;
 * of 256, 180 MiB) is the bound. A refused call holding more than this (a subscription of many
 * Prices) holds its key off every object for its backoff: a retry after 250 ms, not a refusal.
 */
export const LEASE_BACKOFF_OBJECTS = 32;

/** Keys tracked before the ones with nothing left to wait or remember are pruned. */
const MAX_KEYS = 4096;

interface Held {
  /** The backoff this object was given last: the next refusal doubles it. */
  readonly ms: number;
  /** Monotonic ms until which the key may not lease the object. */
  readonly until: number;
}

interface KeyState {
  /** Insertion order is refusal order: the first entry is the oldest. */
  readonly objects: Map<string, Held>;
  /** Monotonic ms until which the key may lease no object at all (an object dropped past the bound). */
  every: number;
  everyObject: string;
}

/** What a key still has to wait before it may lease an object, as a refusal names it. */
export interface LeaseWait {
  readonly object: string;
  readonly ms: number;
  /** The wait is the key's on every object: it was refused on more than the bound remembers. */
  readonly every: boolean;
}

/**
 * The lease backoff of every vault key on this replica, in memory: the proxy pipeline asks it before
 * each lease step (stages/lease-duty.ts) and tells it how each call that held leases ended. It bounds
 * the share of time one key can hold a shared object with calls that are refused anyway (a lease is
 * per upstream account, so its holder blocks every other key of the account). Per replica by design,
 * like lookup-reads.ts: no store round trip; N replicas give a key N backoffs. Timed by a monotonic
 * clock, so a wall clock stepping back cannot lengthen or lift one.
 */
export class LeaseBackoff {
  readonly #now: () => number;
  readonly #firstMs: number;
  readonly #maxMs: number;
  readonly #maxKeys: number;
  readonly #keys = new Map<string, KeyState>();

  /**
   * `monotonic`: the clock in ms (default performance.now). `firstMs` 0 turns the backoff off:
   * nothing is remembered, no key is ever held off.
   */
  constructor(
    opts: { readonly monotonic?: () => number; readonly firstMs?: number; readonly maxKeys?: number } = {},
  ) {
    this.#now = opts.monotonic ?? (() => performance.now());
    this.#firstMs = opts.firstMs ?? LEASE_BACKOFF_FIRST_MS;
    this.#maxMs = this.#firstMs * DOUBLINGS_CAP;
    this.#maxKeys = opts.maxKeys ?? MAX_KEYS;
  }

  /** The longest wait `scope` (a vault key's uid) still has on any of `objects`; undefined when none. */
  wait(scope: string, objects: readonly string[]): LeaseWait | undefined {
    const key = this.#keys.get(scope);
    if (key === undefined) return undefined;
    const now = this.#now();
    if (key.every > now) return { object: key.everyObject, ms: Math.ceil(key.every - now), every: true };
    let longest: LeaseWait | undefined;
    for (const object of objects) {
      const held = key.objects.get(object);
      if (held === undefined || held.until <= now) continue;
      const ms = Math.ceil(held.until - now);
      if (longest === undefined || ms > longest.ms) longest = { object, ms, every: false };
    }
    return longest;
  }

  /**
   * A call of `scope` holding `objects` was refused after its lookup, spending nothing: each object's
   * backoff doubles, or starts over at the first when the key kept off it for the longest backoff
   * after the last one ended (a key refused now and then is not a loop).
   */
  refused(scope: string, objects: readonly string[]): void {
    if (this.#firstMs === 0) return;
    const now = this.#now();
    let key = this.#keys.get(scope);
    if (key === undefined) {
      if (this.#keys.size >= this.#maxKeys) this.#makeRoom(now);
      key = { objects: new Map(), every: 0, everyObject: '' };
    }
    // Most recently refused last, so the oldest is the one dropped when the map is full.
    this.#keys.delete(scope);
    this.#keys.set(scope, key);
    for (const object of objects) {
      const was = key.objects.get(object);
      const ms =
        was !== undefined && now < was.until + this.#maxMs
          ? Math.min(was.ms * 2, this.#maxMs)
          : this.#firstMs;
      key.objects.delete(object);
      key.objects.set(object, { ms, until: now + ms });
      if (key.objects.size > LEASE_BACKOFF_OBJECTS) this.#dropOldest(key);
    }
  }

  /** A call of `scope` holding `objects` passed and the vendor took it: they start over. */
  passed(scope: string, objects: readonly string[]): void {
    const key = this.#keys.get(scope);
    if (key === undefined) return;
    for (const object of objects) key.objects.delete(object);
    if (key.objects.size === 0 && key.every <= this.#now()) this.#keys.delete(scope);
  }

  #dropOldest(key: KeyState): void {
    const [object, held] = key.objects.entries().next().value!;
    key.objects.delete(object);
    if (held.until > key.every) {
      key.every = held.until;
      key.everyObject = object;
    }
  }

  /**
   * Forgets keys that have nothing left to wait and whose backoffs would start over anyway; if every
   * key still has some, the one refused longest ago goes (a bound on memory: it takes more than
   * 4096 keys refused within seconds on one replica to lose a backoff early).
   */
  #makeRoom(now: number): void {
    for (const [scope, key] of this.#keys) {
      if (this.#forgettable(key, now)) this.#keys.delete(scope);
    }
    if (this.#keys.size >= this.#maxKeys) this.#keys.delete(this.#keys.keys().next().value!);
  }

  #forgettable(key: KeyState, now: number): boolean {
    if (key.every > now) return false;
    for (const held of key.objects.values()) if (now < held.until + this.#maxMs) return false;
    return true;
  }
}
