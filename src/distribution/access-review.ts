import { AuthorizationV1Api, type KubeConfig, type V1TokenReviewStatus } from '@kubernetes/client-node';
import type { Clock } from '../clock.ts';
import { ExpiringCache } from './expiring-cache.ts';
import { DEFAULT_AUDIENCE } from './protocol.ts';
import type { ReviewBudget } from './review-budget.ts';
import {
  apiStatusOf,
  type ReviewToken,
  reviewedBearers,
  TokenReviewUnavailableError,
} from './token-review.ts';

/**
 * Who may mint and stop runs on the operator (ADR 0010): the caller's bearer token is authenticated
 * by a TokenReview (audience-bound, like the proxies'), and what it may do is Kubernetes RBAC's
 * decision, asked by a SubjectAccessReview on the VaultKey's `runs` subresource (`create` to start,
 * `delete` to stop), so `kubectl auth can-i create vaultkeys/runs` tells who may.
 */

/** The user a TokenReview vouches for, as a SubjectAccessReview takes it. */
export interface Caller {
  readonly username: string;
  readonly uid?: string;
  readonly groups: readonly string[];
  readonly extra?: Record<string, string[]>;
}

export type CallerVerdict =
  | { readonly ok: true; readonly caller: Caller }
  | { readonly ok: false; readonly status: 401; readonly message: string };

/**
 * Authenticates a bearer token sent from client address `source` (whose share of the review budget
 * it takes); rejects only when no verdict can be had (then without the token).
 */
export type ReviewCaller = (bearer: string, source: string) => Promise<CallerVerdict>;

/** What a caller asks to do to one VaultKey's runs. */
export interface RunAccess {
  readonly verb: 'create' | 'delete';
  readonly namespace: string;
  readonly name: string;
}

/** RBAC's answer; rejects only when the apiserver cannot answer. */
export type ReviewAccess = (caller: Caller, access: RunAccess) => Promise<boolean>;

export const RUNS_GROUP = 'keybrake.dev';
export const RUNS_RESOURCE = 'vaultkeys';
export const RUNS_SUBRESOURCE = 'runs';

/**
 * A TokenReview authenticator that keeps the whole user (name, uid, groups, extra) for the access
 * review, with the same short cache as the proxies' (by SHA-256 of the token, never the token).
 */
export function createCallerReview(
  review: ReviewToken,
  opts: {
    audience?: string;
    cacheTtlMs?: number;
    maxCacheEntries?: number;
    /** A monotonic clock in ms (default performance.now) by which cached verdicts run out. */
    monotonic?: () => number;
    budget?: ReviewBudget;
    /** The wall clock against which a token's `exp` is read before it is reviewed. */
    clock?: Clock;
  } = {},
): ReviewCaller {
  const audience = opts.audience ?? DEFAULT_AUDIENCE;
  const ttl = opts.cacheTtlMs ?? 30_000;
  const max = opts.maxCacheEntries ?? 1_000;
  const monotonic = opts.monotonic ?? (() => performance.now());
  const decide = (s: V1TokenReviewStatus): CallerVerdict => {
    if (s.authenticated !== true) return { ok: false, status: 401, message: 'token not authenticated' };
    if (!(s.audiences ?? []).includes(audience))
      return { ok: false, status: 401, message: `token is not valid for audience ${audience}` };
    const user = s.user;
    if (!user?.username) return { ok: false, status: 401, message: 'token names no user' };
    return {
      ok: true,
      caller: {
        username: user.username,
        ...(user.uid !== undefined ? { uid: user.uid } : {}),
        groups: user.groups ?? [],
        ...(user.extra !== undefined ? { extra: user.extra } : {}),
      },
    };
  };
  return reviewedBearers(
    review,
    { ttlMs: ttl, maxEntries: max, monotonic, clock: opts.clock, audience, budget: opts.budget },
    decide,
    (message) => ({ ok: false, status: 401, message }),
  );
}

/**
 * Remembers RBAC's yes for `ttlMs` (default 5 s) per caller, verb and key, never its no: a runner
 * starting and stopping runs in a loop pays one review per key every few seconds instead of one per
 * call, a new RoleBinding works at once, and a removed one stops minting within `ttlMs`.
 */
export function cachedAccessReview(
  review: ReviewAccess,
  opts: { ttlMs?: number; maxEntries?: number; monotonic?: () => number } = {},
): ReviewAccess {
  const ttl = opts.ttlMs ?? 5_000;
  const max = opts.maxEntries ?? 1_000;
  // Monotonic: by the wall clock, a step back of D kept a removed RoleBinding's yes D longer.
  const monotonic = opts.monotonic ?? (() => performance.now());
  const allowed = new ExpiringCache<true>(ttl, max);
  return async (caller, access) => {
    const key = JSON.stringify([
      caller.username,
      caller.uid ?? '',
      [...caller.groups].sort(),
      access.verb,
      access.namespace,
      access.name,
    ]);
    const now = monotonic();
    if (allowed.get(key, now)) return true;
    const yes = await review(caller, access);
    if (yes) allowed.set(key, true, now);
    return yes;
  };
}

/** The SubjectAccessReview: may `caller` `verb` the `runs` subresource of VaultKey namespace/name? */
export function kubernetesAccessReview(kc: KubeConfig): ReviewAccess {
  const api = kc.makeApiClient(AuthorizationV1Api);
  return async (caller, access) => {
    try {
      const res = await api.createSubjectAccessReview({
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: caller.username,
            ...(caller.uid !== undefined ? { uid: caller.uid } : {}),
            groups: [...caller.groups],
            ...(caller.extra !== undefined ? { extra: caller.extra } : {}),
            resourceAttributes: {
              group: RUNS_GROUP,
              resource: RUNS_RESOURCE,
              subresource: RUNS_SUBRESOURCE,
              verb: access.verb,
              namespace: access.namespace,
              name: access.name,
            },
          },
        },
      });
      return res.status?.allowed === true && res.status.denied !== true;
    } catch (err) {
      throw new TokenReviewUnavailableError(`SubjectAccessReview failed (${apiStatusOf(err)})`);
    }
  };
}
