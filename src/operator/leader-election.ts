import { setTimeout as sleep } from 'node:timers/promises';
import { CoordinationV1Api, type KubeConfig, type V1Lease, V1MicroTime } from '@kubernetes/client-node';
import type { Log } from '../telemetry/logger.ts';

/** The part of a coordination.k8s.io/v1 Lease the lock reads and writes. */
export interface LeaseRecord {
  readonly resourceVersion?: string;
  readonly holderIdentity?: string;
  readonly leaseDurationSeconds?: number;
  readonly acquireTime?: string;
  readonly renewTime?: string;
  readonly leaseTransitions?: number;
}

/**
 * Compare-and-swap access to one Lease object (real API or an in-memory fake in tests). A write
 * resolves to the record as stored, with the resourceVersion the API server gave it: a claim's holder
 * tells its own last write from anyone else's by it (namespace-claims.ts).
 */
export interface LeaseStore {
  /** undefined when the Lease does not exist. */
  read(): Promise<LeaseRecord | undefined>;
  /** undefined when someone else created it first (409). */
  create(record: LeaseRecord): Promise<LeaseRecord | undefined>;
  /** Replaces the spec if the resourceVersion still matches; undefined on a conflict (409). */
  replace(record: LeaseRecord): Promise<LeaseRecord | undefined>;
}

/** The largest `leaseTransitions` the API server stores: the field is an int32. */
export const MAX_LEASE_TRANSITIONS = 2_147_483_647;

/**
 * The `leaseTransitions` to write over a Lease read with `current`: one more when this write takes
 * the Lease, the same when it renews, and never past the int32 the API server stores. Anyone allowed
 * to write the Lease sets the value it counts from (thirteenth round: a tenant patched a namespace
 * claim's to 2^31-1, so the holder's take-back wrote 2^31, refused with 400 at every round, and its
 * hold lapsed to the other release, which served the namespace from its own counters). A value no
 * API server stores (negative, fractional) counts from 0.
 */
export function nextLeaseTransitions(current: number | undefined, taken: boolean): number {
  const from =
    current !== undefined && Number.isSafeInteger(current) && current >= 0
      ? Math.min(current, MAX_LEASE_TRANSITIONS)
      : 0;
  return Math.min(from + (taken ? 1 : 0), MAX_LEASE_TRANSITIONS);
}

/**
 * Writes `next` over the Lease; if the API server refuses it as invalid (400, 422) while it carries an
 * acquireTime read from the Lease, writes it once more with `stamp` in its place, rather than sending
 * at every round a record that never lands (a leader then loses its Lease, a claim's holder its hold).
 * Resolves to the record sent and as stored (`retried`: with `stamp`), or undefined on a conflict (409).
 */
export async function replaceOrFresh(
  store: LeaseStore,
  next: LeaseRecord,
  stamp: string,
): Promise<{ sent: LeaseRecord; stored: LeaseRecord; retried: boolean } | undefined> {
  let sent = next;
  let stored: LeaseRecord | undefined;
  try {
    stored = await store.replace(next);
  } catch (err) {
    if (!refusedAsInvalid(err) || next.acquireTime === stamp) throw err;
    sent = { ...next, acquireTime: stamp };
    stored = await store.replace(sent);
  }
  return stored && { sent, stored, retried: sent !== next };
}

/** client-go's defaults: a standby takes over at most leaseDuration after the leader stops renewing. */
export const DEFAULT_LEASE_TIMINGS = {
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
};

export interface LeaderElectionOptions {
  readonly store: LeaseStore;
  readonly identity: string;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  readonly log: Log;
  readonly onStartedLeading: () => void;
  readonly onStoppedLeading: () => void;
  /** Wall clock (ms) for the Lease's timestamps, which other replicas read; never for a duration. */
  readonly clock?: () => number;
  /**
   * A monotonic clock (ms; default performance.now) by which this process's leadership runs out:
   * a wall clock may step, and a process paused past its deadline must not count itself leader.
   */
  readonly monotonic?: () => number;
}

/**
 * A Lease request refused for a reason that waiting will not fix (the namespace does not exist, RBAC
 * forbids it): reported as a readiness problem at once, not after several failed attempts.
 */
export class LeaseError extends Error {
  override readonly name = 'LeaseError';
  readonly permanent: boolean;
  /** The API server's HTTP status, when it answered (a write it refused as invalid: 400, 422). */
  readonly status: number | undefined;
  constructor(message: string, permanent: boolean, status?: number) {
    super(message);
    this.permanent = permanent;
    this.status = status;
  }
}

/**
 * A write the API server refused as invalid (400, 422): the record sent, not the moment, is at fault,
 * so sending it again never lands. A writer that carried a value over from the Lease as read retries
 * once with a record of its own instead (thirteenth round: a tenant's acquireTime made every claim
 * write of the holder a 400, and its hold lapsed to the other release).
 */
export function refusedAsInvalid(err: unknown): boolean {
  return err instanceof LeaseError && (err.status === 400 || err.status === 422);
}

/** A MicroTime as the API server reads it back: microseconds, UTC, a four-digit year. */
const WRITABLE_MICROTIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

/**
 * A Lease's `acquireTime` as read, in a form this process may write back: the instant it names,
 * formatted again as this process formats its own stamps; undefined when it names none, or one before
 * 1970 or past year 9999. Anyone allowed to write the Lease writes this field, and the API server
 * takes any RFC 3339 time with an offset, stores the instant, and reads it back in UTC: written as
 * 9999-12-31T23:59:59.999999-01:00, it is read as 10000-01-01T00:59:59.999999Z, which the same API
 * server refuses (400) when written back (thirteenth round: carried over verbatim at an operator's
 * restart or failover, it made every claim write a 400 for good). No Keybrake stamp is ever outside
 * those years; a caller writes its own stamp in place of undefined.
 */
export function writableMicroTime(text: string | undefined): string | undefined {
  if (!text) return undefined;
  const at = Date.parse(text);
  if (!Number.isFinite(at) || at < 0) return undefined;
  // Already as the API server reads it back: kept as it is. Formatting it again would drop its
  // microseconds (Date has milliseconds), and a claim's acquireTime is its run epoch, so a failover's
  // release that rewrote it ended every run key of the release (CI, run-stop-release-move).
  if (WRITABLE_MICROTIME.test(text)) return text;
  const out = new V1MicroTime(at).toISOString();
  return WRITABLE_MICROTIME.test(out) ? out : undefined;
}

/** Failed attempts in a row after which a transient error becomes a readiness problem. */
export const LEASE_FAILURES_BEFORE_PROBLEM = 3;

/** Which operator replica writes status and serves snapshots (DESIGN.md §3: only the leader does). */
export interface LeaderElector {
  start(): void;
  /**
   * True only while leading and within the renew deadline of the last successful renewal, by the
   * monotonic clock: a process paused (SIGSTOP, a long GC) past it is not leader when it resumes,
   * although its renew loop has not run yet to notice. Ask it at every use that publishes.
   */
  isLeader(): boolean;
  /**
   * The Lease's `leaseTransitions` of the term this process leads (undefined while not leading): it
   * rises with every acquisition by another process, so a proxy can tell a newer leader from an older
   * one whatever their clocks say (ADR 0005, sixth round).
   */
  term(): number | undefined;
  /**
   * Milliseconds since the last successful acquisition or renewal was sent, by the monotonic clock
   * (+Infinity before the first): the last moment this process demonstrably reached the API server,
   * which bounds what a leader may vouch for (vouch.ts).
   */
  sinceRenewalMs(): number;
  /**
   * Why this replica cannot take part in the election (e.g. `Lease namespace "x" does not exist`),
   * for /readyz: a permanent refusal at once, other errors after LEASE_FAILURES_BEFORE_PROBLEM
   * attempts in a row; undefined once an attempt gets an answer, and never while leading.
   */
  problem(): string | undefined;
  /** Stops campaigning; a leader releases the Lease so a standby takes over at once. */
  stop(): Promise<void>;
}

/** Timings that cannot work are refused up front, as client-go does. */
export function checkLeaseTimings(t: {
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}): string | undefined {
  if (t.retryPeriodMs <= 0) return 'retry period must be positive';
  if (t.leaseDurationMs <= t.renewDeadlineMs) return 'lease duration must be longer than the renew deadline';
  if (t.renewDeadlineMs <= t.retryPeriodMs * 1.2) return 'renew deadline must exceed 1.2 × the retry period';
  if (t.leaseDurationMs < 1_000) return 'lease duration must be at least 1s (the Lease counts whole seconds)';
  return undefined;
}

type Attempt = 'acquired' | 'held' | 'conflict' | 'error';

/**
 * A Lease lock, as client-go's leaderelection package does it. Expiry is judged by when *this*
 * process last saw the record change, never by comparing timestamps written by another host, so
 * clock skew between replicas cannot make two leaders. A leader that cannot renew within the renew
 * deadline, or meets a conflict, steps down before its lease can expire for the others.
 */
export function createLeaderElector(opts: LeaderElectionOptions): LeaderElector {
  const leaseDurationMs = opts.leaseDurationMs ?? DEFAULT_LEASE_TIMINGS.leaseDurationMs;
  const renewDeadlineMs = opts.renewDeadlineMs ?? DEFAULT_LEASE_TIMINGS.renewDeadlineMs;
  const retryPeriodMs = opts.retryPeriodMs ?? DEFAULT_LEASE_TIMINGS.retryPeriodMs;
  const now = opts.clock ?? Date.now;
  const monotonic = opts.monotonic ?? (() => performance.now());
  const stop = new AbortController();
  let leading = false;
  /**
   * Monotonic time the last successful acquire or renew was sent: counted from the request, not the
   * answer, as the other replicas may have seen the record change any time after it left.
   */
  let renewedAt = Number.NEGATIVE_INFINITY;
  /** leaseTransitions of the record this process last wrote as holder. */
  let heldTerm: number | undefined;
  const withinDeadline = () => monotonic() - renewedAt < renewDeadlineMs;
  let observed: { key: string; at: number; record: LeaseRecord } | undefined;
  let running: Promise<void> | undefined;
  let warnedHeld = false;
  let failures = 0;
  let lastError: { message: string; permanent: boolean } | undefined;
  let reported: string | undefined;
  const problem = () =>
    !leading && lastError && (lastError.permanent || failures >= LEASE_FAILURES_BEFORE_PROBLEM)
      ? lastError.message
      : undefined;

  const observe = (record: LeaseRecord) => {
    const key = `${record.holderIdentity ?? ''}|${record.renewTime ?? ''}|${record.acquireTime ?? ''}`;
    // When this process saw the record change, by the monotonic clock: a standby's wall clock stepped
    // back would hold off its takeover by the step (eighth round: 600 s), one stepped forward take a
    // healthy leader's Lease at once.
    if (observed?.key !== key) observed = { key, at: monotonic(), record };
    else observed.record = record;
  };

  const attempt = async (): Promise<Attempt> => {
    const sentAt = monotonic();
    const acquired = (): Attempt => {
      renewedAt = sentAt;
      return 'acquired';
    };
    const t = now();
    const stamp = new V1MicroTime(t).toISOString();
    const durationSeconds = Math.ceil(leaseDurationMs / 1000);
    try {
      const record = await opts.store.read();
      // Not yet `answered`: a missing namespace reads as "no Lease" and only the create says so.
      if (!record) {
        const fresh: LeaseRecord = {
          holderIdentity: opts.identity,
          leaseDurationSeconds: durationSeconds,
          acquireTime: stamp,
          renewTime: stamp,
          leaseTransitions: 0,
        };
        if (!(await opts.store.create(fresh))) return answered('conflict');
        observe(fresh);
        heldTerm = 0;
        return answered(acquired());
      }
      answered(undefined);
      observe(record);
      const holder = record.holderIdentity ?? '';
      const mine = holder === opts.identity;
      const duration = (record.leaseDurationSeconds ?? durationSeconds) * 1000;
      if (holder !== '' && !mine && observed!.at + duration > monotonic()) return 'held';
      const next: LeaseRecord = {
        ...(record.resourceVersion !== undefined && { resourceVersion: record.resourceVersion }),
        holderIdentity: opts.identity,
        leaseDurationSeconds: durationSeconds,
        // Kept over this identity's own term, as the API server reads it back: one written by anyone
        // else that the API server cannot take back is replaced (thirteenth round, namespace claims).
        acquireTime: (mine && writableMicroTime(record.acquireTime)) || stamp,
        renewTime: stamp,
        // A renewal keeps the term; any acquisition starts one, even this identity's after a restart
        // (client-go counts holder changes only): a proxy compares terms to take a newer leader's table.
        // At the int32 ceiling a new term equals the last: a proxy then takes no lower table from it
        // (out-of-step.ts: only a newer term's), which fails closed, where 2^31 would be refused
        // (400) and leave the release without a leader.
        leaseTransitions: nextLeaseTransitions(record.leaseTransitions, !(mine && leading)),
      };
      const written = (await replaceOrFresh(opts.store, next, stamp))?.sent;
      if (!written) return 'conflict';
      observe(written);
      heldTerm = written.leaseTransitions;
      return acquired();
    } catch (err) {
      failures++;
      const message = err instanceof Error ? (err.message.split('\n')[0] ?? err.name) : String(err);
      lastError = { message, permanent: err instanceof LeaseError && err.permanent };
      const now = problem();
      // A problem is logged once, when it appears or changes; a transient error on each attempt.
      if (now !== undefined && now !== reported)
        opts.log.error({ identity: opts.identity, problem: now }, now);
      else if (now === undefined) opts.log.warn({ lease: 'error', error: message }, 'lease request failed');
      reported = now;
      return 'error';
    }
  };

  /** An attempt that got an answer (any answer): the Lease is reachable again. */
  const answered = <T>(result: T): T => {
    if (reported !== undefined) opts.log.info({ identity: opts.identity }, 'lease reachable again');
    failures = 0;
    lastError = undefined;
    reported = undefined;
    return result;
  };

  const bounded = (ms: number): Promise<Attempt> =>
    Promise.race([attempt(), sleep(Math.max(1, ms), 'error' as const, { ref: false })]);

  const pause = async (ms: number) => {
    try {
      await sleep(ms, undefined, { signal: stop.signal });
    } catch {
      // stopped
    }
  };

  const campaign = async () => {
    while (!stop.signal.aborted) {
      // A standby's attempt is bounded too: one stuck on a connection that went silent would keep
      // this replica out of the election until the API server closed it (eighth round: 107 s). One
      // that answers late is harmless: its write was a compare-and-swap, and the next attempt reads.
      const result = await bounded(renewDeadlineMs);
      if (stop.signal.aborted) return;
      if (result !== 'acquired') {
        if (!warnedHeld) {
          warnedHeld = true;
          opts.log.info({ identity: opts.identity, holder: observed?.record.holderIdentity }, 'standby');
        }
        await pause(retryPeriodMs * (1 + Math.random() * 0.2));
        continue;
      }
      leading = true;
      warnedHeld = false;
      opts.log.info({ identity: opts.identity }, 'leading');
      safely(opts.onStartedLeading);
      while (!stop.signal.aborted) {
        await pause(retryPeriodMs);
        if (stop.signal.aborted) return;
        const renewed = await bounded(renewDeadlineMs - (monotonic() - renewedAt));
        if (stop.signal.aborted) return;
        if (renewed === 'acquired') continue;
        // Someone else holds it or changed it under us: we lost. Transient errors: retry until the deadline.
        if (renewed === 'held' || renewed === 'conflict' || !withinDeadline()) break;
      }
      leading = false;
      opts.log.warn({ identity: opts.identity }, 'leadership lost');
      opts.log.info({ identity: opts.identity, holder: observed?.record.holderIdentity }, 'standby');
      warnedHeld = true;
      safely(opts.onStoppedLeading);
    }
  };

  const safely = (fn: () => void) => {
    try {
      fn();
    } catch (err) {
      opts.log.error({ err }, 'leader election callback failed');
    }
  };

  return {
    start() {
      running ??= campaign();
    },
    isLeader: () => leading && withinDeadline(),
    term: () => (leading && withinDeadline() ? heldTerm : undefined),
    sinceRenewalMs: () => monotonic() - renewedAt,
    problem,
    async stop() {
      stop.abort();
      await running;
      if (!leading) return;
      leading = false;
      // Clearing the holder lets a standby take over on its next retry instead of after leaseDuration.
      const record = await opts.store.read().catch(() => undefined);
      if (record?.holderIdentity === opts.identity) {
        const stamp = new V1MicroTime(now()).toISOString();
        // A record of its own, as every write of this elector: the Lease as read carries what anyone
        // allowed to write it put there, and an acquireTime the API server stores but refuses when
        // written back (year 10000) made the release a 400, so a standby waited the whole lease
        // duration at every rolling update (thirteenth round, probe fixes13y finding 4).
        const release: LeaseRecord = {
          ...(record.resourceVersion !== undefined && { resourceVersion: record.resourceVersion }),
          holderIdentity: '',
          leaseDurationSeconds: 1,
          acquireTime: writableMicroTime(record.acquireTime) ?? stamp,
          renewTime: stamp,
          leaseTransitions: nextLeaseTransitions(record.leaseTransitions, false),
        };
        const released = await replaceOrFresh(opts.store, release, stamp)
          .then((written) => written !== undefined)
          .catch(() => false);
        opts.log.info({ identity: opts.identity, released }, 'lease released');
      }
      safely(opts.onStoppedLeading);
    },
  };
}

/** The LeaseStore over the real API (CoordinationV1Api), for one Lease. */
export function kubernetesLeaseStore(kc: KubeConfig, namespace: string, name: string): LeaseStore {
  const api = kc.makeApiClient(CoordinationV1Api);
  const spec = (r: LeaseRecord) => ({
    holderIdentity: r.holderIdentity ?? '',
    leaseDurationSeconds: r.leaseDurationSeconds,
    leaseTransitions: r.leaseTransitions,
    // Sent as written (microsecond RFC 3339); the generated types call these Date.
    acquireTime: r.acquireTime as unknown as V1MicroTime,
    renewTime: r.renewTime as unknown as V1MicroTime,
  });
  const code = (err: unknown) => (err as { code?: number }).code;
  const stored = (r: LeaseRecord, lease: V1Lease): LeaseRecord => {
    const { resourceVersion: _sent, ...rest } = r;
    return {
      ...rest,
      ...(lease.metadata?.resourceVersion !== undefined && {
        resourceVersion: lease.metadata.resourceVersion,
      }),
    };
  };
  const where = `Lease ${namespace}/${name}`;
  /** The API's error as a LeaseError that says what to do; 404 on create means the namespace is missing. */
  const explain = (verb: 'read' | 'create' | 'update', err: unknown): LeaseError => {
    const status = code(err);
    if (status === 404 && verb === 'create')
      return new LeaseError(
        `Lease namespace "${namespace}" does not exist: create it (kubectl create namespace ${namespace}) or set --lease-namespace to the operator's own namespace`,
        true,
      );
    if (status === 403 || status === 401)
      return new LeaseError(
        `forbidden to ${verb} ${where} (status ${status}): the operator's Role in "${namespace}" must allow leases get, create, update`,
        true,
      );
    const detail =
      status === undefined
        ? err instanceof Error
          ? err.message.split('\n')[0]
          : String(err)
        : `status ${status}`;
    return new LeaseError(`cannot ${verb} ${where}: ${detail}`, false, status);
  };
  return {
    async read() {
      try {
        const lease = await api.readNamespacedLease({ namespace, name });
        const s = lease.spec ?? {};
        const text = (v: unknown) =>
          v === undefined || v === null ? undefined : v instanceof Date ? v.toISOString() : String(v);
        return {
          ...(lease.metadata?.resourceVersion !== undefined && {
            resourceVersion: lease.metadata.resourceVersion,
          }),
          ...(s.holderIdentity !== undefined && { holderIdentity: s.holderIdentity }),
          ...(s.leaseDurationSeconds !== undefined && { leaseDurationSeconds: s.leaseDurationSeconds }),
          ...(text(s.acquireTime) !== undefined && { acquireTime: text(s.acquireTime)! }),
          ...(text(s.renewTime) !== undefined && { renewTime: text(s.renewTime)! }),
          ...(s.leaseTransitions !== undefined && { leaseTransitions: s.leaseTransitions }),
        };
      } catch (err) {
        if (code(err) === 404) return undefined;
        throw explain('read', err);
      }
    },
    async create(r) {
      try {
        const lease = await api.createNamespacedLease({
          namespace,
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name, namespace },
            spec: spec(r),
          },
        });
        return stored(r, lease);
      } catch (err) {
        if (code(err) === 409) return undefined;
        throw explain('create', err);
      }
    },
    async replace(r) {
      try {
        const lease = await api.replaceNamespacedLease({
          namespace,
          name,
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: {
              name,
              namespace,
              ...(r.resourceVersion !== undefined && { resourceVersion: r.resourceVersion }),
            },
            spec: spec(r),
          },
        });
        return stored(r, lease);
      } catch (err) {
        if (code(err) === 409) return undefined;
        throw explain('update', err);
      }
    },
  };
}
