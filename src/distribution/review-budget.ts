import { isLocalSource } from '../listener/source-share.ts';
import { TokenBucket } from '../token-bucket.ts';

/** Reviews of tokens not seen yet that may be sent at once, and per second after that. */
const REVIEW_BURST = 100;
const REVIEWS_PER_SECOND = 20;
/** The share of one client address: reviews at once, and per second after that. */
const SOURCE_REVIEW_BURST = 10;
const SOURCE_REVIEWS_PER_SECOND = 2;
/** Addresses whose share and standing are remembered; past it the least recently seen is forgotten. */
const MAX_REVIEW_SOURCES = 4_096;

/**
 * Thrown instead of reviewing a token while the budget is spent: the listener answers 503, as when
 * the apiserver cannot give a verdict, and the caller tries again later. Never carries the token.
 */
export class ReviewsExhaustedError extends Error {
  override readonly name = 'ReviewsExhaustedError';
}

/** What one client address has had of the budget, and whether its tokens passed. */
interface Standing {
  /** Its own share; none for a local address (many clients behind it by design). */
  readonly bucket: TokenBucket | undefined;
  /** A review refused a token it sent. */
  refused: boolean;
  /** A review accepted a token it sent: it stays in good standing whatever else it sends. */
  vouched: boolean;
}

export interface ReviewBudgetOptions {
  /** A monotonic clock (ms, default performance.now): a wall clock stepped forward would refill at once. */
  readonly monotonic?: () => number;
  readonly burst?: number;
  readonly perSecond?: number;
  /**
   * What is kept of the budget for addresses in good standing (never refused, or vouched for by an
   * accepted token): an address refused and never vouched for reviews only above it. Default: a
   * quarter of the burst.
   */
  readonly reserve?: number;
  readonly sourceBurst?: number;
  readonly sourcePerSecond?: number;
  readonly maxSources?: number;
}

/**
 * How many TokenReviews of tokens that have no cached verdict one listener sends to the apiserver: a
 * token bucket of `burst`, refilled at `perSecond` (sixth round: 1 504 acks with junk bearers from one
 * client sent 1 504 reviews in 0.8 s), shared out by client address (sixth round: junk from one
 * address over four connections took the whole budget, and a new proxy got 503 for 15 s). Each
 * address has its own smaller bucket, and one whose tokens were refused, never accepted, may not take
 * the reserve: a proxy, which has never been refused, still gets a review while junk from other
 * addresses spends the rest. The burst covers every proxy of a large fleet reconnecting to a new
 * leader at once; one refused later retries with its backoff. Local addresses (a mesh sidecar's) are
 * held to the whole budget alone, as by the listener's connection shares.
 */
export class ReviewBudget {
  readonly #monotonic: () => number;
  readonly #budget: TokenBucket;
  readonly #reserve: number;
  readonly #sourceBurst: number;
  readonly #sourcePerSecond: number;
  readonly #maxSources: number;
  /** In order of last use (a Map keeps insertion order; `#standing` re-inserts), to forget the oldest. */
  readonly #sources = new Map<string, Standing>();

  constructor(opts: ReviewBudgetOptions = {}) {
    this.#monotonic = opts.monotonic ?? (() => performance.now());
    const burst = opts.burst ?? REVIEW_BURST;
    this.#budget = new TokenBucket(burst, opts.perSecond ?? REVIEWS_PER_SECOND, this.#monotonic());
    this.#reserve = opts.reserve ?? Math.floor(burst / 4);
    this.#sourceBurst = opts.sourceBurst ?? SOURCE_REVIEW_BURST;
    this.#sourcePerSecond = opts.sourcePerSecond ?? SOURCE_REVIEWS_PER_SECOND;
    this.#maxSources = opts.maxSources ?? MAX_REVIEW_SOURCES;
  }

  /** Takes one review for a token `source` sent; false, nothing taken, when its share or the budget is spent. */
  take(source: string): boolean {
    const now = this.#monotonic();
    const standing = this.#standing(source, now);
    const floor = standing.refused && !standing.vouched ? this.#reserve + 1 : 1;
    if (this.#budget.level(now) < floor) return false;
    if (standing.bucket && standing.bucket.level(now) < 1) return false;
    this.#budget.spend();
    standing.bucket?.spend();
    return true;
  }

  /** Records the verdict of a review `take` allowed: whether the token `source` sent was accepted. */
  settle(source: string, accepted: boolean): void {
    const standing = this.#standing(source, this.#monotonic());
    if (accepted) standing.vouched = true;
    else standing.refused = true;
  }

  /** Addresses remembered: what the bookkeeping costs in memory. */
  get sources(): number {
    return this.#sources.size;
  }

  #standing(source: string, now: number): Standing {
    let standing = this.#sources.get(source);
    this.#sources.delete(source);
    if (standing === undefined) {
      standing = {
        bucket: isLocalSource(source)
          ? undefined
          : new TokenBucket(this.#sourceBurst, this.#sourcePerSecond, now),
        refused: false,
        vouched: false,
      };
      // An address forgotten comes back in good standing with a full share: the budget still bounds it.
      if (this.#sources.size >= this.#maxSources) this.#sources.delete(this.#sources.keys().next().value!);
    }
    this.#sources.set(source, standing);
    return standing;
  }
}
