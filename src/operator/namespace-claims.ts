import { V1MicroTime } from '@kubernetes/client-node';
import type { Log } from '../telemetry/logger.ts';
import type { LeaseRecord, LeaseStore } from './leader-election.ts';

/**
 * The Lease by which one release claims a namespace, in that namespace. Two releases whose scopes
 * overlap (one watching every namespace, one a few) would each serve the same VaultKey through its
 * own proxies and Redis, each cap counted once per release: a namespace's keys are served by the
 * release whose claim it holds, and by no other (ADR 0005, seventh round).
 */
export const CLAIM_LEASE_NAME = 'keybrake-claim';

export interface NamespaceClaimsOptions {
  /** The claim Lease of one namespace (real API or an in-memory fake in tests). */
  readonly storeFor: (namespace: string) => LeaseStore;
  /** This release, written as holderIdentity: `<release namespace>/<leader Lease name>`. */
  readonly release: string;
  /**
   * How long another release waits, from when it saw a claim last change, before taking it: the
   * leader Lease's duration (a failover of the holding release renews in time) plus the proxies'
   * --max-staleness (a proxy cut off from its operator serves its last table that long).
   */
  readonly claimDurationMs: number;
  /** A claim this process has not confirmed for this long is not served (the leader's renew deadline). */
  readonly renewDeadlineMs: number;
  /** Wall clock (ms) for the Lease's timestamps. */
  readonly clock: () => number;
  /** Monotonic clock (ms) by which claims are confirmed and lapse. */
  readonly monotonic: () => number;
  readonly log: Log;
}

/** Which namespaces this release serves (operator → compile: keys elsewhere are left out). */
export interface NamespaceClaims {
  /**
   * One round over the namespaces holding VaultKeys: a leader creates, renews and takes over lapsed
   * claims; a standby only reads (its release's claims, renewed by its leader, are its to serve on
   * a failover). Resolves to true when the namespaces served changed.
   */
  sync(namespaces: Iterable<string>, leading: boolean): Promise<boolean>;
  /** True while this release holds the namespace's claim, confirmed within the renew deadline. */
  serves(namespace: string): boolean;
  /** Namespaces holding keys that another release holds: namespace → that release. */
  elsewhere(): ReadonlyMap<string, string>;
}

interface ClaimState {
  /** The record as last read or written, and when (monotonic) this process first saw it so. */
  observed?: { key: string; at: number; record: LeaseRecord };
  /** Monotonic time this release's hold was last confirmed: a request sent that wrote or read it. */
  confirmedAt: number;
  /** The problem last logged for this namespace, logged again only when it changes. */
  reported?: string;
}

/**
 * Namespace claims, as the leader election's lock does them: expiry is judged by when this process
 * saw the record change, never by another host's timestamps, and the holder's own hold lapses
 * (renewDeadlineMs) before anyone else may take it (claimDurationMs), so a namespace is never
 * served by two releases at once. First come, first served; a claim left unrenewed (the release
 * uninstalled, or its scope narrowed) passes to the next release after claimDurationMs.
 */
export function createNamespaceClaims(opts: NamespaceClaimsOptions): NamespaceClaims {
  const states = new Map<string, ClaimState>();
  const stores = new Map<string, LeaseStore>();
  const durationSeconds = Math.ceil(opts.claimDurationMs / 1000);
  const held = (s: ClaimState | undefined) =>
    s !== undefined && opts.monotonic() - s.confirmedAt < opts.renewDeadlineMs;

  const observe = (s: ClaimState, record: LeaseRecord, sentAt: number) => {
    const key = `${record.holderIdentity ?? ''}|${record.renewTime ?? ''}|${record.acquireTime ?? ''}`;
    if (s.observed?.key !== key) s.observed = { key, at: sentAt, record };
    else s.observed.record = record;
  };

  const report = (namespace: string, s: ClaimState, problem: string | undefined, error = false) => {
    if (problem === s.reported) return;
    s.reported = problem;
    if (problem === undefined) opts.log.info({ namespace }, 'namespace claimed: its VaultKeys are served');
    else if (error) opts.log.warn({ namespace, problem }, problem);
    else opts.log.error({ namespace, problem }, problem);
  };

  const syncOne = async (namespace: string, leading: boolean) => {
    const s = states.get(namespace) ?? { confirmedAt: Number.NEGATIVE_INFINITY };
    states.set(namespace, s);
    const store = stores.get(namespace) ?? opts.storeFor(namespace);
    stores.set(namespace, store);
    const sentAt = opts.monotonic();
    const stamp = new V1MicroTime(opts.clock()).toISOString();
    try {
      const record = await store.read();
      if (!record) {
        if (!leading) return;
        const fresh: LeaseRecord = {
          holderIdentity: opts.release,
          leaseDurationSeconds: durationSeconds,
          acquireTime: stamp,
          renewTime: stamp,
          leaseTransitions: 0,
        };
        // Another release may create it first: then it is theirs, as the next read will show.
        if (await store.create(fresh)) {
          observe(s, fresh, sentAt);
          s.confirmedAt = sentAt;
        }
        return;
      }
      observe(s, record, sentAt);
      const holder = record.holderIdentity ?? '';
      const mine = holder === opts.release;
      if (!leading) {
        // A standby trusts its release's claim as long as the leader is seen renewing it.
        s.confirmedAt = mine ? s.observed!.at : Number.NEGATIVE_INFINITY;
        if (!mine && holder !== '') report(namespace, s, claimedElsewhere(namespace, holder));
        return;
      }
      const lapsed =
        opts.monotonic() - s.observed!.at >= (record.leaseDurationSeconds ?? durationSeconds) * 1000;
      if (!mine && holder !== '' && !lapsed) {
        s.confirmedAt = Number.NEGATIVE_INFINITY;
        report(namespace, s, claimedElsewhere(namespace, holder));
        return;
      }
      const next: LeaseRecord = {
        ...(record.resourceVersion !== undefined && { resourceVersion: record.resourceVersion }),
        holderIdentity: opts.release,
        leaseDurationSeconds: durationSeconds,
        acquireTime: mine && record.acquireTime ? record.acquireTime : stamp,
        renewTime: stamp,
        leaseTransitions: (record.leaseTransitions ?? 0) + (mine ? 0 : 1),
      };
      if (await store.replace(next)) {
        observe(s, next, sentAt);
        s.confirmedAt = sentAt;
        if (!mine) opts.log.warn({ namespace, from: holder }, 'took over the lapsed claim of a namespace');
      }
    } catch (err) {
      const message = err instanceof Error ? (err.message.split('\n')[0] ?? err.name) : String(err);
      report(namespace, s, `cannot claim namespace ${namespace}: ${message}`, true);
      return;
    }
    if (held(s)) report(namespace, s, undefined);
  };

  let served = new Set<string>();
  return {
    async sync(namespaces, leading) {
      const wanted = new Set(namespaces);
      // A namespace without keys is no longer claimed: its claim lapses for the others to take.
      for (const ns of states.keys())
        if (!wanted.has(ns)) {
          states.delete(ns);
          stores.delete(ns);
        }
      await Promise.all([...wanted].map((ns) => syncOne(ns, leading)));
      const now = new Set([...wanted].filter((ns) => held(states.get(ns))));
      const changed = now.size !== served.size || [...now].some((ns) => !served.has(ns));
      served = now;
      return changed;
    },
    serves: (namespace) => held(states.get(namespace)),
    elsewhere() {
      const out = new Map<string, string>();
      for (const [ns, s] of states) {
        const holder = s.observed?.record.holderIdentity ?? '';
        if (holder !== '' && holder !== opts.release && !held(s)) out.set(ns, holder);
      }
      return out;
    },
  };
}

function claimedElsewhere(namespace: string, holder: string): string {
  return `namespace ${namespace} is claimed by the Keybrake release ${holder}: its VaultKeys are served by that release and left out of this one's table (key_unknown on its proxies) until that claim lapses (Lease ${namespace}/${CLAIM_LEASE_NAME})`;
}
