import { createHash } from 'node:crypto';
import type { Clock } from '../clock.ts';

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
 * A bearer token's verdict, from `cache` while it holds one (keyed by tokenKey, never the token),
 * else from `review`, then kept. A missing token gets `missing` and is never reviewed.
 */
export function cachedVerdicts<V>(
  cache: ExpiringCache<V>,
  clock: Clock,
  missing: V,
  review: (bearer: string) => Promise<V>,
): (bearer: string) => Promise<V> {
  return async (bearer) => {
    if (!bearer) return missing;
    const key = tokenKey(bearer);
    const now = clock.now();
    const hit = cache.get(key, now);
    if (hit !== undefined) return hit;
    const verdict = await review(bearer);
    cache.set(key, verdict, now);
    return verdict;
  };
}
