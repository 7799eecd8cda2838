import Fastify, { type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';

/**
 * The operator's admin listener: `/metrics`, `/healthz` (alive), `/readyz` (this replica is the
 * leader, so a Service selecting ready operator pods reaches the one that serves snapshots).
 */
export function createOperatorAdmin(deps: {
  registry: Registry;
  isLeader: () => boolean;
  version: () => number;
}): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    if (!deps.isLeader()) return reply.code(503).send({ status: 'standby', snapshotVersion: deps.version() });
    return { status: 'leading', snapshotVersion: deps.version() };
  });
  app.get('/metrics', async (_req, reply) => {
    const body = await deps.registry.metrics();
    return reply.header('content-type', deps.registry.contentType).send(body);
  });
  return app;
}
