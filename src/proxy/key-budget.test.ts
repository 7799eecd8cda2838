import { describe, expect, it } from 'vitest';
import { KeyBudget } from './key-budget.ts';

describe('KeyBudget: what one vault key, and every key, may hold at the upstreams', () => {
  it("refuses a key's call past its count of calls, and takes it again once one is given back", () => {
    const budget = new KeyBudget({ callsPerKey: 2, bytesPerKey: 1_000, bytes: 10_000 });
    expect([budget.take('a', 0), budget.take('a', 0)]).toEqual([undefined, undefined]);
    expect(budget.take('a', 0)).toBe('key_calls');
    // Another key is not held to the first one's count.
    expect(budget.take('b', 0)).toBeUndefined();
    budget.give('a', 0);
    expect(budget.take('a', 0)).toBeUndefined();
    expect([budget.calls('a'), budget.calls('b')]).toEqual([2, 1]);
  });

  it("refuses a key's call whose body would take its calls past their bytes, not one that fits", () => {
    const budget = new KeyBudget({ callsPerKey: 10, bytesPerKey: 1_000, bytes: 10_000 });
    expect(budget.take('a', 600)).toBeUndefined();
    expect(budget.take('a', 401)).toBe('key_bytes');
    expect(budget.take('a', 400)).toBeUndefined();
    expect(budget.take('a', 1)).toBe('key_bytes');
    budget.give('a', 600);
    expect(budget.take('a', 600)).toBeUndefined();
    expect(budget.bytes).toBe(1_000);
  });

  it('refuses a call past the bytes of every key together, but never the only call of its key', () => {
    const budget = new KeyBudget({ callsPerKey: 10, bytesPerKey: 1_000, bytes: 1_500 });
    expect([budget.take('a', 1_000), budget.take('b', 400)]).toEqual([undefined, undefined]);
    expect(budget.take('b', 101)).toBe('bytes');
    // A key with nothing at the upstreams has its call taken whatever the others hold, and even
    // one larger than a key's bytes: the listener's --max-body bounds it.
    expect(budget.take('c', 2_000)).toBeUndefined();
    expect(budget.bytes).toBe(3_400);
    expect(budget.take('c', 1)).toBe('key_bytes');
    budget.give('c', 2_000);
    budget.give('a', 1_000);
    expect(budget.take('b', 101)).toBeUndefined();
    expect(budget.bytes).toBe(501);
  });

  it('forgets a key with nothing left, and ignores a give for a key it does not hold', () => {
    const budget = new KeyBudget({ callsPerKey: 1, bytesPerKey: 100, bytes: 1_000 });
    expect(budget.take('a', 100)).toBeUndefined();
    budget.give('a', 100);
    budget.give('a', 100);
    expect([budget.calls('a'), budget.bytes]).toEqual([0, 0]);
    expect(budget.take('a', 100)).toBeUndefined();
  });
});
