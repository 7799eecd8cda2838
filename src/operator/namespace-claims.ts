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
  /**
   * The claim under which this release holds the namespace: its holder and acquireTime, which a
   * release writes anew whenever it takes the claim (from another release, missing, or rewritten by
   * hand) and keeps while it renews. Mixed into the run secrets of the namespace's keys (CompileOptions
   * .runClaim): run keys minted under an earlier claim, whose stops stayed with the release that
   * took them, are refused (twelfth round). undefined when this release does not hold it.
   */
  epoch(namespace: string): string | undefined;
}

interface ClaimState {
  /** The record as last read or written, and when (monotonic) this process first saw it so. */
  observed?: { key: string; at: number; record: LeaseRecord };
  /** This process has seen the Lease exist: a Lease missing or held by this release later is a change. */
  seen?: true;
  /** Monotonic time this process first saw the Lease missing, in the current run of reads finding none. */
  missingSince?: number;
  /**
   * When this release's unbroken hold began, as this process has seen it (monotonic): -Infinity for
   * a hold found at this process's first look at the Lease; undefined while not held. The namespace
   * is served only claimDurationMs after it.
   */
  heldSince?: number;
  /** resourceVersion of this process's last write as leader: a holder reading any other did not write it. */
  written?: string;
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
 *
 * Anyone allowed to write Leases in the namespace (a tenant, for its own apps' leader election) can
 * move or delete the claim, and RBAC cannot stop it: the timing is the defence. A release serves a
 * namespace only once it has held the claim, unbroken, for claimDurationMs since it last saw it
 * missing, another's, or written by someone else (its leader tells its own writes by their
 * resourceVersion); a holder that sees any of these stops serving at once. A claim moved or
 * recreated by hand is so served by no release for that long, never by two.
 */
export function createNamespaceClaims(opts: NamespaceClaimsOptions): NamespaceClaims {
  /**
   * Every namespace that has held keys, kept when they go: the claim is not renewed meanwhile, but
   * a leader whose keys come back tells by its last write whether anyone else wrote the claim since.
   */
  const states = new Map<string, ClaimState>();
  const stores = new Map<string, LeaseStore>();
  const durationSeconds = Math.ceil(opts.claimDurationMs / 1000);
  const held = (s: ClaimState | undefined) => {
    const now = opts.monotonic();
    return (
      s?.heldSince !== undefined &&
      now - s.heldSince >= opts.claimDurationMs &&
      now - s.confirmedAt < opts.renewDeadlineMs
    );
  };

  const observe = (s: ClaimState, record: LeaseRecord, sentAt: number) => {
    const key = `${record.holderIdentity ?? ''}|${record.renewTime ?? ''}|${record.acquireTime ?? ''}`;
    if (s.observed?.key !== key) s.observed = { key, at: sentAt, record };
    else s.observed.record = record;
  };

  /** This process's own write stored: it holds the claim from `since`, confirmed as of `sentAt`. */
  const wrote = (s: ClaimState, stored: LeaseRecord, since: number, sentAt: number) => {
    s.seen = true;
    s.missingSince = undefined;
    s.heldSince = since;
    s.written = stored.resourceVersion;
    s.confirmedAt = sentAt;
    observe(s, stored, sentAt);
  };

  /** The claim is not this release's (missing, or another's): not served from this moment. */
  const lost = (namespace: string, s: ClaimState, now: string) => {
    if (s.heldSince !== undefined)
      opts.log.error(
        { namespace, now },
        `the claim of namespace ${namespace} held by this release is ${now} (Lease ${namespace}/${CLAIM_LEASE_NAME}): this release does not serve its VaultKeys`,
      );
    s.heldSince = undefined;
    s.confirmedAt = Number.NEGATIVE_INFINITY;
  };

  /** `transient`: the API failed (retried next round, a warning); else another release holds it (an error). */
  const report = (namespace: string, s: ClaimState, problem: string | undefined, transient = false) => {
    if (problem === s.reported) return;
    s.reported = problem;
    if (problem === undefined) opts.log.info({ namespace }, 'namespace claimed: its VaultKeys are served');
    else if (transient) opts.log.warn({ namespace, problem }, problem);
    else opts.log.error({ namespace, problem }, problem);
  };

  const fresh = (stamp: string): LeaseRecord => ({
    holderIdentity: opts.release,
    leaseDurationSeconds: durationSeconds,
    acquireTime: stamp,
    renewTime: stamp,
    leaseTransitions: 0,
  });

  /**
   * Renews this release's claim, or takes another's: the next record to write over `record`. The
   * acquireTime (the claim's epoch, and so its run secrets) is kept only over this release's own
   * unbroken hold: a claim taken, or rewritten by someone else, gets this moment's (twelfth round:
   * never an acquireTime somebody else chose).
   */
  const next = (record: LeaseRecord, mine: boolean, stamp: string, keepAcquired = mine): LeaseRecord => ({
    ...(record.resourceVersion !== undefined && { resourceVersion: record.resourceVersion }),
    holderIdentity: opts.release,
    leaseDurationSeconds: durationSeconds,
    acquireTime: keepAcquired && record.acquireTime ? record.acquireTime : stamp,
    renewTime: stamp,
    leaseTransitions: (record.leaseTransitions ?? 0) + (mine ? 0 : 1),
  });

  const syncOne = async (namespace: string, leading: boolean) => {
    const s = states.get(namespace) ?? { confirmedAt: Number.NEGATIVE_INFINITY };
    states.set(namespace, s);
    const store = stores.get(namespace) ?? opts.storeFor(namespace);
    stores.set(namespace, store);
    const sentAt = opts.monotonic();
    const stamp = new V1MicroTime(opts.clock()).toISOString();
    // Only a leader writes: a standby cannot tell its leader's writes from anyone else's.
    if (!leading) s.written = undefined;
    try {
      const record = await store.read();
      if (!record) {
        s.missingSince ??= sentAt;
        s.observed = undefined;
        lost(namespace, s, 'deleted');
        if (!leading) return;
        const stored = await store.create(fresh(stamp));
        // Another release may create it first: then it is theirs, as the next read will show.
        if (!stored) return;
        // A claim seen deleted may still be served by its holder until it looks: counted from the deletion.
        if (s.seen) report(namespace, s, changedByHand(namespace, opts.claimDurationMs));
        wrote(s, stored, s.seen ? s.missingSince : Number.NEGATIVE_INFINITY, sentAt);
      } else {
        const firstLook = !s.seen;
        s.seen = true;
        s.missingSince = undefined;
        const before = s.observed?.record.holderIdentity;
        observe(s, record, sentAt);
        const holder = record.holderIdentity ?? '';
        if (holder !== opts.release) {
          lost(namespace, s, holder === '' ? 'released' : `now held by ${holder}`);
          if (holder !== '') report(namespace, s, claimedElsewhere(namespace, holder));
          if (!leading) return;
          // The longer of the holder's duration and ours: a duration shortened by hand takes nothing early.
          const duration = Math.max(record.leaseDurationSeconds ?? 0, durationSeconds) * 1000;
          const since = s.observed!.at;
          if (holder !== '' && opts.monotonic() - since < duration) return;
          const stored = await store.replace(next(record, false, stamp));
          if (stored) {
            // Unchanged since `since`: its holder stopped serving by then, or this release waits.
            wrote(s, stored, since, sentAt);
            opts.log.warn({ namespace, from: holder }, 'took over the lapsed claim of a namespace');
          }
        } else {
          // This release's own, as this process last left it? A leader knows its last write; a
          // standby (or a leader before its first write) trusts its release's unbroken hold.
          const unbroken =
            s.written !== undefined ? record.resourceVersion === s.written : before === opts.release;
          const kept = firstLook ? Number.NEGATIVE_INFINITY : unbroken ? s.heldSince : undefined;
          if (kept === undefined) report(namespace, s, changedByHand(namespace, opts.claimDurationMs));
          s.heldSince = kept ?? sentAt;
          if (!leading) {
            // A standby trusts its release's claim as long as the leader is seen renewing it.
            s.confirmedAt = s.observed!.at;
          } else {
            const stored = await store.replace(next(record, true, stamp, kept !== undefined));
            if (stored) wrote(s, stored, s.heldSince, sentAt);
          }
        }
      }
    } catch (err) {
      const message = err instanceof Error ? (err.message.split('\n')[0] ?? err.name) : String(err);
      report(namespace, s, `cannot claim namespace ${namespace}: ${message}`, true);
      return;
    }
    if (held(s)) report(namespace, s, undefined);
  };

  const epochOf = (s: ClaimState | undefined) => {
    const record = s?.observed?.record;
    if (record?.holderIdentity !== opts.release || !record.acquireTime) return undefined;
    // As ms: the leader knows the text it wrote (microseconds), another replica the API's as read.
    const at = Date.parse(record.acquireTime);
    return Number.isFinite(at) ? `${record.holderIdentity}\n${at}` : undefined;
  };
  /** Each namespace served after the last round, and the epoch it was served under. */
  let served = new Map<string, string | undefined>();
  return {
    async sync(namespaces, leading) {
      const wanted = new Set(namespaces);
      // A namespace without keys is no longer claimed: its claim lapses for the others to take, and
      // a standby's unbroken watch of it ends.
      for (const [ns, state] of states)
        if (!wanted.has(ns)) {
          state.observed = undefined;
          state.confirmedAt = Number.NEGATIVE_INFINITY;
        }
      await Promise.all([...wanted].map((ns) => syncOne(ns, leading)));
      const now = new Map<string, string | undefined>();
      for (const ns of wanted) {
        const s = states.get(ns);
        if (held(s)) now.set(ns, epochOf(s));
      }
      // A namespace served under a new epoch changes its keys' run secrets: compiled again.
      const changed =
        now.size !== served.size ||
        [...now].some(([ns, epoch]) => !served.has(ns) || served.get(ns) !== epoch);
      served = now;
      return changed;
    },
    epoch: (namespace) => epochOf(states.get(namespace)),
    serves: (namespace) => held(states.get(namespace)),
    elsewhere() {
      const out = new Map<string, string>();
      for (const [ns, s] of states) {
        const holder = s.observed?.record.holderIdentity ?? '';
        if (holder !== '' && holder !== opts.release) out.set(ns, holder);
      }
      return out;
    },
  };
}

function claimedElsewhere(namespace: string, holder: string): string {
  return `namespace ${namespace} is claimed by the Keybrake release ${holder}: its VaultKeys are served by that release and left out of this one's table (key_unknown on its proxies) until that claim lapses (Lease ${namespace}/${CLAIM_LEASE_NAME})`;
}

function changedByHand(namespace: string, claimDurationMs: number): string {
  return `the claim of namespace ${namespace} was moved to this release, deleted or rewritten by someone other than this release (Lease ${namespace}/${CLAIM_LEASE_NAME}): its VaultKeys are served once this release has held the claim unbroken for ${Math.ceil(claimDurationMs / 1000)}s, so that no other release still serves them`;
}
