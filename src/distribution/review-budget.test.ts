import { describe, expect, it, vi } from 'vitest';
import { fixedClock } from '../clock.ts';
import { ReviewBudget } from './review-budget.ts';

describe('the budget of TokenReviews', () => {
  it('gives its burst at once, then one review per 1/perSecond, never more than its burst', () => {
    const clock = fixedClock(0);
    const budget = new ReviewBudget({ monotonic: clock.now, burst: 3, perSecond: 2 });
    expect([budget.take(), budget.take(), budget.take(), budget.take()]).toEqual([true, true, true, false]);
    clock.advance(499);
    expect(budget.take()).toBe(false);
    clock.advance(1);
    expect([budget.take(), budget.take()]).toEqual([true, false]);
    clock.advance(60_000);
    expect([budget.take(), budget.take(), budget.take(), budget.take()]).toEqual([true, true, true, false]);
  });

  // Sixth round: it refilled by the wall clock, so a step forward of a day refilled it whole at once.
  it('refills by the monotonic clock, whatever the wall clock does', () => {
    const monotonic = fixedClock(0);
    vi.useFakeTimers({ toFake: ['Date'], now: Date.parse('2026-12-01T12:00:00Z') });
    try {
      const budget = new ReviewBudget({ monotonic: monotonic.now, burst: 2, perSecond: 1 });
      expect([budget.take(), budget.take(), budget.take()]).toEqual([true, true, false]);
      vi.setSystemTime(Date.parse('2026-12-02T12:00:00Z'));
      expect(budget.take()).toBe(false);
      monotonic.advance(1_000);
      expect([budget.take(), budget.take()]).toEqual([true, false]);
    } finally {
      vi.useRealTimers();
    }
  });
});
