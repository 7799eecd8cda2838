/** Reviews of tokens not seen yet that may be sent at once, and per second after that. */
export const REVIEW_BURST = 100;
export const REVIEWS_PER_SECOND = 20;

/**
 * Thrown instead of reviewing a token while the budget is spent: the listener answers 503, as when
 * the apiserver cannot give a verdict, and the caller tries again later. Never carries the token.
 */
export class ReviewsExhaustedError extends Error {
  override readonly name = 'ReviewsExhaustedError';
}

/**
 * How many TokenReviews of tokens that have no cached verdict one listener sends to the apiserver: a
 * token bucket of `burst`, refilled at `perSecond` (sixth round: 1 504 acks with junk bearers from one
 * client sent 1 504 reviews in 0.8 s). The burst covers every proxy of a large fleet reconnecting
 * to a new leader at once; one refused later retries with its backoff. It refills by a monotonic
 * clock (ms, default performance.now): a wall clock stepped forward would refill it at once.
 */
export class ReviewBudget {
  readonly #burst: number;
  readonly #perMs: number;
  readonly #monotonic: () => number;
  #available: number;
  #at: number;

  constructor(
    opts: { readonly monotonic?: () => number; readonly burst?: number; readonly perSecond?: number } = {},
  ) {
    this.#monotonic = opts.monotonic ?? (() => performance.now());
    this.#burst = opts.burst ?? REVIEW_BURST;
    this.#perMs = (opts.perSecond ?? REVIEWS_PER_SECOND) / 1_000;
    this.#available = this.#burst;
    this.#at = this.#monotonic();
  }

  /** Takes one review from the budget; false when it is spent. */
  take(): boolean {
    const now = this.#monotonic();
    this.#available = Math.min(this.#burst, this.#available + Math.max(0, now - this.#at) * this.#perMs);
    this.#at = now;
    if (this.#available < 1) return false;
    this.#available -= 1;
    return true;
  }
}
