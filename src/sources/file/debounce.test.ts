import { describe, expect, it } from 'vitest';
import { createDebounce } from './debounce.ts';

/** A clock and timers the test moves by hand. */
function manualTime() {
  let now = 0;
  const timers = new Set<{ at: number; run: () => void }>();
  return {
    now: () => now,
    schedule(delayMs: number, run: () => void) {
      const t = { at: now + delayMs, run };
      timers.add(t);
      return { cancel: () => timers.delete(t) };
    },
    advance(ms: number) {
      const end = now + ms;
      for (;;) {
        const next = [...timers].filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
        if (!next) break;
        timers.delete(next);
        now = next.at;
        next.run();
      }
      now = end;
    },
  };
}

describe('createDebounce', () => {
  it('runs once, quietMs after the last of a short burst', () => {
    const time = manualTime();
    let runs = 0;
    const d = createDebounce(() => runs++, { quietMs: 100, maxWaitMs: 250, ...time });
    d.poke();
    time.advance(50);
    d.poke();
    time.advance(99);
    expect(runs).toBe(0);
    time.advance(1);
    expect(runs).toBe(1);
    time.advance(1000);
    expect(runs).toBe(1);
  });

  it('runs maxWaitMs after the first event of a burst that never stops', () => {
    const time = manualTime();
    const runsAt: number[] = [];
    const d = createDebounce(() => runsAt.push(time.now()), { quietMs: 100, maxWaitMs: 250, ...time });
    // An event every 20 ms for 1 s: without a maximum wait, nothing would run until it stops.
    for (let t = 0; t < 1000; t += 20) {
      d.poke();
      time.advance(20);
    }
    expect(runsAt[0]).toBe(250);
    expect(runsAt.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < runsAt.length; i++) expect(runsAt[i]! - runsAt[i - 1]!).toBeLessThanOrEqual(270);
  });

  it('flush runs at once and cancel drops what is pending', () => {
    const time = manualTime();
    let runs = 0;
    const d = createDebounce(() => runs++, { quietMs: 100, maxWaitMs: 250, ...time });
    d.poke();
    d.flush();
    expect(runs).toBe(1);
    time.advance(1000);
    expect(runs).toBe(1);
    d.poke();
    d.cancel();
    time.advance(1000);
    expect(runs).toBe(1);
  });
});
