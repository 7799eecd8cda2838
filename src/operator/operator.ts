import type { Registry } from 'prom-client';
import { backoffDelay } from '../backoff.ts';
import type { Clock } from '../clock.ts';
import type { ObjectStatus, TokenGuard } from '../compiler/compile.ts';
import { createCompileRunner } from '../compiler/runner.ts';
import type { CounterStore } from '../counters/store.ts';
import type { CompiledKey, Snapshot } from '../snapshot/types.ts';
import type { KubernetesSource, KubernetesSourceUpdate } from '../sources/kubernetes/source.ts';
import type { Log } from '../telemetry/logger.ts';
import { createChangeReport } from './change-report.ts';
import { deletingStatuses } from './deleting-status.ts';
import { type EventSink, leaderOnly } from './events.ts';
import { createNamespaceLedgerGuard, type NamespaceLedgerGuard } from './guard-namespace-ledgers.ts';
import { type KeySpend, operatorMetrics, renderKeySpend } from './metrics.ts';
import { createRefusalMemo, explainRefusals, mintMissingTokens } from './mint-tokens.ts';
import { type NamespaceClaims, namespacesToClaim } from './namespace-claims.ts';
import type { NamespaceLedgers } from './namespace-ledger.ts';
import { publishSnapshots, stampAbove } from './publish-snapshots.ts';
import { createSpendTracker } from './refresh-spend.ts';
import type { RevocationEntry, RevocationLedger } from './revocations.ts';
import { createRevokeOnDelete } from './revoke-on-delete.ts';
import type { StatusApplier } from './status.ts';
import { owningVaultKey, type SecretStore } from './tokens.ts';
import { explainUnseenSecrets } from './unseen-secrets.ts';
import { createWaitingKeys } from './waiting-keys.ts';
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
  /** How often spend is read and expiry looked at, for status without a change. Default 10 s. */
  readonly statusIntervalMs?: number;
  /**
   * How often a status pass walks every object even when nothing asked for one, so a status edited
   * by someone else is put back. Default 5 min.
   */
  readonly statusResyncMs?: number;
  /** Parallel status writes. */
  readonly writeConcurrency?: number;
  /**
   * Tokens revoked by deleting their VaultKey (ADR 0009). Absent: no ledger (unit tests); the
   * ownership rule (a token Secret serves only the VaultKey that owns it) applies either way.
   */
  readonly revocations?: RevocationLedger;
  /**
   * The namespaces this release serves, claimed against other releases whose scopes overlap
   * (ADR 0005, seventh round): keys elsewhere are left out of the table, get no token and no status.
   * Absent: every namespace the source sees (unit tests, a single release).
   */
  readonly claims?: {
    readonly claims: NamespaceClaims;
    readonly intervalMs: number;
    /**
     * The elector's view at this instant (leading, and within its renew deadline by the monotonic
     * clock), asked before each claim write: `startLeading`/`stopLeading` come from its renew loop,
     * which a process paused past its deadline runs only after it resumes (twelfth round). Absent:
     * those callbacks alone (unit tests).
     */
    readonly leads?: () => boolean;
  };
  /**
   * Each namespace's own copy of its revocations (tenth round): written with the ledger, and read
   * into it before a claimed namespace's keys are served, so a namespace moving between releases
   * takes its revoked tokens along. Absent: none (unit tests, a release without claims).
   */
  readonly namespaceLedgers?: NamespaceLedgers;
}

/** The reconciler: source → compile → publish, and (leader only) tokens, status and Events. */
export interface Operator {
  /** Starts the informers; resolves once the first snapshot is compiled and published. */
  start(): Promise<void>;
  /** Called by leader election. Only a leader mints tokens, writes status and records Events. */
  startLeading(): void;
  stopLeading(): void;
  readonly snapshot: Snapshot | undefined;
  /**
   * Whether this replica may serve snapshots when it leads: the revocation ledger has been loaded
   * at least once (a replica that never read it could hand out a revoked token).
   */
  readonly ready: boolean;
  /**
   * Whether the VaultKey `namespace/name` exists and this release is to serve it but its table left
   * it out for now: its namespace's claim is not confirmed yet (a new leader whose claim was
   * rewritten meanwhile waits the claim duration, ADR 0009) or its ledger not read. The run API
   * answers 503 not_ready for it then, not 404 key_unknown (eleventh round).
   */
  pendingKey(namespace: string, name: string): boolean;
  /** Why this replica is not ready, for /readyz; undefined when it is. */
  problem(): string | undefined;
  /** Runs a status pass now (and waits for it); for tests and the leader's first pass. */
  reconcile(): Promise<void>;
  /** Runs the periodic work now (spend, then a pass if one is due) and waits for it; for tests. */
  tick(): Promise<void>;
  /**
   * The per-key spend series for the admin listener's `/metrics` (renderKeySpend): the leader's
   * reading, none on a standby (only the leader reads spend).
   */
  keySpendSeries(): Promise<string>;
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
  const ledger = opts.revocations;
  const metrics = opts.registry ? operatorMetrics(opts.registry) : undefined;
  let leading = false;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let ledgerLoaded = ledger === undefined;
  let ledgerProblem: string | undefined;
  const stopLoading = new AbortController();
  const proceed = () => leading && ledgerLoaded && !closed;
  const recordEvent = leaderOnly(opts.recordEvent, () => leading);

  // ADR 0009: a token Secret serves only the VaultKey whose uid owns it, and a revoked token never.
  const tokens: TokenGuard = {
    ownerOf: (namespace, name) =>
      owningVaultKey(source.get('Secret', namespace, name)?.metadata?.ownerReferences)?.uid,
    revoked: (digest) => ledger?.revoked(digest),
  };
  const claims = opts.claims?.claims;
  const nsLedgers = ledger ? opts.namespaceLedgers : undefined;
  /**
   * Claimed namespaces whose own ledger has been read into this release's since the claim was last
   * served: a claimed namespace is served only once in here (fail closed while it cannot be read).
   */
  const nsLedgerRead = new Set<string>();
  const serves = (namespace: string): boolean =>
    claims!.serves(namespace) &&
    (!nsLedgers || (nsLedgerRead.has(namespace) && nsGuard?.refused(namespace) === undefined));
  /**
   * Whether the current table was compiled with each namespace in scope (the compiler's last
   * answer): `pendingKey` tells a key left out until a claim round from one that is not served.
   */
  const compiledScope = new Map<string, boolean>();
  const inScope = (namespace: string) => {
    const admitted = serves(namespace);
    compiledScope.set(namespace, admitted);
    return admitted;
  };
  const runner = createCompileRunner<KubernetesSourceUpdate>({
    clock,
    refuseChangesWithErrors: false,
    nextVersion: stampAbove(opts.publishedVersion ?? (() => 0), clock),
    tokens,
    ...(claims && { inScope, runClaim: (namespace: string) => claims.epoch(namespace) }),
  });
  publishSnapshots(runner, {
    publish: opts.publish,
    clock,
    log,
    ...(metrics && { version: metrics.version }),
  });
  const revocations = createRevokeOnDelete({
    ownerReferencesOf: (namespace, name) => source.get('Secret', namespace, name)?.metadata?.ownerReferences,
    createdAt: ({ metadata: { namespace, name, uid } }) => {
      const cached = source.get('VaultKey', namespace!, name)?.metadata;
      return cached?.uid === uid && typeof cached?.['creationTimestamp'] === 'string'
        ? cached['creationTimestamp']
        : undefined;
    },
  });
  // Keys held back by a Secret another VaultKey owned never get a token there (sixteenth round):
  // noted from every compile on every replica, so a new leader knows them too.
  const waitingKeys = createWaitingKeys({
    ownerOf: (namespace, name) => {
      const owner = owningVaultKey(source.get('Secret', namespace, name)?.metadata?.ownerReferences);
      return owner?.uid === undefined ? undefined : { ...owner, uid: owner.uid };
    },
  });
  // Told while the update is compiled, before the revocations remember it: what each deleted key held.
  const reportChange = createChangeReport({
    log,
    recordEvent,
    heldToken: (uid) => revocations.holdsAny(uid),
  });
  const spend = createSpendTracker({ ...(opts.counters && { counters: opts.counters }), clock, log });
  const status = createStatusWriter({
    lookup: (kind, namespace, name) =>
      source.get(kind, namespace, name) ?? source.getTerminating(kind, namespace, name),
    apply: opts.applyStatus,
    recordEvent,
    log,
    ...(opts.writeConcurrency !== undefined && { concurrency: opts.writeConcurrency }),
    ...(metrics && { writes: metrics.statusWrites }),
  });

  const served = (): Iterable<CompiledKey> => runner.current?.snapshot.keys.values() ?? [];
  /** Each served key's spend as last read, made as the render reaches it (the table is not copied). */
  function* keySpend(): Iterable<KeySpend> {
    for (const k of served()) {
      const used = spend.spentToday(k.uid);
      const cap = k.policy.limits.perDayMicros;
      yield {
        namespace: k.namespace,
        vaultKey: k.name,
        vendor: k.vendor,
        ...(used !== undefined && { spentTodayUsd: used / 1_000_000 }),
        ...(cap !== undefined && { dailyCapUsd: cap / 1_000_000 }),
      };
    }
  }

  const record = (entries: readonly RevocationEntry[]): boolean => {
    if (!ledger || entries.length === 0 || !ledger.record(entries)) return false;
    nsLedgers?.note(entries);
    log.info({ revoked: entries.length, ledger: ledger.description }, 'revoked tokens recorded');
    metrics?.revocations.set(ledger.size);
    return true;
  };

  /** The namespaces' own ledgers kept and trusted (eleventh round): a namespace whose copy is not is unserved. */
  const nsGuard: NamespaceLedgerGuard | undefined =
    ledger && nsLedgers && claims
      ? createNamespaceLedgerGuard({
          ledgers: nsLedgers,
          ledger,
          record,
          keysIn: (namespace) =>
            claims.serves(namespace)
              ? (runner.current?.update.set.keys ?? [])
                  .filter((k) => k.metadata.namespace === namespace)
                  .map((k) => ({
                    kind: 'VaultKey' as const,
                    namespace,
                    name: k.metadata.name,
                    ...(k.metadata.uid !== undefined && { uid: k.metadata.uid }),
                  }))
              : [],
          recordEvent,
          log,
        })
      : undefined;

  const flush = async () => {
    if (!ledger || !proceed()) return;
    if (ledger.unsaved > 0)
      try {
        await ledger.flush();
      } catch (err) {
        log.warn(
          { ledger: ledger.description, unsaved: ledger.unsaved, error: (err as Error).message },
          'could not store revoked tokens; retrying on the next pass',
        );
      }
    if (nsLedgers && nsLedgers.unsaved > 0)
      try {
        await nsLedgers.flush();
      } catch (err) {
        log.warn(
          { unsaved: nsLedgers.unsaved, error: (err as Error).message },
          "could not store revoked tokens in their namespaces' ledgers; retrying on the next pass",
        );
      }
  };

  /** Reads the stored ledger, retrying with backoff until it succeeds; recompiles when it knew more. */
  const loadLedger = async () => {
    if (!ledger) return;
    for (let attempt = 1; !closed; attempt++) {
      try {
        const added = await ledger.load();
        // Entries stored before namespaces kept their own (or whose namespace write was lost) are
        // written there too: the writes skip what a namespace already holds.
        nsLedgers?.note(ledger.all());
        ledgerLoaded = true;
        ledgerProblem = undefined;
        metrics?.revocations.set(ledger.size);
        log.info({ ledger: ledger.description, revoked: ledger.size }, 'revocation ledger loaded');
        if (added) runner.recompile();
        if (leading) void requestPass();
        return;
      } catch (err) {
        ledgerProblem = `cannot read the revocation ledger (${ledger.description}): ${(err as Error).message}`;
        if (attempt === 1 || attempt % 10 === 0) log.error({ attempt }, ledgerProblem);
        await sleep(
          backoffDelay(attempt, { initialMs: 250, maxMs: 10_000, jitter: 0.2 }),
          stopLoading.signal,
        );
      }
    }
  };

  // A pass walks every object: at 100 000 keys that is seconds of work and a heap's worth of
  // garbage, so the periodic tick starts one only when something may have changed (the statuses,
  // spend, a pass that left work behind) and every `resyncMs` besides.
  const resyncMs = opts.statusResyncMs ?? 300_000;
  const refusals = createRefusalMemo(() => clock.now(), resyncMs);
  let due = true;
  let lastStatuses: readonly ObjectStatus[] | undefined;
  let lastFullPassAt = Number.NEGATIVE_INFINITY;

  /** One leader pass over the set in force, recompiled for the time now (expiry needs no change). */
  const pass = async () => {
    const inForce = runner.current;
    if (!proceed() || !inForce) return;
    // Anything that asks for a pass from here on gets one more.
    due = false;
    await flush();
    const statuses = runner.statusesNow();
    const minted = await mintMissingTokens(statuses, inForce.update.set.keys, {
      secrets: opts.secrets,
      refusals,
      barred: (key) => waitingKeys.barred(key),
      recordEvent,
      log,
      ...(metrics && { minted: metrics.minted }),
    });
    const { waiting } = minted;
    // Objects a finalizer holds after their deletion say so, and nothing else is written for them.
    const deleting = deletingStatuses(
      (['VaultKey', 'SpendPolicy'] as const).flatMap((kind) =>
        source.terminating(kind).map((object) => ({ kind, object })),
      ),
      (namespace) => !claims || serves(namespace),
      clock.now(),
    );
    const compiled = explainRefusals(explainUnseenSecrets(statuses, inForce.update.set.keys), minted.refused);
    const explained = deleting.length === 0 ? compiled : [...withoutObjects(compiled, deleting), ...deleting];
    // Keys by uid only where spend is shown, once per table.
    const byUid = spend.managed ? keysByUid(runner.current?.snapshot ?? inForce.snapshot) : undefined;
    if (byUid) await spend.reportCaps(byUid.values(), recordEvent);
    const written = await status.write(
      waiting.size === 0
        ? explained
        : explained.filter((s) => !(s.kind === 'VaultKey' && waiting.has(`${s.namespace}/${s.name}`))),
      (s) => spend.extras(s, byUid?.get(s.uid)),
      proceed,
    );
    lastStatuses = statuses;
    lastFullPassAt = clock.now();
    // A key waiting for its token Secret is looked at again too, in case the informer never
    // reports the Secret (a contended one someone else left unlabelled).
    const unfinished =
      minted.failed > 0 ||
      waiting.size > 0 ||
      written.failed > 0 ||
      !written.complete ||
      (ledger?.unsaved ?? 0) > 0 ||
      (nsLedgers?.unsaved ?? 0) > 0;
    if (unfinished) due = true;
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
        await pass().catch((err: unknown) => {
          due = true;
          log.error({ error: (err as Error).message }, 'reconcile failed');
        });
      } while (again && proceed());
    })().finally(() => {
      running = undefined;
    });
    return running;
  };

  runner.onOutcome((outcome) => {
    reportChange(outcome);
    for (const d of outcome.update.deleted) {
      status.forget(d);
      if (d.kind === 'VaultKey' && d.uid !== undefined) waitingKeys.forget(d.uid);
    }
    waitingKeys.observe(outcome.statuses, outcome.update.set.keys);
    due = true;
    void requestPass();
  });

  /**
   * Reads the own ledger of each namespace claimed and not read since it was last served; a
   * namespace not claimed any more is read again when it is. True when what is served may change.
   */
  const readNamespaceLedgers = async (namespaces: readonly string[]): Promise<boolean> => {
    if (!nsLedgers || !claims) return false;
    let changed = false;
    for (const ns of [...nsLedgerRead])
      if (!claims.serves(ns)) {
        nsLedgerRead.delete(ns);
        changed = true;
      }
    const due = [...new Set(namespaces)].filter((ns) => claims.serves(ns) && !nsLedgerRead.has(ns));
    await Promise.all(
      due.map(async (ns) => {
        if (!(await nsGuard!.take(ns))) return;
        nsLedgerRead.add(ns);
        changed = true;
      }),
    );
    // The leader keeps every namespace's copy whole, each round (eleventh round), and stops serving
    // one it cannot trust or write.
    if (leading && (await nsGuard!.round(namespaces, serves))) changed = true;
    return changed;
  };

  /** One round of claims over the namespaces holding keys or policies; a change of what is served recompiles. */
  let claiming: Promise<void> | undefined;
  const claimRound = (): Promise<void> =>
    (claiming ??= (async () => {
      const set = runner.current?.update.set;
      if (!claims || !set || closed) return;
      // Leadership is asked again before each write: a round begun as leader may resume, after a
      // pause, with a successor leading (its claim write ended every run key: twelfth round).
      const leads = opts.claims?.leads;
      // Invalid objects' and policies' namespaces too: their statuses are written only where claimed.
      const namespaces = namespacesToClaim(set);
      let changed = await claims.sync(namespaces, () => leading && !closed && (leads?.() ?? true));
      metrics?.claimedElsewhere.set(claims.elsewhere().size);
      if (nsLedgers && (await readNamespaceLedgers([...namespaces]))) changed = true;
      if (changed && runner.recompile()) {
        due = true;
        void requestPass();
      }
    })()
      .catch((err: unknown) => log.error({ error: (err as Error).message }, 'namespace claims failed'))
      .finally(() => {
        claiming = undefined;
      }));
  let claimTimer: NodeJS.Timeout | undefined;

  const tick = async () => {
    if (!proceed()) return;
    const spendChanged = await spend.refresh(served());
    if (
      due ||
      spendChanged ||
      runner.statusesNow() !== lastStatuses ||
      clock.now() - lastFullPassAt >= resyncMs
    )
      await requestPass();
  };

  return {
    async start() {
      void loadLedger();
      // Revocation fast path (ADR 0014): a deleted VaultKey's token is recorded and its key leaves
      // the table as soon as the watch reports it, ahead of the compile of the whole table.
      source.onDelete((d) => {
        if (d.kind !== 'VaultKey' || d.uid === undefined) return;
        const entry = revocations.tokenOf(d.uid);
        if (!entry || runner.current?.snapshot.keys.get(entry.digest)?.uid !== d.uid) return;
        const at = clock.now();
        record([{ ...entry, at }]);
        runner.removeKeys(new Set([entry.digest]), at);
      });
      // Every table put in force (an update's, a recompile's after the ledger or the claims changed,
      // the fast path's): a token it no longer serves for a live key is kept for that key's deletion.
      runner.publishTo((o) => {
        const overflow = revocations.served(o.update.set, o.snapshot.keys);
        if (overflow.length > 0) {
          const at = clock.now();
          record(overflow.map((e) => ({ ...e, at })));
        }
      });
      source.onUpdate((u) => {
        record(revocations.revokedBy(u, clock.now()));
        const { snapshot } = runner.run(u);
        // Past MAX_SUPERSEDED a key: recorded now (fail closed).
        const overflow = revocations.remember(u.set, snapshot.keys);
        if (overflow.length > 0) {
          const at = clock.now();
          record(overflow.map((e) => ({ ...e, at })));
        }
      });
      await source.start();
      timer = setInterval(() => void tick(), opts.statusIntervalMs ?? 10_000);
      timer.unref();
      if (opts.claims) {
        await claimRound();
        claimTimer = setInterval(() => void claimRound(), opts.claims.intervalMs);
        claimTimer.unref();
      }
    },
    startLeading() {
      leading = true;
      due = true;
      metrics?.leader.set(1);
      // Claims first: a new leader renews its release's claims (or learns they lapsed) at once.
      void claimRound().then(tick);
    },
    stopLeading() {
      leading = false;
      metrics?.leader.set(0);
      status.reset();
    },
    get snapshot() {
      return runner.current?.snapshot;
    },
    get ready() {
      return ledgerLoaded;
    },
    pendingKey: (namespace, name) =>
      claims !== undefined &&
      source.get('VaultKey', namespace, name) !== undefined &&
      compiledScope.get(namespace) !== true &&
      !claims.elsewhere().has(namespace),
    problem: () => (ledgerLoaded ? undefined : (ledgerProblem ?? 'the revocation ledger is not loaded yet')),
    async reconcile() {
      await spend.refresh(served());
      await requestPass();
    },
    tick,
    keySpendSeries: () => renderKeySpend(leading ? keySpend() : []),
    async close() {
      closed = true;
      stopLoading.abort();
      clearInterval(timer);
      clearInterval(claimTimer);
      await claiming;
      await running;
      await source.close();
    },
  };
}

/**
 * `statuses` without those of the objects of `others`: a compile from before an object was marked
 * for deletion still holds its last verdict, which must not be written over its `Deleting`.
 */
function withoutObjects(statuses: readonly ObjectStatus[], others: readonly ObjectStatus[]): ObjectStatus[] {
  const id = (s: ObjectStatus) => `${s.kind}/${s.namespace}/${s.name}`;
  const skip = new Set(others.map(id));
  return statuses.filter((s) => !skip.has(id(s)));
}

const byUidOf = new WeakMap<Snapshot, Map<string, CompiledKey>>();

/** The served keys of a table by uid, built once per table. */
function keysByUid(snapshot: Snapshot): Map<string, CompiledKey> {
  let index = byUidOf.get(snapshot);
  if (!index) {
    index = new Map();
    for (const k of snapshot.keys.values()) index.set(k.uid, k);
    byUidOf.set(snapshot, index);
  }
  return index;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
