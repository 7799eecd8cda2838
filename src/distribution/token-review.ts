import { AuthenticationV1Api, type KubeConfig, type V1TokenReviewStatus } from '@kubernetes/client-node';
import { type Clock, systemClock } from '../clock.ts';
import { cachedVerdicts } from './expiring-cache.ts';
import { DEFAULT_AUDIENCE } from './protocol.ts';
import { ReviewBudget } from './review-budget.ts';

/** What the snapshot server learns about a caller's bearer token before it streams or takes an ack. */
export type AuthResult =
  | { readonly ok: true; readonly user: string }
  | { readonly ok: false; readonly status: 401 | 403; readonly message: string };

/**
 * Checks a proxy's bearer token, sent from client address `source` (whose share of the review budget
 * it takes). Resolves with a verdict; rejects only when the verdict cannot be had (apiserver
 * unreachable, or the address's share or the budget spent), and then with a message that never
 * contains the token.
 */
export type Authenticator = (bearer: string, source: string) => Promise<AuthResult>;

/** One TokenReview round trip: the apiserver's verdict on `token` for `audience`. */
export type ReviewToken = (token: string, audience: string) => Promise<V1TokenReviewStatus>;

/** Options of the TokenReview authenticator; `allowedServiceAccounts` are `namespace/name`. */
export interface TokenReviewOptions {
  readonly audience?: string;
  /**
   * The only ServiceAccounts admitted (the proxies'); empty admits none. Snapshots carry upstream
   * keys, and any ServiceAccount can be given a token of the audience (agent runners are, for the
   * run API): an empty list that admitted them all handed the table to any Pod (eighth round).
   */
  readonly allowedServiceAccounts: readonly string[];
  readonly cacheTtlMs?: number;
  /** Bound on cached verdicts so a flood of distinct bad tokens cannot grow memory. */
  readonly maxCacheEntries?: number;
  /** A monotonic clock in ms (default performance.now) by which cached verdicts run out. */
  readonly monotonic?: () => number;
  /** Reviews of tokens without a cached verdict (default: a burst of 100, then 20 a second, shared by address). */
  readonly budget?: ReviewBudget;
  /** The wall clock against which a token's `exp` is read before it is reviewed (default: the system's). */
  readonly clock?: Clock;
}

/** Thrown when the apiserver cannot give a verdict; carries the HTTP status, never the token. */
export class TokenReviewUnavailableError extends Error {
  override readonly name = 'TokenReviewUnavailableError';
}

const SA_PREFIX = 'system:serviceaccount:';

/** Proxies authenticate with their ServiceAccount token, audience-bound, checked by TokenReview. */
export function createTokenReviewAuthenticator(kc: KubeConfig, opts: TokenReviewOptions): Authenticator {
  return createReviewingAuthenticator(kubernetesTokenReview(kc), opts);
}

/** The TokenReview call itself, against the cluster of `kc`. */
export function kubernetesTokenReview(kc: KubeConfig): ReviewToken {
  const api = kc.makeApiClient(AuthenticationV1Api);
  return async (token, audience) => {
    try {
      const res = await api.createTokenReview({
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenReview',
          spec: { token, audiences: [audience] },
        },
      });
      return res.status ?? {};
    } catch (err) {
      throw new TokenReviewUnavailableError(`TokenReview failed (${apiStatusOf(err)})`);
    }
  };
}

/** The client's errors can embed request details (the token among them): keep only the status code. */
export function apiStatusOf(err: unknown): string {
  return typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : 'network error';
}

/**
 * The policy around a TokenReview: audience and ServiceAccount checks, and a short cache keyed by
 * sha256(token) (never the token itself) so reconnect storms do not hammer the apiserver.
 */
export function createReviewingAuthenticator(review: ReviewToken, opts: TokenReviewOptions): Authenticator {
  const audience = opts.audience ?? DEFAULT_AUDIENCE;
  const allowed = new Set(opts.allowedServiceAccounts);
  const ttl = opts.cacheTtlMs ?? 60_000;
  const maxEntries = opts.maxCacheEntries ?? 1_000;
  const monotonic = opts.monotonic ?? (() => performance.now());

  const decide = (status: V1TokenReviewStatus): AuthResult => {
    if (status.authenticated !== true) return { ok: false, status: 401, message: 'token not authenticated' };
    // An apiserver that ignores audiences answers with none: that token is not bound to us.
    if (!(status.audiences ?? []).includes(audience))
      return { ok: false, status: 401, message: `token is not valid for audience ${audience}` };
    const user = status.user?.username ?? '';
    if (!user.startsWith(SA_PREFIX))
      return { ok: false, status: 403, message: `${user} is not a ServiceAccount` };
    const sa = user.slice(SA_PREFIX.length).replace(':', '/');
    if (!allowed.has(sa))
      return { ok: false, status: 403, message: `ServiceAccount ${sa} may not follow snapshots` };
    return { ok: true, user: sa };
  };

  return reviewedBearers(
    review,
    { ttlMs: ttl, maxEntries, monotonic, clock: opts.clock, audience, budget: opts.budget },
    decide,
    (message) => ({ ok: false, status: 401, message }),
  );
}

/**
 * A bearer's TokenReview for `audience`, cached and within the review budget, decided by `decide`;
 * a missing or unreviewable bearer is `refused` (401) without a review. The one shape of the snapshot
 * listener's authenticator and the run API's caller review.
 */
export function reviewedBearers<V extends { readonly ok: boolean }>(
  review: ReviewToken,
  opts: {
    readonly ttlMs: number;
    readonly maxEntries: number;
    readonly monotonic: () => number;
    readonly clock: Clock | undefined;
    readonly audience: string;
    readonly budget: ReviewBudget | undefined;
  },
  decide: (status: V1TokenReviewStatus) => V,
  refused: (message: string) => V,
): (bearer: string, source: string) => Promise<V> {
  return cachedVerdicts<V>({
    ttlMs: opts.ttlMs,
    maxEntries: opts.maxEntries,
    monotonic: opts.monotonic,
    clock: opts.clock ?? systemClock,
    audience: opts.audience,
    budget: opts.budget ?? new ReviewBudget({ monotonic: opts.monotonic }),
    accepted: (v) => v.ok,
    missing: refused('missing bearer token'),
    unreviewed: refused,
    review: async (bearer) => decide(await review(bearer, opts.audience)),
  });
}
