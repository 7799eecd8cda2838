/**
 * A token bucket: at most `burst` tokens, refilled at `perSecond`, by the times (ms, from a monotonic
 * clock) its caller passes. Pure bookkeeping: looking (`level`) and taking (`spend`) are apart, so a
 * caller can check several buckets before it takes from any.
 */
export class TokenBucket {
  readonly #burst: number;
  readonly #perMs: number;
  #level: number;
  #at: number;

  constructor(burst: number, perSecond: number, now: number) {
    this.#burst = burst;
    this.#perMs = perSecond / 1_000;
    this.#level = burst;
    this.#at = now;
  }

  /** The tokens in the bucket at `now`, refilled since the last look. */
  level(now: number): number {
    this.#level = this.peek(now);
    this.#at = Math.max(this.#at, now);
    return this.#level;
  }

  /**
   * The tokens the bucket would hold at `now`, recording nothing. A clock that steps back refills
   * nothing (and `level` keeps the later instant).
   */
  peek(now: number): number {
    return Math.min(this.#burst, this.#level + Math.max(0, now - this.#at) * this.#perMs);
  }

  /** Takes one token; the caller has seen `level` at least 1. */
  spend(): void {
    this.#level -= 1;
  }
}
