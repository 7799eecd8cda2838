import type { FastifyInstance } from 'fastify';
import { createScrapeCache } from '../telemetry/scrape-cache.ts';

/**
 * `/metrics` answers one admin listener writes at once. A client that reads its answer slowly holds
 * the exposition it was given (22 MB at 100 000 keys) until it is done, and renders a few seconds
 * apart are different buffers: without a bound, slow scrapers on the admin listener's 256 connections
 * could hold hundreds of them. Prometheus scrapes a target once per interval (an HA pair twice); the
 * ninth concurrent scrape is answered 503 and Prometheus tries again on its next interval.
 */
export const MAX_SCRAPES_IN_FLIGHT = 8;

/**
 * The admin listeners' `/metrics` (the proxy's, `serve`'s and the operator's): one shared render
 * (createScrapeCache) and at most MAX_SCRAPES_IN_FLIGHT answers being written.
 */
export function registerMetricsRoute(
  app: FastifyInstance,
  opts: {
    readonly render: () => Promise<string>;
    readonly contentType: string;
    /** A monotonic clock in ms, by which renders are timed (createScrapeCache). */
    readonly now: () => number;
    readonly maxInFlight?: number;
  },
): void {
  const cache = createScrapeCache(opts.render, opts.now);
  const maxInFlight = opts.maxInFlight ?? MAX_SCRAPES_IN_FLIGHT;
  let inFlight = 0;
  app.get('/metrics', async (_req, reply) => {
    if (inFlight >= maxInFlight)
      return reply
        .code(503)
        .header('retry-after', '1')
        .send({ error: `more than ${maxInFlight} scrapes at once; try again` });
    inFlight++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      inFlight--;
    };
    // Written or abandoned, the answer no longer holds its exposition.
    reply.raw.once('close', release);
    try {
      const body = await cache.get();
      return reply.header('content-type', opts.contentType).send(body);
    } catch (err) {
      release();
      throw err;
    }
  });
}
