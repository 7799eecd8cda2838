import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { HeldAnswers } from './held-answers.ts';

/** A response being written: `close()` is node handing it whole to the kernel, or the connection gone. */
function response(closed = false) {
  const res = Object.assign(new EventEmitter(), { closed });
  return {
    res: res as unknown as ServerResponse,
    close() {
      res.closed = true;
      res.emit('close');
    },
  };
}

describe('HeldAnswers: answers held for clients, and which keys may call', () => {
  it('admits every key below the bound, however much one of them holds', () => {
    const held = new HeldAnswers(100);
    held.holdUntilClosed(response().res, 'agents/a', 99);
    expect(held.bytes).toBe(99);
    expect(held.admits('agents/a')).toBe(true);
  });

  it('past the bound refuses the key holding at least an equal share, and admits one holding less or none', () => {
    const held = new HeldAnswers(100);
    for (let i = 0; i < 3; i++) held.holdUntilClosed(response().res, 'agents/greedy', 40);
    held.holdUntilClosed(response().res, 'agents/honest', 10);
    // 130 held by two keys: a share of 50 each.
    expect(held.admits('agents/greedy')).toBe(false);
    expect(held.admits('agents/honest')).toBe(true);
    expect(held.admits('agents/idle')).toBe(true);
  });

  it('refuses the only key holding answers once it holds the bound: its next call waits for them', () => {
    const held = new HeldAnswers(100);
    held.holdUntilClosed(response().res, 'agents/a', 60);
    expect(held.admits('agents/a')).toBe(true);
    held.holdUntilClosed(response().res, 'agents/a', 40);
    expect(held.admits('agents/a')).toBe(false);
  });

  it('gives the bytes back when the response closes, and forgets a key that holds nothing', () => {
    const held = new HeldAnswers(100);
    const first = response();
    const second = response();
    held.holdUntilClosed(first.res, 'agents/a', 90);
    held.holdUntilClosed(second.res, 'agents/b', 20);
    expect(held.admits('agents/a')).toBe(false);
    first.close();
    expect(held.bytes).toBe(20);
    // Below the bound again, and a no longer counts as a holder: b alone holds answers.
    expect(held.admits('agents/a')).toBe(true);
    held.holdUntilClosed(response().res, 'agents/b', 80);
    expect(held.admits('agents/b')).toBe(false);
    expect(held.admits('agents/a')).toBe(true);
    second.close();
    expect(held.bytes).toBe(80);
  });

  it("counts no empty answer: a key holding none is not a holder shrinking the others' shares", () => {
    const held = new HeldAnswers(100);
    held.holdUntilClosed(response().res, 'agents/a', 60);
    held.holdUntilClosed(response().res, 'agents/b', 0);
    held.holdUntilClosed(response().res, 'agents/a', 50);
    held.holdUntilClosed(response().res, 'agents/c', 45);
    // 155 held by a and c: a share of 50 each, c under it (were b a holder too, 33).
    expect(held.admits('agents/c')).toBe(true);
    expect(held.admits('agents/a')).toBe(false);
  });

  it('holds nothing for a response closed already: its connection went while the call was at the vendor', () => {
    const held = new HeldAnswers(100);
    held.holdUntilClosed(response(true).res, 'agents/a', 500);
    expect(held.bytes).toBe(0);
    expect(held.admits('agents/a')).toBe(true);
  });
});
