import type { Clock } from '../clock.ts';
import { TokenBucket } from '../token-bucket.ts';

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

/**
 * A token bucket per vault key, in this process only: the proxy pipeline takes one token before each
 * lookup read of a key without `requestsPerMinute` (price.ts). Per replica by design: it bounds what
 * one key amplifies, with no store round trip; a shared bound is `requestsPerMinute`.
 */
export class LookupReads {
  readonly #clock: Clock;
  readonly #perSecond: number;
  readonly #burst: number;
  readonly #buckets = new Map<string, TokenBucket>();

  constructor(clock: Clock, perSecond = LOOKUP_READS_PER_SECOND, burst = LOOKUP_READ_BURST) {
    this.#clock = clock;
    this.#perSecond = perSecond;
    this.#burst = burst;
  }

  /** The reads one key may make per second, as the refusal names them. */
  get perSecond(): number {
    return this.#perSecond;
  }

  /** Takes one read for `scope` (a vault key's uid): false when its bucket is empty. */
  take(scope: string): boolean {
    const now = this.#clock.now();
    let bucket = this.#buckets.get(scope);
    if (bucket === undefined) {
      if (this.#buckets.size >= PRUNE_AT) this.#prune(now);
      bucket = new TokenBucket(this.#burst, this.#perSecond, now);
      this.#buckets.set(scope, bucket);
    }
    if (bucket.level(now) < 1) return false;
    bucket.spend();
    return true;
  }

  #prune(now: number): void {
    for (const [scope, bucket] of this.#buckets) {
      if (bucket.peek(now) >= this.#burst) this.#buckets.delete(scope);
    }
  }
}
