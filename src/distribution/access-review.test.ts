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

/** Shaped as a ServiceAccount token (a JWT): anything else is refused unreviewed. */
const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl';

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
    expect(await review(TOKEN)).toEqual({ ok: false, status: 401, message });
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
    expect(await review(TOKEN)).toEqual(expected);
    expect(await review(TOKEN)).toEqual(expected);
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
    expect(await review('not-a-service-account-token')).toMatchObject({ ok: false, status: 401 });
    const junk = (i: number) => TOKEN.replace('c2ln', `c2ln${i}`);
    await review(junk(1));
    await review(junk(2));
    await expect(review(junk(3))).rejects.toThrow(ReviewsExhaustedError);
    expect(calls).toBe(2);
  });
});
