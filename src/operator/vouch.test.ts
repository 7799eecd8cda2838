import { describe, expect, it } from 'vitest';
import { vouchedCurrentAt } from './vouch.ts';

const NOW = 100_000;
const RETRY = 2_000;

describe('vouchedCurrentAt', () => {
  it('is the informers’ own moment while the last renewal is within the retry period', () => {
    expect(vouchedCurrentAt(NOW, NOW, 0, RETRY)).toBe(NOW);
    expect(vouchedCurrentAt(NOW, NOW, RETRY, RETRY)).toBe(NOW);
    expect(vouchedCurrentAt(NOW - 7_000, NOW, 1_500, RETRY)).toBe(NOW - 7_000);
  });

  // Ninth round: the API server's connections silent, the watches counted as current (lag 0) until
  // the leader stepped down; its proxies aged their tables from then, not from the silence.
  it('goes no later than the retry period past a stale renewal, however current the informers say they are', () => {
    const renewedAt = NOW - 8_000;
    expect(vouchedCurrentAt(NOW, NOW, NOW - renewedAt, RETRY)).toBe(renewedAt + RETRY);
    // The lag the heartbeat carries grows with the time since the renewal, by the operator's clock.
    expect(NOW - vouchedCurrentAt(NOW, NOW, 8_000, RETRY)!).toBe(6_000);
    expect(vouchedCurrentAt(NOW - 30_000, NOW, 8_000, RETRY)).toBe(NOW - 30_000);
  });

  it('vouches for nothing before the first renewal or the first list', () => {
    expect(vouchedCurrentAt(NOW, NOW, Number.POSITIVE_INFINITY, RETRY)).toBeUndefined();
    expect(vouchedCurrentAt(undefined, NOW, 0, RETRY)).toBeUndefined();
  });
});
