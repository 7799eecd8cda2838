import type { FastifyInstance } from 'fastify';
import type { Clock } from '../clock.ts';
import type { CounterStore } from '../counters/store.ts';
import { listenUrl } from '../listen.ts';
import { adminLimits, listenerLimits } from '../listener/limits.ts';
import { SnapshotHolder } from '../snapshot/holder.ts';
import type { VendorName } from '../snapshot/types.ts';
import type { AuditSink } from '../telemetry/audit.ts';
import type { Log } from '../telemetry/logger.ts';
import { createProxyMetrics, type ProxyMetrics } from '../telemetry/metrics.ts';
import type { ParseLimits, VendorAdapter } from '../vendors/types.ts';
import { createAdminListener } from './admin.ts';
import type { PipelineDeps } from './context.ts';
import { DEFAULT_MAX_HELD_ANSWER_BYTES, DEFAULT_MAX_RESPONSE_BYTES } from './defaults.ts';
import { errorText } from './error-text.ts';
import { HeldAnswers } from './held-answers.ts';
import { InFlight } from './in-flight.ts';
import { LeaseBackoff } from './lease-backoff.ts';
import { createPipeline } from './pipeline.ts';
import { refuseCall } from './refuse.ts';
import type { StoppedRuns } from './runs.ts';
import {
  createProxyListener,
  type ListenerDeps,
  type ListenerOptions,
  type ProxyListener,
} from './server.ts';
import { AUDIT_FAILED_MESSAGE } from './stages/audit-backlog.ts';
import { leaseTtlMsFor } from './stages/lease.ts';
import { startStoppedRuns } from './stopped-runs-feed.ts';
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
  /** --client-timeout: the whole request must arrive within it (default 30 s). */
  readonly clientTimeoutMs?: number;
  /** --max-connections, per listener (default 4096). */
  readonly maxConnections?: number;
  /** --max-connections-per-source, per listener (default 256, or a quarter of maxConnections if smaller). */
  readonly maxConnectionsPerSource?: number;
  /** --max-response-body, bytes (default 16 MiB). */
  readonly maxResponseBytes?: number;
  /** --max-held-answers, bytes (default 64 MiB): see held-answers.ts. */
  readonly maxHeldAnswerBytes?: number;
  /** --lease-backoff: a key's first wait after a refusal while holding leases; 0 off (default 250 ms). */
  readonly leaseBackoffMs?: number;
  /** --drain-timeout: how long calls in flight may take to finish on shutdown (default 25 s). */
  readonly drainTimeoutMs?: number;
  /** Serve the run API on the admin listener (`keybrake serve`; ADR 0010). */
  readonly runsApi?: boolean;
  /** The holder the proxy reads its table from, when its source fills it before the listeners bind. */
  readonly snapshots?: SnapshotHolder;
  /** The stopped runs, when the source of the table also brings stops before the listeners bind (`proxy`). */
  readonly stoppedRuns?: StoppedRuns;
}

/** Fits a Kubernetes terminationGracePeriodSeconds of 30 with room for the exit itself. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 25_000;

/** After the drain deadline, how long the calls cut off then may take to write their audit records. */
const CUT_OFF_GRACE_MS = 2_000;

/**
 * After an audit failure, how long past the drain deadline and its grace the rest of close() (the
 * listeners, the store, the audit's last records on stderr) may take before the proxy is taken as
 * stopped anyway and the process exits 1.
 */
const CLOSE_SLACK_MS = 5_000;

/** A running proxy: its snapshot holder (fed by a source), addresses, metrics and shutdown. */
export interface RunningProxy {
  readonly snapshots: SnapshotHolder;
  /** Runs stopped by `run stop` (ADR 0010): fed by the run API, Redis pub/sub, the snapshot stream. */
  readonly stoppedRuns: StoppedRuns;
  readonly metrics: ProxyMetrics;
  /** `main`, `admin`, or a vendor name → `http://host:port`. */
  readonly urls: Record<string, string>;
  /**
   * Drains, then stops: no new connection is accepted, calls in flight finish (until the drain
   * deadline), calls arriving meanwhile on open connections are answered 503 shutting_down; then
   * every connection is closed, and the audit sink flushed once the last call has written its record.
   */
  close(): Promise<void>;
  /**
   * Resolves, with the stream's error, once the proxy has stopped by itself because its audit stream
   * failed (EPIPE, ENOSPC): it admitted no call after the failure, wrote the records it held and
   * those of the calls in flight to stderr, and drained as close() does; or, should that close not
   * finish, at the latest the drain timeout plus 7 s after the failure. Never resolves otherwise.
   * The command exits 1 then (cmd/keybrake.ts), whatever close() still waits on.
   */
  readonly failed: Promise<Error>;
}

export async function startProxy(config: ProxyConfig): Promise<RunningProxy> {
  const snapshots = config.snapshots ?? new SnapshotHolder(config.clock);
  // One count for the process: every listener holds answers, the pipeline refuses by them.
  const heldAnswers = new HeldAnswers(config.maxHeldAnswerBytes ?? DEFAULT_MAX_HELD_ANSWER_BYTES);
  const metrics = createProxyMetrics({
    snapshotAgeSeconds: () => {
      const age = snapshots.ageMs();
      return age === undefined ? undefined : age / 1000;
    },
    auditHeldBytes: () => config.audit.heldBytes,
    answerHeldBytes: () => heldAnswers.bytes,
  });
  if (snapshots.current) metrics.snapshotVersion.set(snapshots.current.version);
  snapshots.onApply((s) => metrics.snapshotVersion.set(s.version));
  const upstreams = createUpstreams(config.upstreams, {
    timeoutMs: config.upstreamTimeoutMs,
    maxResponseBytes: config.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
    maxRequestBytes: config.parseLimits.maxBytes,
  });
  const runStops = startStoppedRuns(config.counters, config.clock, {
    ...(config.stoppedRuns && { stoppedRuns: config.stoppedRuns }),
  });
  const { stoppedRuns } = runStops;
  const deps: PipelineDeps = {
    snapshots,
    stoppedRuns,
    vendors: config.vendors,
    upstreams,
    counters: config.counters,
    clock: config.clock,
    audit: config.audit,
    metrics,
    log: config.log,
    parseLimits: config.parseLimits,
    // A lease outlives the longest the vendor may take to act on the call it guards.
    leaseTtlMs: leaseTtlMsFor(config.upstreamTimeoutMs),
    heldAnswers,
    ...(config.maxStalenessMs !== undefined ? { maxStalenessMs: config.maxStalenessMs } : {}),
    ...(config.leaseBackoffMs !== undefined
      ? { leaseBackoff: new LeaseBackoff({ firstMs: config.leaseBackoffMs }) }
      : {}),
  };
  const calls = new InFlight();
  const listenerDeps: ListenerDeps = {
    handle: createPipeline(deps),
    refuse: (call, denial) => refuseCall(call, deps, denial),
    calls,
    heldAnswers,
    log: config.log,
  };
  const limits = listenerLimits(config);
  const listenerOptions = (vendor?: VendorName): ListenerOptions => ({
    ...(vendor !== undefined ? { vendor } : {}),
    bodyLimit: config.parseLimits.maxBytes,
    limits,
  });

  const listeners: ProxyListener[] = [];
  let admin: FastifyInstance | undefined;
  const urls: Record<string, string> = {};
  const bind = async (name: string, listener: ProxyListener, addr: { host: string; port: number }) => {
    listeners.push(listener);
    await listener.listen(addr);
    urls[name] = listenUrl(listener.server.address(), addr);
  };
  try {
    if (config.listen)
      await bind('main', createProxyListener(listenerDeps, listenerOptions()), config.listen);
    for (const [vendor, addr] of Object.entries(config.vendorPorts) as [
      VendorName,
      { host: string; port: number },
    ][]) {
      if (!config.vendors[vendor])
        throw new Error(`--vendor-port ${vendor}: vendor ${vendor} is not enabled`);
      await bind(vendor, createProxyListener(listenerDeps, listenerOptions(vendor)), addr);
    }
    if (config.admin) {
      admin = createAdminListener({
        limits: adminLimits(limits),
        log: config.log,
        metrics,
        snapshots,
        counters: config.counters,
        stopsReadiness: runStops.readiness,
        ...(config.maxStalenessMs !== undefined ? { maxStalenessMs: config.maxStalenessMs } : {}),
        ...(config.runsApi
          ? {
              runs: {
                snapshots,
                stoppedRuns,
                ...(runStops.stopStore ? { stopStore: runStops.stopStore } : {}),
                clock: config.clock,
                log: config.log,
              },
            }
          : {}),
      });
      await admin.listen({ host: config.admin.host, port: config.admin.port });
      urls['admin'] = listenUrl(admin.server.address(), config.admin);
    }
  } catch (err) {
    await Promise.allSettled([...listeners.map((l) => l.close()), admin?.close()]);
    await upstreams.close();
    await runStops.close();
    throw err;
  }

  const drainTimeoutMs = config.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
  let closing: Promise<void> | undefined;
  const close = async () => {
    calls.draining = true;
    for (const l of listeners) l.stopAccepting();
    config.log.info({ inFlight: calls.count, drainTimeoutMs }, 'draining');
    const drained = await calls.settled(drainTimeoutMs);
    if (!drained) {
      config.log.warn(
        { inFlight: calls.count, drainTimeoutMs },
        'drain deadline passed: closing connections and aborting upstream requests still in flight',
      );
      // The calls cut off here still end in the pipeline (upstream_unavailable, the reservation
      // kept) and write their audit records; they get a moment to.
      await upstreams.close(true);
      await calls.settled(CUT_OFF_GRACE_MS);
    }
    await Promise.allSettled(listeners.map((l) => l.close()));
    await admin?.close();
    await upstreams.close();
    await runStops.close();
    await config.audit.flush();
    config.log.info({ drained }, 'stopped');
  };

  // An audit stream that fails cannot be trusted again (a pipe whose reader left, a full disk): a
  // proxy that went on would forward calls recorded only on stderr, or nowhere once that fails too.
  // It stops as on SIGTERM, refusing every call meanwhile with the reason, and the process exits 1.
  const failed = new Promise<Error>((resolve) => {
    config.audit.onFailure((err) => {
      calls.drainMessage = AUDIT_FAILED_MESSAGE;
      config.log.error(
        { err: errorText(err), inFlight: calls.count },
        'audit stream failed: no new call is admitted; the records not yet written and those of calls in flight go to stderr; draining, then exiting 1',
      );
      closing ??= close();
      // Bounded: a drain that cannot finish (a stderr fallback whose reader stopped, a call that
      // never settles) must not keep a proxy that admits nothing alive; the command exits 1 at the
      // deadline all the same (tenth round).
      const deadline = setTimeout(() => resolve(err), drainTimeoutMs + CUT_OFF_GRACE_MS + CLOSE_SLACK_MS);
      closing.then(() => {
        clearTimeout(deadline);
        resolve(err);
      });
    });
  });

  return {
    snapshots,
    stoppedRuns,
    metrics,
    urls,
    close() {
      closing ??= close();
      return closing;
    },
    failed,
  };
}
