import { describe, expect, it } from 'vitest';
import { fixedClock } from '../clock.ts';
import { createScrapeCache } from './scrape-cache.ts';

/** A render the test finishes by hand, taking `costMs` of the clock's time when it does. */
function heldRender(clock: ReturnType<typeof fixedClock>, costMs: number) {
  const pending: (() => void)[] = [];
  let renders = 0;
  const render = () =>
    new Promise<string>((resolve) => {
      renders++;
      pending.push(() => {
        clock.advance(costMs);
        resolve(`exposition ${renders}\n`);
      });
    });
  return {
    render,
    renders: () => renders,
    finish: () => {
      for (const f of pending.splice(0)) f();
    },
  };
}

describe('a shared /metrics render', () => {
  it('renders once for scrapers that arrive while it renders, and hands them all the same bytes', async () => {
    const clock = fixedClock(0);
    const held = heldRender(clock, 100);
    const cache = createScrapeCache(held.render, clock.now);
    const scrapes = Array.from({ length: 16 }, () => cache.get());
    held.finish();
    const bodies = await Promise.all(scrapes);
    expect(held.renders()).toBe(1);
    expect(new Set(bodies).size).toBe(1);
    expect(bodies[0]!.toString()).toBe('exposition 1\n');
  });

  it('reuses a render until nine times its duration has passed, then renders again', async () => {
    const clock = fixedClock(0);
    const held = heldRender(clock, 100);
    const cache = createScrapeCache(held.render, clock.now);
    const first = cache.get();
    held.finish();
    await first;
    clock.advance(899);
    expect((await cache.get()).toString()).toBe('exposition 1\n');
    expect(held.renders()).toBe(1);
    clock.advance(1);
    const next = cache.get();
    held.finish();
    expect((await next).toString()).toBe('exposition 2\n');
  });

  it('does not keep a failed render: the next scrape renders again', async () => {
    const clock = fixedClock(0);
    let calls = 0;
    const cache = createScrapeCache(async () => {
      calls++;
      if (calls === 1) throw new Error('collect failed');
      return 'ok\n';
    }, clock.now);
    await expect(cache.get()).rejects.toThrow('collect failed');
    expect((await cache.get()).toString()).toBe('ok\n');
  });
});
