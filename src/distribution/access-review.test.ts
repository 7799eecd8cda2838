import { describe, expect, it, vi } from 'vitest';
import { fixedClock } from '../clock.ts';
import { type Caller, cachedAccessReview, createCallerReview, type RunAccess } from './access-review.ts';
import { ReviewBudget, ReviewsExhaustedError } from './review-budget.ts';

const runner: Caller = {
  username: 'system:serviceaccount:agents:runner',
  groups: ['system:serviceaccounts'],
};
const create: RunAccess = { verb: 'create', namespace: 'agents', name: 'bot' };

describe('cachedAccessReview', () => {
  it("remembers RBAC's yes for a few seconds per caller, verb and key, and never its no", async () => {
    const clock = fixedClock(0);
    let answer = true;
    const asked: RunAccess[] = [];
    const review = cachedAccessReview(
      async (_c, a) => {
        asked.push(a);
        return answer;
      },
      { ttlMs: 5_000, monotonic: clock.now },
    );
    expect(await review(runner, create)).toBe(true);
    expect(await review(runner, create)).toBe(true);
    expect(asked).toHaveLength(1);
    // Another verb, another key, another caller: asked again.
    await review(runner, { ...create, verb: 'delete' });
    await review(runner, { ...create, name: 'other' });
    await review({ ...runner, username: 'x' }, create);
    expect(asked).toHaveLength(4);
    // The binding is removed: within the TTL the yes stands, after it the no is heard (and kept asking).
    answer = false;
    clock.advance(5_000);
    expect(await review(runner, create)).toBe(false);
    expect(await review(runner, create)).toBe(false);
    expect(asked).toHaveLength(6);
  });

  // Sixth round: the yes ran out by the wall clock, so a step back of D kept a removed binding's yes D longer.
  it("lets RBAC's yes run out by the monotonic clock, whatever the wall clock does", async () => {
    const monotonic = fixedClock(0);
    let answer = true;
    const review = cachedAccessReview(async () => answer, { ttlMs: 5_000, monotonic: monotonic.now });
    vi.useFakeTimers({ toFake: ['Date'], now: Date.parse('2026-12-01T12:00:00Z') });
    try {
      expect(await review(runner, create)).toBe(true);
      answer = false;
      vi.setSystemTime(Date.parse('2026-12-01T11:00:00Z'));
      monotonic.advance(5_000);
      expect(await review(runner, create)).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });
});

/** A runner's projected ServiceAccount token for audience keybrake, `n` in its `sub`: anything else is refused unreviewed. */
const token = (n: number | string, claims: Record<string, unknown> = {}) =>
  `eyJhbGciOiJSUzI1NiJ9.${Buffer.from(
    JSON.stringify({
      aud: ['keybrake'],
      exp: Date.parse('2100-01-01T00:00:00Z') / 1_000,
      iss: 'https://kubernetes.default.svc.cluster.local',
      'kubernetes.io': { namespace: 'agents', serviceaccount: { name: 'runner' } },
      sub: `system:serviceaccount:agents:runner-${n}`,
      ...claims,
    }),
  ).toString('base64url')}.c2lnbmF0dXJl`;
const TOKEN = token('u');
/** The client address the tokens come from. */
const FROM = '10.0.0.7';

describe('createCallerReview', () => {
  it.each([
    ['an unauthenticated token', { authenticated: false }, 'token not authenticated'],
    [
      'a token for another audience',
      { authenticated: true, audiences: ['https://kubernetes.default.svc'], user: { username: 'u' } },
      'token is not valid for audience keybrake',
    ],
    ['a token naming no user', { authenticated: true, audiences: ['keybrake'] }, 'token names no user'],
  ])('refuses %s with 401', async (_name, status, message) => {
    const review = createCallerReview(async () => status);
    expect(await review(TOKEN, FROM)).toEqual({ ok: false, status: 401, message });
  });

  it('keeps the whole user for the access review, and caches by digest', async () => {
    let calls = 0;
    const review = createCallerReview(async () => {
      calls++;
      return {
        authenticated: true,
        audiences: ['keybrake'],
        user: { username: 'u', uid: 'id', groups: ['g'], extra: { k: ['v'] } },
      };
    });
    const expected = { ok: true, caller: { username: 'u', uid: 'id', groups: ['g'], extra: { k: ['v'] } } };
    expect(await review(TOKEN, FROM)).toEqual(expected);
    expect(await review(TOKEN, FROM)).toEqual(expected);
    expect(calls).toBe(1);
  });

  // Sixth round: distinct JWT-shaped junk took the whole review budget.
  it('sends no review for a JWT whose claims cannot make it a ServiceAccount token for the audience', async () => {
    let calls = 0;
    const review = createCallerReview(
      async () => {
        calls++;
        return { authenticated: false };
      },
      { budget: new ReviewBudget({ burst: 1 }) },
    );
    for (const [junk, message] of [
      ['eyJh.MTIz.x', 'bearer token is not a ServiceAccount token (no JSON claims)'],
      [token(1, { aud: ['https://kubernetes.default.svc'] }), 'token is not valid for audience keybrake'],
      [token(2, { exp: 1_700_000_000 }), 'token has expired'],
      [
        token(3, { 'kubernetes.io': undefined }),
        'token is not a ServiceAccount token (no kubernetes.io claims)',
      ],
    ] as const)
      expect(await review(junk, FROM)).toEqual({ ok: false, status: 401, message });
    expect(calls).toBe(0);
    await review(token(4), FROM);
    expect(calls).toBe(1);
  });

  it('sends no review for a token that is not a JWT, nor past its budget', async () => {
    const clock = fixedClock('2026-06-01T00:00:00Z');
    let calls = 0;
    const review = createCallerReview(
      async () => {
        calls++;
        return { authenticated: false };
      },
      { monotonic: clock.now, budget: new ReviewBudget({ monotonic: clock.now, burst: 2, perSecond: 1 }) },
    );
    expect(await review('not-a-service-account-token', FROM)).toMatchObject({ ok: false, status: 401 });
    await review(token(1), FROM);
    await review(token(2), FROM);
    await expect(review(token(3), FROM)).rejects.toThrow(ReviewsExhaustedError);
    expect(calls).toBe(2);
  });
});
