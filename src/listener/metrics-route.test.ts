import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_SCRAPES_IN_FLIGHT, registerMetricsRoute } from './metrics-route.ts';

/** A signal the test awaits and the code under test gives. */
function signal() {
  let give: () => void = () => {};
  const given = new Promise<void>((resolve) => {
    give = resolve;
  });
  return { give, given };
}

describe('the admin listeners /metrics route', () => {
  const app = Fastify();
  afterEach(() => app.close());

  it(`answers 503 past ${MAX_SCRAPES_IN_FLIGHT} scrapes being answered, and takes scrapes again once they are`, async () => {
    // Each render waits for the test to finish it with the text it returns.
    const renders: ((text: string) => void)[] = [];
    let renderStarted = signal();
    registerMetricsRoute(app, {
      render: () =>
        new Promise((resolve) => {
          renders.push(resolve);
          renderStarted.give();
        }),
      contentType: 'text/plain; version=0.0.4; charset=utf-8',
      // A render takes no time: a scrape after the held ones renders anew.
      now: () => 0,
    });
    const arrived = signal();
    let arrivals = 0;
    app.addHook('preHandler', async () => {
      if (++arrivals === MAX_SCRAPES_IN_FLIGHT) arrived.give();
    });
    const url = `${await app.listen({ host: '127.0.0.1', port: 0 })}/metrics`;

    const held = Array.from({ length: MAX_SCRAPES_IN_FLIGHT }, () => fetch(url));
    await Promise.all([renderStarted.given, arrived.given]);
    // The last one's handler runs after its hook, within this turn.
    await new Promise(setImmediate);
    const refused = await fetch(url);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');

    renders[0]!('keybrake_snapshot_version 3\n');
    for (const res of await Promise.all(held)) {
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      expect(await res.text()).toBe('keybrake_snapshot_version 3\n');
    }
    expect(renders).toHaveLength(1);

    renderStarted = signal();
    const again = fetch(url);
    await renderStarted.given;
    renders[1]!('keybrake_snapshot_version 4\n');
    expect(await (await again).text()).toBe('keybrake_snapshot_version 4\n');
  });
});
