import { describe, expect, it } from 'vitest';
import { KeyShare, type ShareWaiter } from './key-share.ts';

/** A waiter that records, in `started`, the order calls were handed to the pool. */
function waiters(started: string[]) {
  return (name: string): ShareWaiter => ({ start: () => void started.push(name) });
}

describe('KeyShare: a vault key holds at most its share of an origin', () => {
  it("starts a key's calls up to its share, queues the rest in order, and leaves other keys untouched", () => {
    const started: string[] = [];
    const w = waiters(started);
    const share = new KeyShare(2);
    const [a1, a2, a3, a4, b1] = [w('a1'), w('a2'), w('a3'), w('a4'), w('b1')];
    share.enter('a', a1);
    share.enter('a', a2);
    share.enter('a', a3);
    share.enter('a', a4);
    share.enter('b', b1);
    expect(started).toEqual(['a1', 'a2', 'b1']);
    expect([share.held('a'), share.waiting('a'), share.held('b')]).toEqual([2, 2, 1]);
    share.leave('a', a2);
    expect(started).toEqual(['a1', 'a2', 'b1', 'a3']);
    expect([share.held('a'), share.waiting('a')]).toEqual([2, 1]);
  });

  it('withdraws a waiting call without freeing a slot, and forgets a key with nothing left', () => {
    const started: string[] = [];
    const w = waiters(started);
    const share = new KeyShare(1);
    const [a1, a2, a3] = [w('a1'), w('a2'), w('a3')];
    share.enter('a', a1);
    share.enter('a', a2);
    share.enter('a', a3);
    share.leave('a', a2);
    expect([share.held('a'), share.waiting('a')]).toEqual([1, 1]);
    share.leave('a', a1);
    expect(started).toEqual(['a1', 'a3']);
    share.leave('a', a3);
    expect([share.held('a'), share.waiting('a')]).toEqual([0, 0]);
    share.enter('a', w('a4'));
    expect(started).toEqual(['a1', 'a3', 'a4']);
  });

  it('counts a slot before starting, so a call that fails as it starts can leave at once', () => {
    const share = new KeyShare(1);
    const failing: ShareWaiter = { start: () => share.leave('a', failing) };
    share.enter('a', failing);
    expect(share.held('a')).toBe(0);
    const started: string[] = [];
    share.enter('a', waiters(started)('a2'));
    expect(started).toEqual(['a2']);
  });
});
