import type { FastifyInstance } from 'fastify';
import type { Clock } from '../clock.ts';
import type { CounterStore } from '../counters/store.ts';
import { listenUrl } from '../listen.ts';
import { SnapshotHolder } from '../snapshot/holder.ts';
import type { VendorName } from '../snapshot/types.ts';
import type { AuditSink } from '../telemetry/audit.ts';
import type { Log } from '../telemetry/logger.ts';
import { createProxyMetrics, type ProxyMetrics } from '../telemetry/metrics.ts';
import type { ParseLimits, VendorAdapter } from '../vendors/types.ts';
import { createAdminListener } from './admin.ts';
import { createPipeline } from './pipeline.ts';
import { createProxyListener } from './server.ts';
import { createUpstreams, type UpstreamConfig } from './upstreams.ts';

/** Everything a proxy process needs; `serve` and `proxy` both build one of these. */
export interface ProxyConfig {
  readonly listen?: { host: string; port: number };
  readonly vendorPorts: Partial<Record<VendorName, { host: string; port: number }>>;
  readonly admin?: { host: string; port: number };
  readonly upstreams: UpstreamConfig;
  readonly upstreamTimeoutMs: number;
  readonly vendors: Partial<Record<VendorName, VendorAdapter>>;
  readonly counters: CounterStore;
  readonly clock: Clock;
  readonly audit: AuditSink;
  readonly log: Log;
  readonly parseLimits: ParseLimits;
  readonly maxStalenessMs?: number;
}

export const DEFAULT_PARSE_LIMITS: ParseLimits = { maxBytes: 256 * 1024, maxDepth: 8, maxParams: 1000 };

/** A running proxy: its snapshot holder (fed by a source), addresses, metrics and shutdown. */
export interface RunningProxy {
  readonly snapshots: SnapshotHolder;
  readonly metrics: ProxyMetrics;
  /** `main`, `admin`, or a vendor name → `http://host:port`. */
  readonly urls: Record<string, string>;
  close(): Promise<void>;
}

export async function startProxy(config: ProxyConfig): Promise<RunningProxy> {
  const snapshots = new SnapshotHolder(config.clock);
  const metrics = createProxyMetrics({
    snapshotAgeSeconds: () => {
      const age = snapshots.ageMs();
      return age === undefined ? undefined : age / 1000;
    },
  });
  snapshots.onApply((s) => metrics.snapshotVersion.set(s.version));
  const upstreams = createUpstreams(config.upstreams, { timeoutMs: config.upstreamTimeoutMs });
  const handle = createPipeline({
    snapshots,
    vendors: config.vendors,
    upstreams,
    counters: config.counters,
    clock: config.clock,
    audit: config.audit,
    metrics,
    log: config.log,
    parseLimits: config.parseLimits,
    ...(config.maxStalenessMs !== undefined ? { maxStalenessMs: config.maxStalenessMs } : {}),
  });

  const servers: FastifyInstance[] = [];
  const urls: Record<string, string> = {};
  const bind = async (name: string, app: FastifyInstance, addr: { host: string; port: number }) => {
    servers.push(app);
    await app.listen({ host: addr.host, port: addr.port });
    urls[name] = listenUrl(app.server.address(), addr);
  };
  try {
    if (config.listen)
      await bind(
        'main',
        createProxyListener(handle, { bodyLimit: config.parseLimits.maxBytes }),
        config.listen,
      );
    for (const [vendor, addr] of Object.entries(config.vendorPorts) as [
      VendorName,
      { host: string; port: number },
    ][]) {
      if (!config.vendors[vendor])
        throw new Error(`--vendor-port ${vendor}: vendor ${vendor} is not enabled`);
      await bind(
        vendor,
        createProxyListener(handle, { vendor, bodyLimit: config.parseLimits.maxBytes }),
        addr,
      );
    }
    if (config.admin) {
      const admin = createAdminListener({
        metrics,
        snapshots,
        counters: config.counters,
        ...(config.maxStalenessMs !== undefined ? { maxStalenessMs: config.maxStalenessMs } : {}),
      });
      await bind('admin', admin, config.admin);
    }
  } catch (err) {
    await Promise.allSettled(servers.map((s) => s.close()));
    await upstreams.close();
    throw err;
  }

  return {
    snapshots,
    metrics,
    urls,
    async close() {
      await Promise.allSettled(servers.map((s) => s.close()));
      await upstreams.close();
      await config.audit.flush();
    },
  };
}
