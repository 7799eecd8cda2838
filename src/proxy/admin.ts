import Fastify, { type FastifyInstance } from 'fastify';
import { Gauge } from 'prom-client';
import type { CounterStore } from '../counters/store.ts';
import { createBoundedServer } from '../listener/bounded-server.ts';
import type { ListenerLimits } from '../listener/limits.ts';
import { registerMetricsRoute } from '../listener/metrics-route.ts';
import type { SnapshotHolder } from '../snapshot/holder.ts';
import type { Log } from '../telemetry/logger.ts';
import type { ProxyMetrics } from '../telemetry/metrics.ts';
import { type RunsApiDeps, registerRunRoutes } from './runs-api.ts';

/** 1 when the counter store answered a ping at scrape time, 0 when it did not (DESIGN.md §7). */
export const COUNTER_STORE_UP = 'keybrake_counter_store_up';

/**
 * The admin listener: `/metrics`, `/healthz` (the process is alive), `/readyz` (it has a policy
 * snapshot that is fresh enough, and a new replica has read the shared stopped runs or waited
 * STOPS_READY_WAIT_MS for them). Counter-store health is deliberately not part of readiness: a Redis
 * outage taking every replica out of its Service would turn vendor-shaped 503
 * `counter_store_unavailable` answers (and reads a policy allows meanwhile) into connection errors.
 * It is the `keybrake_counter_store_up` gauge, an alert, and the per-request answer instead; /readyz
 * reports it for information only. On a connection that reached a loopback address, whatever its
 * bind, it answers only requests addressed to an IP address or localhost (loopback-host.ts: DNS
 * rebinding).
 */
export function createAdminListener(deps: {
  /** Held to these like the proxy listeners (adminLimits): a slow or idle client is cut off. */
  limits: ListenerLimits;
  log: Log;
  metrics: ProxyMetrics;
  snapshots: SnapshotHolder;
  counters: CounterStore;
  /** Why the stopped runs hold this replica back, while its first read of the shared ones is awaited. */
  stopsReadiness?: () => string | undefined;
  maxStalenessMs?: number;
  /** `keybrake serve` only: the run API (POST/DELETE /v1/runs, ADR 0010). */
  runs?: RunsApiDeps;
  /** A monotonic clock in ms (default performance.now) timing renders, for how long one is shared (createScrapeCache). */
  monotonic?: () => number;
}): FastifyInstance {
  const { registry } = deps.metrics;
  if (!registry.getSingleMetric(COUNTER_STORE_UP)) {
    new Gauge({
      name: COUNTER_STORE_UP,
      help: 'Whether the counter store answered a ping (bounded by the store timeout) at scrape time: 1 up, 0 down.',
      registers: [registry],
      async collect() {
        this.set((await deps.counters.healthy().catch(() => false)) ? 1 : 0);
      },
    });
  }
  const app = Fastify({
    logger: false,
    serverFactory: (handler) =>
      createBoundedServer(deps.limits, { listener: 'admin', log: deps.log, refuseRebinding: true }, handler),
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const problems: string[] = [];
    const age = deps.snapshots.ageMs();
    if (age === undefined) problems.push('no policy snapshot received yet');
    else if (deps.maxStalenessMs !== undefined && age > deps.maxStalenessMs)
      problems.push('policy snapshot is stale');
    const stops = deps.stopsReadiness?.();
    if (stops !== undefined) problems.push(stops);
    const version = deps.snapshots.current?.version ?? null;
    if (problems.length > 0)
      return reply.code(503).send({ status: 'not ready', problems, snapshotVersion: version });
    return { status: 'ready', snapshotVersion: version };
  });
  if (deps.runs) registerRunRoutes(app, deps.runs);
  registerMetricsRoute(app, {
    render: () => {
      deps.metrics.snapshotVersion.set(deps.snapshots.current?.version ?? 0);
      return registry.metrics();
    },
    contentType: registry.contentType,
    now: deps.monotonic ?? (() => performance.now()),
  });
  return app;
}
