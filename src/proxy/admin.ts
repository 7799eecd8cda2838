import Fastify, { type FastifyInstance } from 'fastify';
import type { CounterStore } from '../counters/store.ts';
import type { SnapshotHolder } from '../snapshot/holder.ts';
import type { ProxyMetrics } from '../telemetry/metrics.ts';

/**
 * The admin listener: `/metrics`, `/healthz` (the process is alive), `/readyz` (it has a policy
 * snapshot that is fresh enough and a counter store that answers).
 */
export function createAdminListener(deps: {
  metrics: ProxyMetrics;
  snapshots: SnapshotHolder;
  counters: CounterStore;
  maxStalenessMs?: number;
}): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const problems: string[] = [];
    const age = deps.snapshots.ageMs();
    if (age === undefined) problems.push('no policy snapshot received yet');
    else if (deps.maxStalenessMs !== undefined && age > deps.maxStalenessMs)
      problems.push('policy snapshot is stale');
    if (!(await deps.counters.healthy().catch(() => false))) problems.push('counter store unreachable');
    const version = deps.snapshots.current?.version ?? null;
    if (problems.length > 0)
      return reply.code(503).send({ status: 'not ready', problems, snapshotVersion: version });
    return { status: 'ready', snapshotVersion: version };
  });
  app.get('/metrics', async (_req, reply) => {
    deps.metrics.snapshotVersion.set(deps.snapshots.current?.version ?? 0);
    const body = await deps.metrics.registry.metrics();
    return reply.header('content-type', deps.metrics.registry.contentType).send(body);
  });
  return app;
}
