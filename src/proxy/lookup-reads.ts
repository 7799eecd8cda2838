import type { Clock } from '../clock.ts';

/**
 * How fast one key's price lookups may read upstream on one replica when its policy sets no
 * `requestsPerMinute` (ADR 0003, "Since 2026-12-01 (fifth round)"). A vendor limits requests per
 * account (Resend 2–5 a second per team, Stripe 25 a second in test mode), so a key whose calls each
 * fan out into many reads could otherwise hold the limit every other key of the account shares.
 */
export const LOOKUP_READS_PER_SECOND = 10;

/** A full bucket holds one longest chain (MAX_LOOKUP_READS in stages/price.ts): a legitimate call always fits. */
export const LOOKUP_READ_BURST = 128;

/** Past this many keys tracked, keys whose bucket has refilled are forgotten (they are as good as new). */
const PRUNE_AT = 4096;

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * A token bucket per vault key, in this process only: the proxy pipeline takes one token before each
 * lookup read of a key without `requestsPerMinute` (price.ts). Per replica by design: it bounds what
 * one key amplifies, with no store round trip; a shared bound is `requestsPerMinute`.
 */
export class LookupReads {
  readonly #clock: Clock;
  readonly #perMs: number;
  readonly #burst: number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(clock: Clock, perSecond = LOOKUP_READS_PER_SECOND, burst = LOOKUP_READ_BURST) {
    this.#clock = clock;
    this.#perMs = perSecond / 1000;
    this.#burst = burst;
  }

  /** The reads one key may make per second, as the refusal names them. */
  get perSecond(): number {
    return this.#perMs * 1000;
  }

  /** Takes one read for `scope` (a vault key's uid): false when its bucket is empty. */
  take(scope: string): boolean {
    const now = this.#clock.now();
    let bucket = this.#buckets.get(scope);
    if (bucket === undefined) {
      if (this.#buckets.size >= PRUNE_AT) this.#prune(now);
      bucket = { tokens: this.#burst, at: now };
      this.#buckets.set(scope, bucket);
    } else {
      bucket.tokens = this.#level(bucket, now);
      bucket.at = Math.max(bucket.at, now);
    }
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  // A clock that steps back refills nothing (and the bucket keeps its later instant).
  #level(bucket: Bucket, now: number): number {
    return Math.min(this.#burst, bucket.tokens + Math.max(0, now - bucket.at) * this.#perMs);
  }

  #prune(now: number): void {
    for (const [scope, bucket] of this.#buckets) {
      if (this.#level(bucket, now) >= this.#burst) this.#buckets.delete(scope);
    }
  }
}
