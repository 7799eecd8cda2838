import { describe, expect, it } from 'vitest';
import { Liveness } from './liveness.ts';

function clock() {
  let t = 1_000;
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

function liveness(idleMs = 25) {
  const c = clock();
  return { c, l: new Liveness({ idleMs, now: c.now }) };
}

describe('Liveness', () => {
  it('answers while every command is answered, late ones included', () => {
    const { l } = liveness();
    const a = l.sent();
    const b = l.sent();
    l.overdue(a);
    expect(l.answering()).toBe(false);
    l.answered(a);
    expect(l.answering()).toBe(true);
    l.answered(b);
    l.overdue(b); // a deadline that fires after the answer is no news
    expect(l.answering()).toBe(true);
  });

  it('counts an error reply as an answer, and a command that failed before its deadline as nothing', () => {
    const { l } = liveness();
    l.answered(l.sent());
    const refused = l.sent();
    l.unanswered(refused);
    l.overdue(refused);
    expect(l.answering()).toBe(true);
  });

  it('stays not answering after the client gives up on an overdue command, until a later probe answers', () => {
    const { l } = liveness();
    const hung = l.sent();
    l.overdue(hung);
    l.unanswered(hung); // the client's own timeout: still no answer from Redis
    expect(l.answering()).toBe(false);
    const command = l.sent();
    l.answered(command); // an ordinary command may have gone to another node
    expect(l.answering()).toBe(false);
    const probe = l.sent(true);
    l.answered(probe, true);
    expect(l.answering()).toBe(true);
  });

  it('is not answering after a probe failed, until one answers or a new connection is made', () => {
    const { l } = liveness();
    l.unanswered(l.sent(true), true);
    expect(l.answering()).toBe(false);
    l.reset();
    expect(l.answering()).toBe(true);
    l.unanswered(l.sent(true), true);
    l.answered(l.sent(true), true);
    expect(l.answering()).toBe(true);
  });

  it('forgets what was outstanding on the old connection when a new one is made', () => {
    const { l } = liveness();
    const a = l.sent();
    l.overdue(a);
    l.reset();
    expect(l.answering()).toBe(true);
    l.unanswered(a);
    expect(l.answering()).toBe(true);
  });

  it('keeps no more than what is in flight during a long hang, and answers again after a later probe', () => {
    const { c, l } = liveness(25);
    // A hang of two minutes, a command every ms: each goes overdue at 50 ms and is given up on by
    // the client at 500 ms (ioredis's commandTimeout), none ever answered; probes fail the same way.
    const inFlight: { id: number; sentAt: number; probe: boolean }[] = [];
    let notOverdue = 0; // inFlight[notOverdue..] are not overdue yet
    let highest = 0;
    for (let ms = 0; ms < 120_000; ms++) {
      c.advance(1);
      const probe = l.wantsProbe();
      inFlight.push({ id: l.sent(probe), sentAt: ms, probe });
      while (inFlight[notOverdue]!.sentAt <= ms - 50) l.overdue(inFlight[notOverdue++]!.id);
      while (inFlight[0]!.sentAt <= ms - 500) {
        const given = inFlight.shift()!;
        notOverdue--;
        l.unanswered(given.id, given.probe);
      }
      highest = Math.max(highest, l.tracked);
      if (l.answering() !== ms < 50) expect.fail(`answering ${l.answering()} at ${ms} ms`);
    }
    expect(highest).toBeLessThanOrEqual(501);
    for (const command of inFlight) l.unanswered(command.id, command.probe);
    expect(l.tracked).toBe(0);
    expect(l.answering()).toBe(false);
    l.answered(l.sent()); // an ordinary command may have gone to another node
    expect(l.answering()).toBe(false);
    l.answered(l.sent(true), true);
    expect(l.answering()).toBe(true);
  });

  it('after a probe, stays not answering for a command given up on that was sent after it', () => {
    const { l } = liveness();
    const before = l.sent();
    const probe = l.sent(true);
    const after = l.sent();
    for (const id of [before, after]) {
      l.overdue(id);
      l.unanswered(id);
    }
    l.answered(probe, true);
    expect(l.answering()).toBe(false);
    l.answered(l.sent(true), true);
    expect(l.answering()).toBe(true);
  });

  it('wants a probe once nothing answered for idleMs, and only one at a time', () => {
    const { c, l } = liveness(25);
    expect(l.wantsProbe()).toBe(false);
    c.advance(24);
    l.answered(l.sent());
    c.advance(24);
    expect(l.wantsProbe()).toBe(false);
    c.advance(1);
    expect(l.wantsProbe()).toBe(true);
    const probe = l.sent(true);
    c.advance(100);
    expect(l.wantsProbe()).toBe(false);
    l.unanswered(probe, true);
    expect(l.wantsProbe()).toBe(true);
    l.answered(l.sent(true), true);
    expect(l.wantsProbe()).toBe(false);
  });
});
