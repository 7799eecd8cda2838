import { describe, expect, it } from 'vitest';
import { fixedClock } from '../clock.ts';
import { LOOKUP_READ_BURST, LookupReads } from './lookup-reads.ts';
import { MAX_LOOKUP_READS } from './stages/price.ts';

const takeAll = (reads: LookupReads, scope: string) => {
  let n = 0;
  while (reads.take(scope)) n++;
  return n;
};

describe('lookup reads: a token bucket per vault key, on the injected clock', () => {
  it('holds one longest lookup chain when full', () => {
    expect(LOOKUP_READ_BURST).toBeGreaterThanOrEqual(MAX_LOOKUP_READS);
  });

  it('gives a key its burst, then its rate, and never more than the burst however long it idles', () => {
    const clock = fixedClock('2026-12-01T00:00:00Z');
    const reads = new LookupReads(clock, 10, 20);

    expect(takeAll(reads, 'a')).toBe(20);
    clock.advance(500);
    expect(takeAll(reads, 'a')).toBe(5);
    clock.advance(3_600_000);
    expect(takeAll(reads, 'a')).toBe(20);
  });

  it("keeps each key's bucket apart: one key's reads leave another's untouched", () => {
    const reads = new LookupReads(fixedClock('2026-12-01T00:00:00Z'), 10, 20);

    expect(takeAll(reads, 'a')).toBe(20);
    expect(takeAll(reads, 'b')).toBe(20);
  });

  it('refills nothing when the clock steps back', () => {
    const clock = fixedClock('2026-12-01T00:00:00Z');
    const reads = new LookupReads(clock, 10, 20);
    takeAll(reads, 'a');

    clock.advance(-10_000);
    expect(reads.take('a')).toBe(false);
    clock.advance(10_000);
    expect(reads.take('a')).toBe(false);
  });

  it('forgets only keys whose bucket has refilled when it tracks many', () => {
    const clock = fixedClock('2026-12-01T00:00:00Z');
    const reads = new LookupReads(clock, 1, 2);
    takeAll(reads, 'spent');
    for (let i = 0; i < 5000; i++) reads.take(`k${i}`);

    expect(reads.take('spent')).toBe(false);
  });
});
