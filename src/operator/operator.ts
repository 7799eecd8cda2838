import { Counter, Gauge, type Registry } from 'prom-client';
import { formatDocumentError, type ResourceSet } from '../api/resource-set.ts';
import type { VaultKey } from '../api/v1alpha1/index.ts';
import type { Clock } from '../clock.ts';
import { type CompileResult, compile, type ObjectStatus } from '../compiler/compile.ts';
import type { CounterStore } from '../counters/store.ts';
import { dayBucket } from '../counters/windows.ts';
import { nextSnapshotVersion } from '../distribution/protocol.ts';
import { formatUsd } from '../money/micro-usd.ts';
import type { CompiledKey, Snapshot } from '../snapshot/types.ts';
import type { KubernetesSource, KubernetesSourceUpdate } from '../sources/kubernetes/source.ts';
import type { Log } from '../telemetry/logger.ts';
import type { EventSink, OperatorEvent } from './events.ts';
import { type StatusPatcher, statusChange } from './status.ts';
import { ensureToken, type SecretStore } from './tokens.ts';

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
  readonly patchStatus: StatusPatcher;
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

/** Ready=False reasons that are not a problem of the object (a paused or expired key is fine). */
const BENIGN_REASONS = new Set(['Expired', 'Suspended']);

/**
 * DESIGN.md §3 for the cluster: every source update is compiled exactly as standalone mode compiles
 * manifests and published at once (a revocation is on the clock); the slower duties (minting,
 * status, Events) run afterwards, one pass at a time, only on the leader. Invalid resources only
 * ever become conditions and Events; the last good snapshot of every other key stays served.
 */
export function createOperator(opts: OperatorOptions): Operator {
  const { source, clock, log } = opts;
  const intervalMs = opts.statusIntervalMs ?? 10_000;
  const concurrency = opts.writeConcurrency ?? 8;
  const metrics = opts.registry ? operatorMetrics(opts.registry) : undefined;
  let leading = false;
  let closed = false;
  let set: ResourceSet | undefined;
  let compiled: CompileResult | undefined;
  let version = 0;
  let reconciling: Promise<void> | undefined;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  let loggedErrors = new Set<string>();
  /** uid → micro-USD spent today, refreshed every interval. */
  const spent = new Map<string, number>();
  /** uid → epoch ms of the last reserved call, refreshed with `spent`. */
  const lastUsed = new Map<string, number>();
  /** `uid|day` of keys whose CapReached Event was recorded. */
  const capReported = new Set<string>();
  /** What this leader last wrote, so a cache that has not caught up yet does not cause a rewrite. */
  const written = new Map<
    string,
    { uid: string | undefined; resourceVersion: string; status: Record<string, unknown> }
  >();

  const onUpdate = (u: KubernetesSourceUpdate) => {
    version = nextSnapshotVersion(Math.max(version, opts.publishedVersion?.() ?? 0), clock.now());
    set = u.set;
    compiled = compile(u.set, { version, clock });
    opts.publish(compiled.snapshot, u.changedAt);
    metrics?.version.set(version);
    log.debug(
      { version, keys: compiled.snapshot.keys.size, lagMs: clock.now() - u.changedAt },
      'snapshot published',
    );
    const errors = new Set(u.errors.map(formatDocumentError));
    for (const line of errors) if (!loggedErrors.has(line)) log.warn({ problem: line }, 'invalid resource');
    loggedErrors = errors;
    for (const d of u.deleted) {
      written.delete(`${d.kind}/${d.namespace}/${d.name}`);
      if (d.kind !== 'VaultKey') continue;
      log.info({ vaultKey: `${d.namespace}/${d.name}`, version }, 'revoked');
      if (leading) {
        void event({
          object: d,
          type: 'Normal',
          reason: 'Revoked',
          message: `VaultKey deleted: its token is refused by every proxy from snapshot version ${version} on.`,
        });
      }
    }
    void requestReconcile();
  };

  const event = (e: OperatorEvent) => (leading ? opts.recordEvent(e) : Promise.resolve());

  const requestReconcile = (): Promise<void> => {
    if (reconciling) {
      again = true;
      return reconciling;
    }
    reconciling = (async () => {
      do {
        again = false;
        try {
          await reconcileOnce();
        } catch (err) {
          log.error({ error: (err as Error).message }, 'reconcile failed');
        }
      } while (again && !closed && leading);
    })().finally(() => {
      reconciling = undefined;
    });
    return reconciling;
  };

  const reconcileOnce = async () => {
    if (!leading || closed || !set || !compiled) return;
    // Recompiled for the time now: expiry flips a key's condition without any object changing.
    const { statuses } = compile(set, { version, clock });
    const served = new Map<string, CompiledKey>();
    for (const k of compiled.snapshot.keys.values()) served.set(k.uid, k);

    const skip = new Set<string>();
    for (const s of statuses) {
      if (s.kind !== 'VaultKey' || s.conditions[0]?.reason !== 'TokenSecretMissing') continue;
      const key = set.keys.find((k) => k.metadata.namespace === s.namespace && k.metadata.name === s.name);
      if (key && (await mint(key))) skip.add(`${s.namespace}/${s.name}`);
    }

    const queue = statuses.filter((s) => !(s.kind === 'VaultKey' && skip.has(`${s.namespace}/${s.name}`)));
    const workers = Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
      for (let s = queue.shift(); s && leading && !closed; s = queue.shift()) {
        await writeStatus(s, served.get(s.uid)).catch((err: unknown) =>
          log.warn(
            { object: `${s.kind}/${s.namespace}/${s.name}`, error: (err as Error).message.split('\n')[0] },
            'status write failed',
          ),
        );
      }
    });
    await Promise.all(workers);
  };

  /** true when the key's Secret changed (its status waits for the informer to see the token). */
  const mint = async (key: VaultKey): Promise<boolean> => {
    const ref = `${key.metadata.namespace}/${key.metadata.name}`;
    try {
      const outcome = await ensureToken(opts.secrets, key);
      if (outcome.kind === 'minted') {
        metrics?.minted.inc();
        log.info(
          { vaultKey: ref, secret: key.spec.tokenSecretRef.name, tokenFingerprint: outcome.fingerprint },
          'token minted',
        );
        await event({
          object: {
            kind: 'VaultKey',
            namespace: key.metadata.namespace!,
            name: key.metadata.name,
            ...(key.metadata.uid !== undefined && { uid: key.metadata.uid }),
          },
          type: 'Normal',
          reason: 'TokenMinted',
          message: `Minted a vault token (${outcome.fingerprint}) into Secret ${key.spec.tokenSecretRef.name}, key ${key.spec.tokenSecretRef.key}.`,
        });
        return true;
      }
      if (outcome.kind === 'labelled') {
        log.info(
          { vaultKey: ref, secret: key.spec.tokenSecretRef.name },
          'labelled a user-provided token Secret so the operator sees it',
        );
        return true;
      }
      return outcome.kind === 'conflict';
    } catch (err) {
      log.warn({ vaultKey: ref, error: (err as Error).message }, 'could not mint a token');
      return false;
    }
  };

  const writeStatus = async (s: ObjectStatus, key: CompiledKey | undefined) => {
    const object = source.get(s.kind, s.namespace, s.name);
    if (!object) return;
    const id = `${s.kind}/${s.namespace}/${s.name}`;
    const uid = object.metadata?.uid;
    const mine = written.get(id);
    const cached = (object.status ?? undefined) as Record<string, unknown> | undefined;
    const current =
      mine && mine.uid === uid && !newer(object.metadata?.resourceVersion, mine.resourceVersion)
        ? mine.status
        : cached;
    const spentToday = spendFor(s, key);
    const lastUse = key && s.kind === 'VaultKey' ? lastUsed.get(key.uid) : undefined;
    const change = statusChange(s, current, {
      ...(spentToday !== undefined && { spentTodayMicros: spentToday }),
      ...(lastUse !== undefined && { lastUsedMs: lastUse }),
    });
    if (key) await maybeCapReached(s, key);
    if (!change || !leading) return;
    const resourceVersion = await opts.patchStatus(
      { kind: s.kind, namespace: s.namespace, name: s.name },
      change.patch,
    );
    metrics?.statusWrites.inc();
    if (resourceVersion === undefined) {
      written.delete(id);
      return;
    }
    written.set(id, { uid, resourceVersion, status: change.status });
    const ready = change.readyChanged;
    if (ready && ready.status === 'False' && !BENIGN_REASONS.has(ready.reason)) {
      log.warn(
        { kind: s.kind, object: `${s.namespace}/${s.name}`, reason: ready.reason, message: ready.message },
        'not ready',
      );
      await event({
        object: { kind: s.kind, namespace: s.namespace, name: s.name, ...(uid !== undefined && { uid }) },
        type: 'Warning',
        reason: 'Invalid',
        message: `${ready.reason}: ${ready.message}`,
      });
    }
  };

  const spendFor = (s: ObjectStatus, key: CompiledKey | undefined): number | null | undefined => {
    if (!opts.counters || s.kind !== 'VaultKey') return undefined;
    if (!key) return null;
    return spent.get(key.uid);
  };

  const maybeCapReached = async (s: ObjectStatus, key: CompiledKey) => {
    const cap = key.policy.limits.perDayMicros;
    const used = spent.get(key.uid);
    if (cap === undefined || used === undefined || used < cap) return;
    const mark = `${key.uid}|${dayBucket(clock.now(), key.policy.timezone)}`;
    if (capReported.has(mark)) return;
    capReported.add(mark);
    await event({
      object: { kind: 'VaultKey', namespace: s.namespace, name: s.name, uid: key.uid },
      type: 'Warning',
      reason: 'CapReached',
      message: `Spent ${formatUsd(used)} USD today, the daily cap of ${formatUsd(cap)} USD: money-moving calls are refused until the day ends (${key.policy.timezone}).`,
    });
  };

  const refreshSpend = async () => {
    const counters = opts.counters;
    if (!counters || !compiled) return;
    const now = clock.now();
    const keys = [...compiled.snapshot.keys.values()];
    const results = await Promise.allSettled(
      keys.map((k) =>
        Promise.all([counters.used(k.uid, dayBucket(now, k.policy.timezone)), counters.lastUsed(k.uid)]),
      ),
    );
    // Keys no longer served are forgotten (their status drops spentTodayUsd, keeps lastUsedAt).
    const served = new Set(keys.map((k) => k.uid));
    for (const uid of [...spent.keys()]) if (!served.has(uid)) spent.delete(uid);
    for (const uid of [...lastUsed.keys()]) if (!served.has(uid)) lastUsed.delete(uid);
    let failed = 0;
    results.forEach((r, i) => {
      const uid = keys[i]!.uid;
      if (r.status === 'rejected') {
        failed++;
        return;
      }
      spent.set(uid, r.value[0]);
      if (r.value[1] !== undefined) lastUsed.set(uid, r.value[1]);
    });
    if (failed > 0) log.warn({ failed }, 'could not read spent-today and last use from the counter store');
  };

  const tick = async () => {
    if (!leading || closed) return;
    await refreshSpend();
    await requestReconcile();
  };

  return {
    async start() {
      source.onUpdate(onUpdate);
      await source.start();
      timer = setInterval(() => void tick(), intervalMs);
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
      written.clear();
    },
    get snapshot() {
      return compiled?.snapshot;
    },
    async reconcile() {
      await refreshSpend();
      await requestReconcile();
    },
    async close() {
      closed = true;
      clearInterval(timer);
      await reconciling;
      await source.close();
    },
  };
}

/** Whether resourceVersion a is later than b. They are etcd revisions in practice; if not, trust a. */
function newer(a: string | undefined, b: string): boolean {
  if (a === undefined) return false;
  if (!/^\d+$/.test(a) || !/^\d+$/.test(b)) return true;
  return BigInt(a) > BigInt(b);
}

function operatorMetrics(registry: Registry) {
  return {
    leader: new Gauge({
      name: 'keybrake_operator_leader',
      help: '1 while this operator holds the leader Lease.',
      registers: [registry],
    }),
    version: new Gauge({
      name: 'keybrake_snapshot_version',
      help: 'Version of the policy snapshot last compiled.',
      registers: [registry],
    }),
    statusWrites: new Counter({
      name: 'keybrake_operator_status_writes_total',
      help: 'Status subresource patches sent (only when a status changed).',
      registers: [registry],
    }),
    minted: new Counter({
      name: 'keybrake_operator_tokens_minted_total',
      help: 'Vault tokens minted into Secrets.',
      registers: [registry],
    }),
  };
}
