import type { Registry } from 'prom-client';
import type { Clock } from '../clock.ts';
import { createCompileRunner } from '../compiler/runner.ts';
import type { CounterStore } from '../counters/store.ts';
import type { Snapshot } from '../snapshot/types.ts';
import type { KubernetesSource, KubernetesSourceUpdate } from '../sources/kubernetes/source.ts';
import type { Log } from '../telemetry/logger.ts';
import { createChangeReport } from './change-report.ts';
import { type EventSink, leaderOnly } from './events.ts';
import { operatorMetrics } from './metrics.ts';
import { mintMissingTokens } from './mint-tokens.ts';
import { publishSnapshots, stampAbove } from './publish-snapshots.ts';
import { createSpendTracker } from './refresh-spend.ts';
import type { StatusApplier } from './status.ts';
import type { SecretStore } from './tokens.ts';
import { createStatusWriter } from './write-status.ts';

/** Wiring of the operator: its source, where snapshots, statuses and Events go, what it reads spend from. */
export interface OperatorOptions {
  readonly source: KubernetesSource;
  /** Hands each compiled snapshot to distribution (the snapshot server). */
  readonly publish: (snapshot: Snapshot, changedAt: number) => void;
  /**
   * The highest version already published or held by a proxy (the snapshot server's `version`):
   * the next version is stamped above it, so a leader whose clock runs behind is never ignored.
   */
  readonly publishedVersion?: () => number;
  readonly secrets: SecretStore;
  readonly applyStatus: StatusApplier;
  readonly recordEvent: EventSink;
  /** Where spent-today and last use are read from; absent: spentTodayUsd and lastUsedAt are not managed. */
  readonly counters?: CounterStore;
  readonly clock: Clock;
  readonly log: Log;
  readonly registry?: Registry;
  /** How often status is recomputed without a change (spend, expiry). Default 10 s. */
  readonly statusIntervalMs?: number;
  /** Parallel status writes. */
  readonly writeConcurrency?: number;
}

/** The reconciler: source → compile → publish, and (leader only) tokens, status and Events. */
export interface Operator {
  /** Starts the informers; resolves once the first snapshot is compiled and published. */
  start(): Promise<void>;
  /** Called by leader election. Only a leader mints tokens, writes status and records Events. */
  startLeading(): void;
  stopLeading(): void;
  readonly snapshot: Snapshot | undefined;
  /** Runs a status pass now (and waits for it); for tests and the leader's first pass. */
  reconcile(): Promise<void>;
  close(): Promise<void>;
}

/**
 * DESIGN.md §3 for the cluster, wired from single-concern reconcilers: the Kubernetes source feeds
 * the compile runner (invalid objects become conditions, the rest is served), whose snapshots are
 * published at once, on every replica (a revocation is on the clock). The slower duties run after,
 * one pass at a time, on the leader only: tokens, then spend and caps, then status. Invalid
 * resources only ever become conditions and Events; every other key stays served.
 */
export function createOperator(opts: OperatorOptions): Operator {
  const { source, clock, log } = opts;
  const metrics = opts.registry ? operatorMetrics(opts.registry) : undefined;
  let leading = false;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  const proceed = () => leading && !closed;
  const recordEvent = leaderOnly(opts.recordEvent, () => leading);

  const runner = createCompileRunner<KubernetesSourceUpdate>({
    clock,
    refuseChangesWithErrors: false,
    nextVersion: stampAbove(opts.publishedVersion ?? (() => 0), clock),
  });
  publishSnapshots(runner, {
    publish: opts.publish,
    clock,
    log,
    ...(metrics && { version: metrics.version }),
  });
  const reportChange = createChangeReport({ log, recordEvent });
  const spend = createSpendTracker({ ...(opts.counters && { counters: opts.counters }), clock, log });
  const status = createStatusWriter({
    lookup: (kind, namespace, name) => source.get(kind, namespace, name),
    apply: opts.applyStatus,
    recordEvent,
    log,
    ...(opts.writeConcurrency !== undefined && { concurrency: opts.writeConcurrency }),
    ...(metrics && { writes: metrics.statusWrites }),
  });

  const served = () => [...(runner.current?.snapshot.keys.values() ?? [])];

  /** One leader pass over the set in force, recompiled for the time now (expiry needs no change). */
  const pass = async () => {
    const inForce = runner.current;
    if (!proceed() || !inForce) return;
    const statuses = runner.statusesNow();
    const waiting = await mintMissingTokens(statuses, inForce.update.set.keys, {
      secrets: opts.secrets,
      recordEvent,
      log,
      ...(metrics && { minted: metrics.minted }),
    });
    const keys = new Map(served().map((k) => [k.uid, k]));
    await spend.reportCaps([...keys.values()], recordEvent);
    await status.write(
      statuses.filter((s) => !(s.kind === 'VaultKey' && waiting.has(`${s.namespace}/${s.name}`))),
      (s) => spend.extras(s, keys.get(s.uid)),
      proceed,
    );
  };

  // At most one pass at a time; a request during a pass gets one more pass after it.
  let running: Promise<void> | undefined;
  let again = false;
  const requestPass = (): Promise<void> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await pass().catch((err: unknown) =>
          log.error({ error: (err as Error).message }, 'reconcile failed'),
        );
      } while (again && proceed());
    })().finally(() => {
      running = undefined;
    });
    return running;
  };

  runner.onOutcome((outcome) => {
    reportChange(outcome);
    for (const d of outcome.update.deleted) status.forget(d);
    void requestPass();
  });

  const tick = async () => {
    if (!proceed()) return;
    await spend.refresh(served());
    await requestPass();
  };

  return {
    async start() {
      source.onUpdate((u) => runner.run(u));
      await source.start();
      timer = setInterval(() => void tick(), opts.statusIntervalMs ?? 10_000);
      timer.unref();
    },
    startLeading() {
      leading = true;
      metrics?.leader.set(1);
      void tick();
    },
    stopLeading() {
      leading = false;
      metrics?.leader.set(0);
      status.reset();
    },
    get snapshot() {
      return runner.current?.snapshot;
    },
    async reconcile() {
      await spend.refresh(served());
      await requestPass();
    },
    async close() {
      closed = true;
      clearInterval(timer);
      await running;
      await source.close();
    },
  };
}
