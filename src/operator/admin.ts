import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { createBoundedServer } from '../listener/bounded-server.ts';
import { adminLimits, type ListenerLimits } from '../listener/limits.ts';
import { registerMetricsRoute } from '../listener/metrics-route.ts';
import type { Log } from '../telemetry/logger.ts';

/**
 * The operator's admin listener: `/metrics`, `/healthz` (alive), `/readyz` (200 on the leader only,
 * so "exactly one leader" can be checked from outside) and `/readyz?standby=ok` (200 on a standby
 * too: the readiness probe, which must not stall rolling updates on the standby a new Pod starts as).
 * Both readiness forms answer 503 with the problems when this replica could not lead even if it won
 * the Lease: informers not synced, the Lease namespace missing or forbidden, the revocation ledger
 * unreadable. A problem is named, never just "standby". On a connection that reached a loopback
 * address, whatever its bind, it answers only requests addressed to an IP address or localhost
 * (loopback-host.ts: DNS rebinding).
 */
export function createOperatorAdmin(deps: {
  registry: Registry;
  /** Series rendered apart from the registry and written after it (Operator.keySpendSeries). */
  moreSeries?: () => Promise<string>;
  /** A monotonic clock in ms (default performance.now) timing renders, for how long one is shared (createScrapeCache). */
  monotonic?: () => number;
  isLeader: () => boolean;
  version: () => number;
  /** What keeps this replica from leading, in words a user can act on; empty when nothing does. */
  problems?: () => readonly string[];
  /** Held to these like the snapshot listener, with the admin listeners' small connection cap. */
  limits: ListenerLimits;
  log: Log;
}): FastifyInstance {
  const app = Fastify({
    logger: false,
    serverFactory: (handler) =>
      createBoundedServer(
        adminLimits(deps.limits),
        { listener: 'admin', log: deps.log, refuseRebinding: true },
        handler,
      ),
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get<{ Querystring: { standby?: string } }>('/readyz', async (req, reply) => {
    const snapshotVersion = deps.version();
    const problems = deps.problems?.() ?? [];
    if (problems.length > 0) return reply.code(503).send({ status: 'not ready', problems, snapshotVersion });
    if (deps.isLeader()) return { status: 'leading', snapshotVersion };
    if (req.query.standby === 'ok') return { status: 'standby', snapshotVersion };
    return reply.code(503).send({ status: 'standby', snapshotVersion });
  });
  const { registry, moreSeries } = deps;
  registerMetricsRoute(app, {
    render: async () => {
      const text = await registry.metrics();
      return moreSeries ? `${text}\n${await moreSeries()}` : text;
    },
    contentType: registry.contentType,
    now: deps.monotonic ?? (() => performance.now()),
  });
  return app;
}
