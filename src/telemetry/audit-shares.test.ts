import { describe, expect, it } from 'vitest';
import { AuditShares, admitsKey, type KeyTally } from './audit-shares.ts';

describe('admitsKey', () => {
  it.each([
    ['any key below the bound, even the one holding all of it', 99, 100, 99, 1, true],
    ['the only key holding records, at the bound', 100, 100, 100, 1, false],
    ['a key holding nothing, past the bound', 150, 100, 0, 3, true],
    ['a key under an equal share among the holders', 150, 100, 49, 2, true],
    ['a key at an equal share', 150, 100, 50, 2, false],
    ['a key past its share among many holders', 100, 100, 11, 10, false],
  ])('%s', (_name, held, bound, mine, holders, admitted) => {
    expect(admitsKey(held, bound, mine, holders)).toBe(admitted);
  });
});

describe('AuditShares', () => {
  it("counts a key's records until the stream has taken them, and the key as a holder only while it holds some", () => {
    const shares = new AuditShares();
    const first: KeyTally = new Map();
    const second: KeyTally = new Map();
    shares.add(first, 'agents/a', 60);
    shares.add(first, 'agents/b', 10);
    shares.add(second, 'agents/b', 30);
    expect(first).toEqual(
      new Map([
        ['agents/a', 60],
        ['agents/b', 10],
      ]),
    );
    // Past the bound of 100: two holders, a share of 50 each.
    expect(shares.admits('agents/a', 100, 100)).toBe(false);
    expect(shares.admits('agents/b', 100, 100)).toBe(true);
    shares.taken(first);
    // b alone holds records now, all 30 of them: at a bound of 30 it is refused, a is not.
    expect(shares.admits('agents/b', 30, 30)).toBe(false);
    expect(shares.admits('agents/a', 30, 30)).toBe(true);
    shares.taken(second);
    // Keys whose records were all taken no longer shrink the shares of those holding some.
    const third: KeyTally = new Map();
    shares.add(third, 'agents/x', 10);
    shares.add(third, 'agents/y', 30);
    expect(shares.admits('agents/x', 40, 40)).toBe(true);
    expect(shares.admits('agents/y', 40, 40)).toBe(false);
  });
});
