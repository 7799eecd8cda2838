import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { fixedClock } from '../clock.ts';
import { createLogger } from './logger.ts';
import { sourceWarning } from './source-warnings.ts';

/** A logger whose lines the test reads back, parsed. */
function capturedLog() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { log: createLogger({ destination }), lines };
}

describe('a warning per client address', () => {
  it('logs the first refusal of an address, then one line with the count per interval', () => {
    const clock = fixedClock(0);
    const { log, lines } = capturedLog();
    const warn = sourceWarning(log, 'cannot authenticate a proxy', {
      monotonic: clock.now,
      intervalMs: 10_000,
    });
    for (let i = 0; i < 500; i++) warn('10.0.0.66', { error: 'budget spent' });
    warn('10.0.0.5', { error: 'budget spent' });
    expect(lines.map((l) => [l['source'], l['refused']])).toEqual([
      ['10.0.0.66', 1],
      ['10.0.0.5', 1],
    ]);
    clock.advance(9_999);
    warn('10.0.0.66', { error: 'budget spent' });
    expect(lines).toHaveLength(2);
    clock.advance(1);
    warn('10.0.0.66', { error: 'budget spent' });
    expect(lines[2]).toMatchObject({
      msg: 'cannot authenticate a proxy',
      source: '10.0.0.66',
      refused: 501,
      error: 'budget spent',
    });
  });

  it('writes at most maxLines an interval for all addresses together, counting the rest for later', () => {
    const clock = fixedClock(0);
    const { log, lines } = capturedLog();
    const warn = sourceWarning(log, 'proxy refused', {
      monotonic: clock.now,
      intervalMs: 1_000,
      maxLines: 3,
    });
    for (let i = 0; i < 50; i++) warn(`10.0.1.${i}`, {});
    expect(lines).toHaveLength(3);
    clock.advance(1_000);
    warn('10.0.1.40', {});
    expect(lines[3]).toMatchObject({ source: '10.0.1.40', refused: 2 });
  });

  it('remembers a bounded number of addresses', () => {
    const clock = fixedClock(0);
    const { log, lines } = capturedLog();
    const warn = sourceWarning(log, 'proxy refused', { monotonic: clock.now, maxSources: 2 });
    for (const a of ['10.0.2.1', '10.0.2.2', '10.0.2.3', '10.0.2.3']) warn(a, {});
    // .1 was forgotten for .3: it is logged as new again; .3, remembered, is not.
    warn('10.0.2.1', {});
    warn('10.0.2.3', {});
    expect(lines.map((l) => l['source'])).toEqual(['10.0.2.1', '10.0.2.2', '10.0.2.3', '10.0.2.1']);
  });
});
