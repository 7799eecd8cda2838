import type { V1TokenReviewStatus } from '@kubernetes/client-node';
import { describe, expect, it, vi } from 'vitest';
import { fixedClock } from '../clock.ts';
import { ReviewBudget, ReviewsExhaustedError } from './review-budget.ts';
import { createReviewingAuthenticator, type ReviewToken } from './token-review.ts';

const SA = (ns: string, name: string) => ({ username: `system:serviceaccount:${ns}:${name}` });

/** A projected ServiceAccount token's claims, for the audience keybrake, valid until 2100. */
const CLAIMS = {
  aud: ['keybrake'],
  exp: Date.parse('2100-01-01T00:00:00Z') / 1_000,
  iss: 'https://kubernetes.default.svc.cluster.local',
  'kubernetes.io': { namespace: 'keybrake-system', serviceaccount: { name: 'keybrake-proxy' } },
};
/** A token shaped as a projected ServiceAccount token (a JWT), naming `name` in its `sub`. */
const jwt = (name: string, claims: Record<string, unknown> = {}) =>
  `eyJhbGciOiJSUzI1NiJ9.${Buffer.from(JSON.stringify({ ...CLAIMS, sub: name, ...claims })).toString('base64url')}.c2lnbmF0dXJl`;
const nameIn = (token: string) =>
  JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()).sub as string;
/** The proxies' ServiceAccount, the one the tests' authenticators admit. */
const PROXIES = { allowedServiceAccounts: ['keybrake-system/keybrake-proxy'] };
/** The client address the tests' tokens come from; the sharing tests name their own. */
const FROM = '10.0.0.5';

/** A stand-in for the apiserver's verdicts, keyed by the name in the token, that counts round trips. */
function reviewer(verdicts: Record<string, V1TokenReviewStatus>) {
  const calls: { token: string; audience: string }[] = [];
  const review: ReviewToken = async (token, audience) => {
    calls.push({ token: nameIn(token), audience });
    return verdicts[nameIn(token)] ?? { authenticated: false, error: 'invalid bearer token' };
  };
  return { review, calls };
}

const verdicts: Record<string, V1TokenReviewStatus> = {
  proxy: { authenticated: true, audiences: ['keybrake'], user: SA('keybrake-system', 'keybrake-proxy') },
  other: { authenticated: true, audiences: ['keybrake'], user: SA('agents', 'support-bot') },
  noAudience: { authenticated: true, audiences: [], user: SA('keybrake-system', 'keybrake-proxy') },
  human: { authenticated: true, audiences: ['keybrake'], user: { username: 'alice@example.com' } },
};

describe('the TokenReview authenticator', () => {
  it.each([
    [
      'accepts a ServiceAccount in the allowed list, its token bound to the audience',
      'proxy',
      ['keybrake-system/keybrake-proxy'],
      { ok: true, user: 'keybrake-system/keybrake-proxy' },
    ],
    // Eighth round: an empty list admitted any ServiceAccount, and the operator's default was empty,
    // so an agent runner's token (same audience, for the run API) streamed every upstream key.
    [
      'refuses every ServiceAccount when the list is empty, with 403',
      'proxy',
      [],
      {
        ok: false,
        status: 403,
        message: 'ServiceAccount keybrake-system/keybrake-proxy may not follow snapshots',
      },
    ],
    [
      'refuses an unauthenticated token with 401',
      'garbage',
      ['keybrake-system/keybrake-proxy'],
      { ok: false, status: 401 },
    ],
    [
      'refuses a token the apiserver did not bind to the audience with 401',
      'noAudience',
      ['keybrake-system/keybrake-proxy'],
      { ok: false, status: 401 },
    ],
    [
      'refuses a user that is not a ServiceAccount with 403',
      'human',
      ['keybrake-system/keybrake-proxy'],
      { ok: false, status: 403 },
    ],
    [
      'refuses a ServiceAccount outside the allowed list with 403',
      'other',
      ['keybrake-system/keybrake-proxy'],
      { ok: false, status: 403 },
    ],
  ])('%s', async (_name, token, allowed, expected) => {
    const { review } = reviewer(verdicts);
    const auth = createReviewingAuthenticator(review, { allowedServiceAccounts: allowed });
    expect(await auth(jwt(token), FROM)).toMatchObject(expected);
  });

  it('asks the apiserver for the configured audience', async () => {
    const { review, calls } = reviewer(verdicts);
    await createReviewingAuthenticator(review, { ...PROXIES, audience: 'custom' })(
      jwt('proxy', { aud: 'custom' }),
      FROM,
    );
    expect(calls).toEqual([{ token: 'proxy', audience: 'custom' }]);
  });

  it('reuses a verdict within the TTL and asks again after it', async () => {
    const clock = fixedClock('2026-06-01T00:00:00Z');
    const { review, calls } = reviewer(verdicts);
    const auth = createReviewingAuthenticator(review, {
      ...PROXIES,
      cacheTtlMs: 60_000,
      monotonic: clock.now,
    });
    await auth(jwt('proxy'), FROM);
    clock.advance(59_999);
    await auth(jwt('proxy'), FROM);
    expect(calls).toHaveLength(1);
    clock.advance(1);
    await auth(jwt('proxy'), FROM);
    expect(calls).toHaveLength(2);
  });

  // Sixth round: verdicts ran out by the wall clock, so a step back of D kept an accepted one D longer.
  it('lets a verdict run out by the monotonic clock, whatever the wall clock does', async () => {
    const monotonic = fixedClock(0);
    const { review, calls } = reviewer(verdicts);
    const auth = createReviewingAuthenticator(review, {
      ...PROXIES,
      cacheTtlMs: 60_000,
      monotonic: monotonic.now,
    });
    vi.useFakeTimers({ toFake: ['Date'], now: Date.parse('2026-12-01T12:00:00Z') });
    try {
      await auth(jwt('proxy'), FROM);
      vi.setSystemTime(Date.parse('2026-12-01T11:00:00Z'));
      monotonic.advance(60_000);
      await auth(jwt('proxy'), FROM);
      expect(calls).toHaveLength(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('never sends an empty token to the apiserver', async () => {
    const { review, calls } = reviewer(verdicts);
    expect(await createReviewingAuthenticator(review, PROXIES)('', FROM)).toMatchObject({
      ok: false,
      status: 401,
    });
    expect(calls).toHaveLength(0);
  });

  it('keeps the cache bounded', async () => {
    const { review, calls } = reviewer(verdicts);
    const auth = createReviewingAuthenticator(review, { ...PROXIES, maxCacheEntries: 2 });
    for (const t of ['a', 'b', 'c', 'a']) await auth(jwt(t), FROM);
    // `a` was evicted to make room for `c`, so it is reviewed twice.
    expect(calls.map((c) => c.token)).toEqual(['a', 'b', 'c', 'a']);
  });

  it('does not cache a failed review', async () => {
    let fail = true;
    const review: ReviewToken = async () => {
      if (fail) throw new Error('apiserver down');
      return verdicts.proxy!;
    };
    const auth = createReviewingAuthenticator(review, PROXIES);
    await expect(auth(jwt('proxy'), FROM)).rejects.toThrow('apiserver down');
    fail = false;
    expect(await auth(jwt('proxy'), FROM)).toMatchObject({ ok: true });
  });

  // Sixth round: 1 504 acks with junk bearers sent 1 504 reviews in 0.8 s, and pushed the real
  // proxy's verdict out of the cache.
  it('refuses a token that is not a JWT without asking the apiserver', async () => {
    const { review, calls } = reviewer(verdicts);
    const auth = createReviewingAuthenticator(review, PROXIES);
    for (const junk of ['proxy', 'a.b', 'a.b.c.d', 'a.b.c!', `${jwt('proxy')}.`])
      expect(await auth(junk, FROM)).toMatchObject({ ok: false, status: 401 });
    expect(calls).toHaveLength(0);
  });

  it('reviews unseen tokens only within its budget, answers from the cache past it, and refills with time', async () => {
    const clock = fixedClock('2026-06-01T00:00:00Z');
    const { review, calls } = reviewer(verdicts);
    const auth = createReviewingAuthenticator(review, {
      ...PROXIES,
      monotonic: clock.now,
      budget: new ReviewBudget({ monotonic: clock.now, burst: 3, perSecond: 1 }),
    });
    expect(await auth(jwt('proxy'), FROM)).toMatchObject({ ok: true });
    for (const t of ['junk-1', 'junk-2'])
      expect(await auth(jwt(t), FROM)).toMatchObject({ ok: false, status: 401 });
    await expect(auth(jwt('junk-3'), FROM)).rejects.toThrow(ReviewsExhaustedError);
    expect(calls).toHaveLength(3);
    // Verdicts already had cost nothing.
    expect(await auth(jwt('proxy'), FROM)).toMatchObject({ ok: true });
    expect(await auth(jwt('junk-1'), FROM)).toMatchObject({ ok: false });
    clock.advance(1_000);
    expect(await auth(jwt('junk-3'), FROM)).toMatchObject({ ok: false, status: 401 });
    expect(calls.map((c) => c.token)).toEqual(['proxy', 'junk-1', 'junk-2', 'junk-3']);
  });

  // Sixth round: distinct JWT-shaped junk (`eyJh.<counter>.x`) took the whole review budget.
  it('spends no review, nor any budget, on a JWT whose claims cannot make it our ServiceAccount token', async () => {
    const clock = fixedClock('2026-12-01T12:00:00Z');
    const { review, calls } = reviewer(verdicts);
    const auth = createReviewingAuthenticator(review, {
      ...PROXIES,
      clock,
      budget: new ReviewBudget({ monotonic: clock.now, burst: 2, perSecond: 1 }),
    });
    const expired = Date.parse('2026-12-01T11:58:59Z') / 1_000;
    for (const [junk, message] of [
      ['eyJh.MTIz.x', 'bearer token is not a ServiceAccount token (no JSON claims)'],
      ['eyJh.bm90IGpzb24.x', 'bearer token is not a ServiceAccount token (no JSON claims)'],
      [jwt('proxy', { aud: ['vault'] }), 'token is not valid for audience keybrake'],
      [jwt('proxy', { aud: undefined }), 'token is not valid for audience keybrake'],
      [jwt('proxy', { exp: expired }), 'token has expired'],
      [jwt('proxy', { exp: String(CLAIMS.exp) }), 'token names no expiry'],
      [jwt('proxy', { iss: '' }), 'token names no issuer'],
      [
        jwt('proxy', { 'kubernetes.io': undefined }),
        'token is not a ServiceAccount token (no kubernetes.io claims)',
      ],
      [
        jwt('proxy', { 'kubernetes.io': 'keybrake-system' }),
        'token is not a ServiceAccount token (no kubernetes.io claims)',
      ],
    ] as const)
      expect(await auth(junk, FROM)).toEqual({ ok: false, status: 401, message });
    expect(calls).toHaveLength(0);
    // The apiserver is the authority on what passes: a single audience, and the apiserver's leeway of
    // a minute past `exp`, go to the review, which the budget (2) still has for both.
    expect(await auth(jwt('proxy', { aud: 'keybrake' }), FROM)).toMatchObject({ ok: true });
    expect(await auth(jwt('proxy', { exp: expired + 2 }), FROM)).toMatchObject({ ok: true });
    expect(calls).toHaveLength(2);
  });

  // Sixth round: junk from one address over four connections kept a new proxy at 503 for 15 s.
  it('shares reviews out by address: one spending its share leaves another its review', async () => {
    const clock = fixedClock(0);
    const { review, calls } = reviewer(verdicts);
    const auth = createReviewingAuthenticator(review, {
      ...PROXIES,
      monotonic: clock.now,
      budget: new ReviewBudget({ monotonic: clock.now, burst: 5, perSecond: 1, sourceBurst: 3 }),
    });
    for (let i = 0; i < 3; i++)
      expect(await auth(jwt(`junk-${i}`), '10.0.0.66')).toMatchObject({ ok: false, status: 401 });
    for (let i = 3; i < 5; i++)
      await expect(auth(jwt(`junk-${i}`), '10.0.0.66')).rejects.toThrow(ReviewsExhaustedError);
    expect(await auth(jwt('proxy'), FROM)).toMatchObject({ ok: true });
    expect(calls.map((c) => c.token)).toEqual(['junk-0', 'junk-1', 'junk-2', 'proxy']);
  });

  it('keeps a reserve of reviews from addresses whose tokens were refused, for one never refused', async () => {
    const clock = fixedClock(0);
    const { review, calls } = reviewer(verdicts);
    const auth = createReviewingAuthenticator(review, {
      ...PROXIES,
      monotonic: clock.now,
      // Shares as large as the budget: only the reserve (a quarter, 2) stands between them and it.
      budget: new ReviewBudget({ monotonic: clock.now, burst: 8, perSecond: 1, sourceBurst: 8 }),
    });
    const flood = async (source: string) => {
      for (let i = 0; i < 8; i++) await auth(jwt(`${source}-${i}`), source).catch(() => undefined);
    };
    await flood('10.0.0.66');
    await flood('10.0.0.67');
    expect(await auth(jwt('proxy'), FROM)).toMatchObject({ ok: true });
    // The first address until the reserve, the second's first token (not refused yet), and the proxy.
    expect(calls).toHaveLength(8);
  });

  it('keeps an accepted verdict however many refused tokens come after it', async () => {
    const { review, calls } = reviewer(verdicts);
    const auth = createReviewingAuthenticator(review, { ...PROXIES, maxCacheEntries: 2 });
    await auth(jwt('proxy'), FROM);
    for (let i = 0; i < 10; i++) await auth(jwt(`junk-${i}`), `10.0.1.${i}`);
    expect(await auth(jwt('proxy'), FROM)).toMatchObject({ ok: true });
    expect(calls.filter((c) => c.token === 'proxy')).toHaveLength(1);
  });
});
