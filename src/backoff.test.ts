import { describe, expect, it } from 'vitest';
import { backoffDelay } from './backoff.ts';

describe('backoffDelay', () => {
  it.each([
    ['the first retry waits the initial delay', 1, 200],
    ['each retry doubles it', 3, 800],
    ['it never exceeds the cap', 30, 30_000],
  ])('%s', (_n, attempt, expected) => {
    expect(backoffDelay(attempt, { initialMs: 200, maxMs: 30_000, jitter: 0.2, random: () => 0 })).toBe(
      expected,
    );
  });

  it('takes jitter off the top, never above the step', () => {
    expect(backoffDelay(1, { initialMs: 1_000, maxMs: 5_000, jitter: 0.2, random: () => 1 })).toBe(800);
  });

  it('without jitter is the plain doubling schedule and draws no random number', () => {
    const random = () => {
      throw new Error('no random number needed');
    };
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, { initialMs: 250, maxMs: 2_000, random }))).toEqual([
      250, 500, 1_000, 2_000, 2_000, 2_000,
    ]);
  });
});
