import { createHash } from 'node:crypto';
import { type ReviewBudget, ReviewsExhaustedError } from './review-budget.ts';

/**
 * Verdicts kept for `ttlMs` under a key, at most `maxEntries` of them, so that a flood of distinct
 * bad tokens cannot grow memory: when full, expired entries go first, then the oldest (a Map keeps
 * insertion order, and `set` re-inserts). `ttlMs` ≤ 0 keeps nothing. Times come from the caller.
 */
export class ExpiringCache<V> {
  readonly #entries = new Map<string, { value: V; until: number }>();
  readonly #ttlMs: number;
  readonly #maxEntries: number;

  constructor(ttlMs: number, maxEntries: number) {
    this.#ttlMs = ttlMs;
    this.#maxEntries = maxEntries;
  }

  get(key: string, now: number): V | undefined {
    const hit = this.#entries.get(key);
    if (hit === undefined) return undefined;
    if (hit.until > now) return hit.value;
    this.#entries.delete(key);
    return undefined;
  }

  set(key: string, value: V, now: number): void {
    this.#entries.delete(key);
    if (this.#ttlMs <= 0) return;
    if (this.#entries.size >= this.#maxEntries) {
      for (const [k, v] of this.#entries) if (v.until <= now) this.#entries.delete(k);
      const oldest = this.#entries.keys().next();
      if (this.#entries.size >= this.#maxEntries && !oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { value, until: now + this.#ttlMs });
  }

  get size(): number {
    return this.#entries.size;
  }
}

/** The key a bearer token's verdict is cached under: its SHA-256, never the token itself. */
export function tokenKey(bearer: string): string {
  return createHash('sha256').update(bearer).digest('hex');
}

/**
 * A Kubernetes ServiceAccount token, projected or not, is a JWT: three base64url parts joined by dots.
 * Anything else is refused without asking the apiserver.
 */
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** How an authenticator keeps and asks for the verdicts on bearer tokens (cachedVerdicts). */
export interface VerdictSource<V> {
  readonly ttlMs: number;
  /** Bound on each of the two caches, so a flood of distinct bad tokens cannot grow memory. */
  readonly maxEntries: number;
  /**
   * A monotonic clock (ms) by which verdicts run out: by the wall clock, a step back of D kept an
   * accepted verdict D longer (a deleted ServiceAccount's token, a removed RoleBinding's yes).
   */
  readonly monotonic: () => number;
  /** Reviews of tokens without a cached verdict; past it, ReviewsExhaustedError. */
  readonly budget: ReviewBudget;
  readonly accepted: (verdict: V) => boolean;
  /** The verdict on a missing token, and on one that is not a JWT; neither is reviewed. */
  readonly missing: V;
  readonly malformed: V;
  readonly review: (bearer: string) => Promise<V>;
}

/**
 * A bearer token's verdict, from a cache while it holds one (keyed by tokenKey, never the token),
 * else from `review`, then kept. Accepted and refused verdicts are kept apart, so a flood of junk
 * tokens evicts only other refusals, never a proxy's accepted token (sixth round: 1 504 junk bearers
 * pushed the real proxy's verdict out of the one cache of 1 000). Only a JWT is reviewed, and only
 * within the budget.
 */
export function cachedVerdicts<V>(source: VerdictSource<V>): (bearer: string) => Promise<V> {
  const accepted = new ExpiringCache<V>(source.ttlMs, source.maxEntries);
  const refused = new ExpiringCache<V>(source.ttlMs, source.maxEntries);
  return async (bearer) => {
    if (!bearer) return source.missing;
    if (!JWT.test(bearer)) return source.malformed;
    const key = tokenKey(bearer);
    const now = source.monotonic();
    const hit = accepted.get(key, now) ?? refused.get(key, now);
    if (hit !== undefined) return hit;
    if (!source.budget.take())
      throw new ReviewsExhaustedError('too many tokens to review at once; try again shortly');
    const verdict = await source.review(bearer);
    (source.accepted(verdict) ? accepted : refused).set(key, verdict, now);
    return verdict;
  };
}
