import { describe, expect, it, vi } from 'vitest';
import { fixedClock } from '../clock.ts';
import { ReviewBudget } from './review-budget.ts';

const PROXY = '10.0.0.5';
const ATTACKER = '10.0.0.66';
const takes = (budget: ReviewBudget, source: string, n: number) =>
  Array.from({ length: n }, () => budget.take(source));

describe('the budget of TokenReviews', () => {
  it('gives its burst at once, then one review per 1/perSecond, never more than its burst', () => {
    const clock = fixedClock(0);
    const budget = new ReviewBudget({ monotonic: clock.now, burst: 3, perSecond: 2 });
    expect(takes(budget, PROXY, 4)).toEqual([true, true, true, false]);
    clock.advance(499);
    expect(budget.take(PROXY)).toBe(false);
    clock.advance(1);
    expect(takes(budget, PROXY, 2)).toEqual([true, false]);
    clock.advance(60_000);
    expect(takes(budget, PROXY, 4)).toEqual([true, true, true, false]);
  });

  // Sixth round: it refilled by the wall clock, so a step forward of a day refilled it whole at once.
  it('refills by the monotonic clock, whatever the wall clock does', () => {
    const monotonic = fixedClock(0);
    vi.useFakeTimers({ toFake: ['Date'], now: Date.parse('2026-12-01T12:00:00Z') });
    try {
      const budget = new ReviewBudget({ monotonic: monotonic.now, burst: 2, perSecond: 1 });
      expect(takes(budget, PROXY, 3)).toEqual([true, true, false]);
      vi.setSystemTime(Date.parse('2026-12-02T12:00:00Z'));
      expect(budget.take(PROXY)).toBe(false);
      monotonic.advance(1_000);
      expect(takes(budget, PROXY, 2)).toEqual([true, false]);
    } finally {
      vi.useRealTimers();
    }
  });

  // Sixth round: junk from one address took the whole budget, and a new proxy got 503 for 15 s.
  it('gives one address its share and no more, leaving the rest to the others', () => {
    const clock = fixedClock(0);
    const budget = new ReviewBudget({ monotonic: clock.now, sourceBurst: 10, sourcePerSecond: 2 });
    expect(takes(budget, ATTACKER, 11)).toEqual([...Array(10).fill(true), false]);
    expect(budget.take(PROXY)).toBe(true);
    clock.advance(500);
    expect(takes(budget, ATTACKER, 2)).toEqual([true, false]);
  });

  it("takes from an address's share only what the budget gives, and holds a local address to the budget alone", () => {
    const clock = fixedClock(0);
    const budget = new ReviewBudget({
      monotonic: clock.now,
      burst: 4,
      perSecond: 1,
      sourceBurst: 2,
      sourcePerSecond: 0,
    });
    expect(takes(budget, ATTACKER, 3)).toEqual([true, true, false]);
    expect(takes(budget, '10.0.0.9', 2)).toEqual([true, true]);
    expect(budget.take(PROXY)).toBe(false);
    // The refused take cost PROXY nothing of its share (which does not refill): both reviews are left.
    clock.advance(2_000);
    expect(takes(budget, PROXY, 3)).toEqual([true, true, false]);
    // Many clients behind one local address (a mesh sidecar): no share of one address, the budget alone.
    clock.advance(4_000);
    expect(takes(budget, '127.0.0.6', 5)).toEqual([true, true, true, true, false]);
  });

  it('keeps its reserve from addresses refused and never vouched for, not from the others', () => {
    const budget = new ReviewBudget({
      monotonic: fixedClock(0).now,
      burst: 10,
      reserve: 4,
      sourceBurst: 100,
    });
    expect(budget.take(ATTACKER)).toBe(true);
    budget.settle(ATTACKER, false);
    expect(takes(budget, ATTACKER, 6)).toEqual([true, true, true, true, true, false]);
    // Never refused: a proxy, and an address not seen yet.
    expect(budget.take(PROXY)).toBe(true);
    expect(budget.take('10.0.0.9')).toBe(true);
    // Refused once but vouched for by an accepted token (a proxy that once sent a stale one).
    budget.settle(PROXY, false);
    budget.settle(PROXY, true);
    expect(takes(budget, PROXY, 3)).toEqual([true, true, false]);
  });

  it('remembers a bounded number of addresses, the least recently seen forgotten first', () => {
    const budget = new ReviewBudget({
      monotonic: fixedClock(0).now,
      burst: 1_000,
      maxSources: 3,
      sourceBurst: 1,
    });
    for (const a of ['10.0.1.1', '10.0.1.2', '10.0.1.3']) expect(budget.take(a)).toBe(true);
    expect(budget.take('10.0.1.1')).toBe(false); // seen again: .2 is now the oldest
    expect(budget.take('10.0.1.4')).toBe(true);
    expect(budget.sources).toBe(3);
    expect(budget.take('10.0.1.1')).toBe(false);
    expect(budget.take('10.0.1.2')).toBe(true); // forgotten, so a full share again
  });
});
