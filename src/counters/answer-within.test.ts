import { afterEach, describe, expect, it, vi } from 'vitest';
import { answerWithin, Overdue } from './answer-within.ts';
import { Liveness } from './liveness.ts';

function tracking() {
  const liveness = new Liveness({ idleMs: 1_000, now: () => 0 });
  const verdicts: boolean[] = [];
  return {
    liveness,
    verdicts,
    tracked: { liveness, probe: true, onVerdict: () => verdicts.push(liveness.answering()) },
  };
}

function replyError(message: string): Error {
  const err = new Error(message);
  err.name = 'ReplyError';
  return err;
}

describe('answerWithin', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('settles as the command does and tells liveness it was answered', async () => {
    const t = tracking();
    await expect(answerWithin(async () => 'PONG', 50, t.tracked)).resolves.toBe('PONG');
    expect(t.verdicts).toEqual([true]);
  });

  it('counts an error reply as an answer, and passes the error on', async () => {
    const t = tracking();
    await expect(answerWithin(() => Promise.reject(replyError('OOM')), 50, t.tracked)).rejects.toThrow('OOM');
    expect(t.verdicts).toEqual([true]);
  });

  it('counts a failure without a reply, thrown or rejected, as no answer', async () => {
    const t = tracking();
    const thrown = () => {
      throw new Error('Connection is closed.');
    };
    await expect(answerWithin(thrown, 50, t.tracked)).rejects.toThrow('Connection is closed.');
    expect(t.verdicts).toEqual([false]);
  });

  it('rejects with Overdue at the deadline and marks the command overdue', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate'] });
    const t = tracking();
    const silent = answerWithin(() => new Promise<never>(() => {}), 50, t.tracked);
    const settled = silent.then(
      () => 'resolved',
      (err: unknown) => err,
    );
    await vi.advanceTimersByTimeAsync(49);
    expect(t.verdicts).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    await vi.runOnlyPendingTimersAsync(); // the deadline's pass over I/O (setImmediate)
    expect(await settled).toBeInstanceOf(Overdue);
    expect(t.verdicts).toEqual([false]);
  });

  it('a late answer after the deadline still reaches liveness', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate'] });
    const t = tracking();
    let answer: (v: string) => void = () => {};
    const late = answerWithin(() => new Promise<string>((r) => (answer = r)), 50, t.tracked);
    late.catch(() => {});
    await vi.advanceTimersByTimeAsync(50);
    await vi.runOnlyPendingTimersAsync();
    answer('PONG');
    await vi.advanceTimersByTimeAsync(0);
    expect(t.verdicts).toEqual([false, true]);
  });

  it('untracked, only the deadline applies', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate'] });
    const silent = answerWithin(() => new Promise<never>(() => {}), 10);
    const settled = silent.then(
      () => 'resolved',
      (err: unknown) => err,
    );
    await vi.advanceTimersByTimeAsync(10);
    await vi.runOnlyPendingTimersAsync();
    expect(await settled).toBeInstanceOf(Overdue);
  });
});
