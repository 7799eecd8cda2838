import { describe, expect, it } from 'vitest';
import { fixedClock } from '../clock.ts';
import { ReviewBudget } from './review-budget.ts';

describe('the budget of TokenReviews', () => {
  it('gives its burst at once, then one review per 1/perSecond, never more than its burst', () => {
    const clock = fixedClock(0);
    const budget = new ReviewBudget(clock, 3, 2);
    expect([budget.take(), budget.take(), budget.take(), budget.take()]).toEqual([true, true, true, false]);
    clock.advance(499);
    expect(budget.take()).toBe(false);
    clock.advance(1);
    expect([budget.take(), budget.take()]).toEqual([true, false]);
    clock.advance(60_000);
    expect([budget.take(), budget.take(), budget.take(), budget.take()]).toEqual([true, true, true, false]);
  });
});
