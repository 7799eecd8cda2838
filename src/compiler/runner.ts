import {
  type DocumentError,
  formatDocumentError,
  type ResourceSet,
  type ResourceSetUpdate,
} from '../api/resource-set.ts';
import type { Clock } from '../clock.ts';
import type { Snapshot } from '../snapshot/types.ts';
import { withoutKeys } from '../snapshot/without-keys.ts';
import { compile, createCompileCache, type ObjectStatus, type TokenGuard } from './compile.ts';
import { patchCompile } from './patch.ts';
import { revocationsOf } from './revocations.ts';

/** What the runner made of one source update: handed to publishers (the snapshot) and status sinks. */
export interface CompileOutcome<U extends ResourceSetUpdate = ResourceSetUpdate> {
  /** false: the update was refused (see `refuseChangesWithErrors`); snapshot and statuses are the last good ones. */
  readonly applied: boolean;
  /** The snapshot in force after this update (the same object as before when refused). */
  readonly snapshot: Snapshot;
  /** Sorted by kind, namespace, name; from the compile of `snapshot` (not-Ready ones only with `readyStatuses: false`). */
  readonly statuses: readonly ObjectStatus[];
  /** The update's document errors. */
  readonly errors: readonly DocumentError[];
  readonly update: U;
  /**
   * A refused update's revocations (removals, suspensions, earlier expiries, keys whose token or
   * upstream key it replaces), applied all the same (revocationsOf: `snapshot` is then a new one),
   * one line each; absent when none were.
   */
  readonly revoked?: readonly string[];
  /**
   * What a refused update would revoke but files it read with an error hold back at their version
   * in force (Revocations.held), one line each; absent when nothing is.
   */
  readonly held?: readonly string[];
}

/** A refused first update: there is no last good snapshot to keep serving, so `serve` must not start. */
export class ManifestError extends Error {
  override readonly name = 'ManifestError';
  /** Ready to print, one per problem (formatDocumentError). */
  readonly lines: readonly string[];
  constructor(lines: readonly string[]) {
    super(`invalid manifests:\n${lines.join('\n')}`);
    this.lines = lines;
  }
}

/** How one runner treats its source's updates: `serve` and the operator differ only here. */
export interface CompileRunnerOptions {
  readonly clock: Clock;
  /**
   * true for manifest files: a change with any document error is refused, because half a policy
   * directory could drop the very allowlist that made a key safe; the last good snapshot stays,
   * but for what the change revokes outside the files it read with an error (revocationsOf), and
   * a first update with errors throws ManifestError. false for the cluster: the API server
   * validated each object on its own, so an invalid one becomes a Ready=False condition and every
   * other object is served.
   */
  readonly refuseChangesWithErrors: boolean;
  /**
   * The version of the next snapshot from the previous one (0 before the first). Default previous + 1;
   * the operator stamps above what distribution has already published (nextSnapshotVersion).
   */
  readonly nextVersion?: (previous: number) => number;
  /** The cluster's token ownership and revocation ledger (the operator); absent for manifest files. */
  readonly tokens?: TokenGuard;
  /** false: outcomes carry statuses only for objects that are not Ready (CompileOptions.readyStatuses). */
  readonly readyStatuses?: boolean;
  /** false: no run-key index built with each compile (CompileOptions.runKeyIndex). */
  readonly runKeyIndex?: boolean;
  /**
   * true: an update is compiled as changes to the snapshot in force where it can be (patchCompile,
   * ADR 0018), with the same outcome. Only `serve`'s options allow it (no token guard, statuses for
   * objects not Ready only, no run-key index).
   */
  readonly patch?: boolean;
  /**
   * Which namespaces are compiled, asked at every compile (the operator's namespace claims: another
   * release serves the rest, and writes their status). Absent: every namespace.
   */
  readonly inScope?: (namespace: string) => boolean;
  /** The claim each namespace in scope is served under, for its keys' run secrets (CompileOptions.runClaim). */
  readonly runClaim?: (namespace: string) => string | undefined;
}

/** Sources → compile → publishers and status sinks (DESIGN.md §3), the same for `serve` and the operator. */
export interface CompileRunner<U extends ResourceSetUpdate = ResourceSetUpdate> {
  /** Stamps and compiles one update, publishes its snapshot, then tells every outcome listener. */
  run(update: U): CompileOutcome<U>;
  /** Adds a publisher: it is handed the snapshot in force at once (if any), then every new one. */
  publishTo(publisher: (outcome: CompileOutcome<U>) => void): () => void;
  /** Hears every outcome, refused ones too, after the publishers have the snapshot. */
  onOutcome(listener: (outcome: CompileOutcome<U>) => void): () => void;
  /** The last applied outcome: the snapshot in force. */
  readonly current: CompileOutcome<U> | undefined;
  /**
   * The statuses of the set in force, compiled again for the clock's now: expiry flips a key's
   * condition without any object changing. Empty before the first applied update.
   */
  statusesNow(): readonly ObjectStatus[];
  /**
   * Compiles the update in force again under a new version and publishes it, when something the
   * compile reads besides the update changed (the token ledger). Outcome listeners are not told:
   * no object changed. Undefined before the first applied update.
   */
  recompile(): CompileOutcome<U> | undefined;
  /**
   * Publishes the snapshot in force without the keys of these token digests, at once and under a
   * new version, ahead of the compile of the update that removes them (the revocation fast path,
   * ADR 0014): removing keys can only refuse more. Statuses and outcome listeners are left to that
   * compile. Undefined (nothing published) when none of them is in the table.
   */
  removeKeys(digests: ReadonlySet<string>, changedAt: number): CompileOutcome<U> | undefined;
}

/**
 * The one compile-and-publish loop: synchronous, so an outcome reaches its publishers in the order
 * the source emitted it. Publishers and listeners are called in the order they were added; a
 * listener that throws is the caller's bug and propagates to the source that called `run`.
 */
export function createCompileRunner<U extends ResourceSetUpdate = ResourceSetUpdate>(
  opts: CompileRunnerOptions,
): CompileRunner<U> {
  const nextVersion = opts.nextVersion ?? ((previous: number) => previous + 1);
  const publishers = new Set<(o: CompileOutcome<U>) => void>();
  const listeners = new Set<(o: CompileOutcome<U>) => void>();
  let current: CompileOutcome<U> | undefined;
  let set: ResourceSet | undefined;
  // Objects a source hands over unchanged are compiled once (CompileCache), not on every update.
  const options = {
    clock: opts.clock,
    cache: createCompileCache(),
    ...(opts.tokens && { tokens: opts.tokens }),
    ...(opts.readyStatuses === false && { readyStatuses: false }),
    ...(opts.runKeyIndex === false && { runKeyIndex: false }),
    ...(opts.patch && { patchable: true }),
    ...(opts.runClaim && { runClaim: opts.runClaim }),
  };

  const scoped = (all: ResourceSet) => (opts.inScope ? withinNamespaces(all, opts.inScope) : all);
  const compileSet = (all: ResourceSet) => {
    const next = scoped(all);
    const version = nextVersion(current?.snapshot.version ?? 0);
    return (
      (opts.patch && current && patchCompile(current.snapshot, next, { version, ...options })) ||
      compile(next, { version, ...options })
    );
  };

  /** The outcome of `update`, and what is in force after it (the outcome itself, unless refused). */
  const compileUpdate = (update: U): { outcome: CompileOutcome<U>; inForce?: CompileOutcome<U> } => {
    if (opts.refuseChangesWithErrors && update.errors.length > 0) {
      if (!current) throw new ManifestError(update.errors.map(formatDocumentError));
      const { snapshot: last, statuses } = current;
      const refused = { applied: false, snapshot: last, statuses, errors: update.errors, update };
      const revocations = revocationsOf(current.update, update);
      if (!revocations) return { outcome: refused };
      const held = revocations.held.length > 0 ? { held: revocations.held } : {};
      if (revocations.revoked.length === 0) return { outcome: { ...refused, ...held } };
      const compiled = compileSet(revocations.set);
      // Removals can still serve a key the table does not: one of two keys sharing a token (neither
      // served) loses the other. A refused change serves nothing new.
      const unserved = new Set<string>();
      for (const digest of compiled.snapshot.keys.keys())
        if (!current.snapshot.keys.has(digest)) unserved.add(digest);
      const snapshot = withoutKeys(compiled.snapshot, unserved, compiled.snapshot) ?? compiled.snapshot;
      set = revocations.set;
      const outcome = {
        ...refused,
        snapshot,
        statuses: compiled.statuses,
        revoked: revocations.revoked,
        ...held,
      };
      // In force: the set in force as revoked, still known by where it was read from.
      const asRevoked = { ...current.update, set: revocations.set, changedAt: update.changedAt };
      return { outcome, inForce: { ...outcome, update: asRevoked } };
    }
    const { snapshot, statuses } = compileSet(update.set);
    set = update.set;
    const outcome = { applied: true, snapshot, statuses, errors: update.errors, update };
    return { outcome, inForce: outcome };
  };

  /** Digests removed by removeKeys since the last update from the source. */
  let removed = new Set<string>();
  /** statusesNow's compile for a time after an expiry of `of`, good until the next expiry. */
  let later: { of: CompileOutcome<U>; statuses: readonly ObjectStatus[]; until: number } | undefined;

  return {
    run(update) {
      removed = new Set();
      const { outcome, inForce } = compileUpdate(update);
      if (inForce) {
        current = inForce;
        for (const p of publishers) p(outcome);
      }
      for (const l of listeners) l(outcome);
      return outcome;
    },
    publishTo(publisher) {
      publishers.add(publisher);
      if (current) publisher(current);
      return () => publishers.delete(publisher);
    },
    onOutcome(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    get current() {
      return current;
    },
    statusesNow() {
      if (!set || !current) return [];
      // Only an expiry can change a status without a change of objects: until the next one passes,
      // the statuses of the last compile stand (at 100 000 keys a compile holds the event loop
      // for most of a second, on every status pass). So do those of a compile for a later time,
      // until the expiry after it: an expired key must not make every pass compile again.
      const now = opts.clock.now();
      if (now < nextExpiry(current.snapshot)) return current.statuses;
      if (later?.of === current && now < later.until) return later.statuses;
      const { snapshot, statuses } = compile(scoped(set), { version: current.snapshot.version, ...options });
      later = { of: current, statuses, until: nextExpiry(snapshot) };
      return statuses;
    },
    removeKeys(digests, changedAt) {
      if (!current) return undefined;
      const snapshot = withoutKeys(current.snapshot, digests, {
        version: nextVersion(current.snapshot.version),
        compiledAt: opts.clock.now(),
      });
      if (!snapshot) return undefined;
      for (const d of digests) removed.add(d);
      current = { ...current, snapshot, update: { ...current.update, changedAt } };
      for (const p of publishers) p(current);
      return current;
    },
    recompile() {
      if (!current) return undefined;
      let { outcome } = compileUpdate({ ...current.update, changedAt: opts.clock.now() });
      // The set in force may predate a removeKeys: those keys must not be served again.
      const without = removed.size > 0 ? withoutKeys(outcome.snapshot, removed, outcome.snapshot) : undefined;
      if (without) outcome = { ...outcome, snapshot: without };
      current = outcome;
      for (const p of publishers) p(outcome);
      return outcome;
    },
  };
}

/** The objects of `set` in the namespaces `inScope` admits: the rest is neither served nor given a status. */
function withinNamespaces(set: ResourceSet, inScope: (namespace: string) => boolean): ResourceSet {
  const admitted = (o: { metadata: { namespace?: string | undefined } }) =>
    inScope(o.metadata.namespace ?? '');
  return {
    policies: set.policies.filter(admitted),
    keys: set.keys.filter(admitted),
    secrets: set.secrets.filter(admitted),
    rejected: set.rejected.filter((r) => inScope(r.namespace)),
  };
}

const expiries = new WeakMap<Snapshot, number>();

/** The first expiry after the snapshot was compiled, of a key it serves (Infinity: none). */
function nextExpiry(snapshot: Snapshot): number {
  let at = expiries.get(snapshot);
  if (at === undefined) {
    at = Number.POSITIVE_INFINITY;
    for (const k of snapshot.keys.values())
      if (k.expiresAt !== undefined && k.expiresAt > snapshot.compiledAt && k.expiresAt < at)
        at = k.expiresAt;
    expiries.set(snapshot, at);
  }
  return at;
}
