import { createHash } from 'node:crypto';
import type { Clock } from '../clock.ts';
import { type ReviewBudget, ReviewsExhaustedError } from './review-budget.ts';
import { unreviewable } from './token-claims.ts';

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

/** How an authenticator keeps and asks for the verdicts on bearer tokens (cachedVerdicts). */
interface VerdictSource<V> {
  readonly ttlMs: number;
  /** Bound on each of the two caches, so a flood of distinct bad tokens cannot grow memory. */
  readonly maxEntries: number;
  /**
   * A monotonic clock (ms) by which verdicts run out: by the wall clock, a step back of D kept an
   * accepted verdict D longer (a deleted ServiceAccount's token, a removed RoleBinding's yes).
   */
  readonly monotonic: () => number;
  /** The wall clock, against which a token's own `exp` is read before it is reviewed. */
  readonly clock: Clock;
  /** The audience a token must name to be reviewed. */
  readonly audience: string;
  /** Reviews of tokens without a cached verdict, shared out by client address; past it, ReviewsExhaustedError. */
  readonly budget: ReviewBudget;
  readonly accepted: (verdict: V) => boolean;
  /** The verdict on a missing token. */
  readonly missing: V;
  /** The verdict on a token that cannot be a ServiceAccount token for the audience (unreviewable's reason). */
  readonly unreviewed: (reason: string) => V;
  readonly review: (bearer: string) => Promise<V>;
}

/**
 * A bearer token's verdict, from a cache while it holds one (keyed by tokenKey, never the token),
 * else from `review`, then kept. Accepted and refused verdicts are kept apart, so a flood of junk
 * tokens evicts only other refusals, never a proxy's accepted token (sixth round: 1 504 junk bearers
 * pushed the real proxy's verdict out of the one cache of 1 000). Only a token whose claims say it
 * may be a ServiceAccount token for the audience, unexpired, is reviewed, and only within the share
 * of the budget of the client address (`source`) that sent it.
 */
export function cachedVerdicts<V>(opts: VerdictSource<V>): (bearer: string, source: string) => Promise<V> {
  const accepted = new ExpiringCache<V>(opts.ttlMs, opts.maxEntries);
  const refused = new ExpiringCache<V>(opts.ttlMs, opts.maxEntries);
  return async (bearer, source) => {
    if (!bearer) return opts.missing;
    const reason = unreviewable(bearer, opts.audience, opts.clock.now());
    if (reason !== undefined) return opts.unreviewed(reason);
    const key = tokenKey(bearer);
    const now = opts.monotonic();
    const hit = accepted.get(key, now) ?? refused.get(key, now);
    if (hit !== undefined) return hit;
    if (!opts.budget.take(source))
      throw new ReviewsExhaustedError('too many tokens to review at once; try again shortly');
    const verdict = await opts.review(bearer);
    const ok = opts.accepted(verdict);
    opts.budget.settle(source, ok);
    (ok ? accepted : refused).set(key, verdict, now);
    return verdict;
  };
}
