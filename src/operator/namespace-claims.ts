import { V1MicroTime } from '@kubernetes/client-node';
import type { ResourceSet } from '../api/resource-set.ts';
import type { Log } from '../telemetry/logger.ts';
import {
  type LeaseRecord,
  type LeaseStore,
  nextLeaseTransitions,
  replaceOrFresh,
  writableMicroTime,
} from './leader-election.ts';

/**
 * The Lease by which one release claims a namespace, in that namespace. Two releases whose scopes
 * overlap (one watching every namespace, one a few) would each serve the same VaultKey through its
 * own proxies and Redis, each cap counted once per release: a namespace's keys are served by the
 * release whose claim it holds, and by no other (ADR 0005, seventh round).
 */
export const CLAIM_LEASE_NAME = 'keybrake-claim';

/**
 * How many times this release's own claim duration another's claim may ask it to wait, at most. A
 * claim's `leaseDurationSeconds` longer than its own is waited (a release configured with a longer
 * lease or proxy staleness needs that long before its cut-off proxies stop serving), but anyone
 * allowed to write Leases in the namespace writes that field too: unbounded, one patch to 2^31-1 s
 * kept the namespace unserved for 68 years, through admin deletes of the Lease, until an operator
 * restart (thirteenth round). Releases sharing namespaces keep their claim durations within this
 * factor of each other (docs/kubernetes.md).
 */
export const LONGEST_CLAIM_FACTOR = 4;

export interface NamespaceClaimsOptions {
  /** The claim Lease of one namespace (real API or an in-memory fake in tests). */
  readonly storeFor: (namespace: string) => LeaseStore;
  /**
   * This release, written as holderIdentity: `<release namespace>/<name>` (--claim-holder, by default
   * `<lease namespace>/<lease name>`; the chart passes the operator's name, which a change of
   * operator.leaseName leaves alone: twelfth round).
   */
  readonly release: string;
  /**
   * Names this release held claims under before (its former default, `<lease namespace>/<lease name>`,
   * when --claim-holder now says otherwise): a claim naming one is this release's own, rewritten
   * under `release` at its leader's next renewal, never taken for another release's.
   */
  readonly formerNames?: readonly string[];
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
   * a failover). Resolves to true when the namespaces served changed. `leading` as a function is
   * asked again after each read, right before this process writes: a leader paused mid-round
   * (SIGSTOP, a VM pause, a long GC) past its renew deadline resumes as no leader, and must not write
   * over its successor's renewal (twelfth round).
   */
  sync(namespaces: Iterable<string>, leading: boolean | (() => boolean)): Promise<boolean>;
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
  /**
   * The last claim this process saw held by another release (or by nobody), as a lapse is judged:
   * when it first saw it so (monotonic) and how long its holder may leave it unrenewed. Until that
   * has passed, this release neither recreates the claim found deleted nor adopts one found handed
   * to it by hand: the holder, alive, renews or recreates it within its own round (twelfth round).
   */
  foreign?: { at: number; durationMs: number };
  /**
   * When (monotonic, once stored) this process's current run of its own unbroken renewals began: a
   * write over anyone else's (a take-back, a claim recreated, adopted, or rewritten by someone else)
   * starts a new one. undefined while this process does not write the claim.
   */
  runSince?: number;
  /**
   * This process has read its own renewals unbroken (the Lease at the resourceVersion it last wrote)
   * for a claim duration and its renew deadline, as a run: only then may it take the claim back
   * (`defends`). Kept while its leader recreates a claim deleted under it or takes back one rewritten
   * under it, so a tenant cannot make an old hold young; lost once this process accepts another's
   * claim, stops leading, or leaves a claim duration between two writes (twelfth round: a hold adopted
   * from a tenant's hand-over aged through the tenant's re-writes, and two releases each took the
   * claim back from the other every round).
   */
  established?: true;
  /** Monotonic time this process (leading) last stored a write of the claim: sent by then. */
  wroteAt?: number;
  /** Whether this process led at its last read of the claim (undefined before its first). */
  ledAtLook?: boolean;
  /**
   * The acquireTime on the claim naming this release that this process found at its first read as
   * leader, where its last read (as a standby) did not show its release holding it: kept, unchanged,
   * while it waits out the other holder's lapse, and written at its first write (fifteenth round: its
   * release's former leader took the lapsed claim over and minted runs a round before the failover).
   */
  inherited?: string;
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
 *
 * Nor does it move the namespace (twelfth round: a tenant deleting the claim until the other
 * release's leader recreated it first got every cap counted afresh in that release's Redis). A
 * release that last saw another hold the claim neither recreates it deleted nor adopts it handed
 * over by hand until that holder has left it unrenewed for the claim's duration, as a lapse; and a
 * holder that finds its claim, renewed within that duration, rewritten to name another release or
 * none takes it back at once. Only a lapse (the holder uninstalled, out of scope, or down) moves it.
 */
export function createNamespaceClaims(opts: NamespaceClaimsOptions): NamespaceClaims {
  /**
   * Every namespace that has held keys, kept when they go: the claim is not renewed meanwhile, but
   * a leader whose keys come back tells by its last write whether anyone else wrote the claim since.
   */
  const states = new Map<string, ClaimState>();
  const stores = new Map<string, LeaseStore>();
  const durationSeconds = Math.ceil(opts.claimDurationMs / 1000);
  const durationMs = durationSeconds * 1000;
  const longestSeconds = durationSeconds * LONGEST_CLAIM_FACTOR;
  const former = new Set((opts.formerNames ?? []).filter((n) => n !== '' && n !== opts.release));
  /** A holderIdentity naming this release, under its name or a former one. */
  const ours = (holder: string | undefined) =>
    holder === opts.release || (holder !== undefined && former.has(holder));
  /**
   * This process, leading, may take back a claim it finds another's name on (or nobody's): it is
   * established (it has read its own renewals unbroken for a claim duration, so a release that just
   * created, took or adopted it, e.g. one started while a tenant deleted the claim or one handed it
   * by a tenant who re-writes it, never does) and it wrote it less than a claim duration ago. No
   * release takes a claim renewed that recently (a lapse waits the claim's duration from when it saw
   * the last renewal, sent no earlier than wroteAt), so the name was written by hand.
   * Only one of two releases can meet both at once: a run of one's unbroken renewals that long is one
   * the other did not write in, so the other either took it back before it grew established or,
   * looking at it without taking it back, lost its own standing; a run begun after the other's last
   * write leaves that write more than a claim duration old by the time it is established.
   */
  const defends = (s: ClaimState, now: number) =>
    s.written !== undefined &&
    s.established === true &&
    s.wroteAt !== undefined &&
    now - s.wroteAt < durationMs;
  /** A run of own renewals read unbroken this long establishes the hold (the deadline: a margin). */
  const establishMs = durationMs + opts.renewDeadlineMs;
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

  /**
   * This process's own write stored: it holds the claim from `since`, confirmed as of `sentAt`.
   * `continued`: the write recreates, takes back or renews this release's own hold (an established
   * hold stays so, if this process wrote it within a claim duration). `renewal`: it was written over
   * this process's own last write, read unbroken, so the run of own renewals goes on; any other
   * write starts a new run.
   */
  const wrote = (
    s: ClaimState,
    stored: LeaseRecord,
    since: number,
    sentAt: number,
    continued: boolean,
    renewal = false,
  ) => {
    s.seen = true;
    s.missingSince = undefined;
    s.heldSince = since;
    s.written = stored.resourceVersion;
    s.confirmedAt = sentAt;
    s.foreign = undefined;
    if (!continued || s.wroteAt === undefined || sentAt - s.wroteAt >= durationMs) s.established = undefined;
    // From once it is stored (now): a write by another landed before this one, so before its run.
    if (!renewal || s.runSince === undefined) s.runSince = opts.monotonic();
    s.wroteAt = sentAt;
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
   * never an acquireTime somebody else chose). Kept only as the API server takes it back
   * (writableMicroTime): at a first look or a failover this process cannot tell its release's
   * acquireTime from one written meanwhile, and one the API server stores but refuses when written
   * back made every renewal a 400 for good (thirteenth round).
   */
  const next = (record: LeaseRecord, mine: boolean, stamp: string, keepAcquired = mine): LeaseRecord => ({
    ...(record.resourceVersion !== undefined && { resourceVersion: record.resourceVersion }),
    holderIdentity: opts.release,
    leaseDurationSeconds: durationSeconds,
    acquireTime: (keepAcquired && writableMicroTime(record.acquireTime)) || stamp,
    renewTime: stamp,
    // Counted from a value anyone writing Leases sets: never past the int32 the API stores
    // (thirteenth round: a tenant's 2^31-1 made every take-back a 400, and the hold lapsed).
    leaseTransitions: nextLeaseTransitions(record.leaseTransitions, !mine),
  });

  const syncOne = async (namespace: string, leads: () => boolean) => {
    const s = states.get(namespace) ?? { confirmedAt: Number.NEGATIVE_INFINITY };
    states.set(namespace, s);
    const store = stores.get(namespace) ?? opts.storeFor(namespace);
    stores.set(namespace, store);
    const sentAt = opts.monotonic();
    const stamp = new V1MicroTime(opts.clock()).toISOString();
    if (!leads()) s.written = undefined;
    try {
      const record = await store.read();
      // Asked after the read, with nothing awaited between here and any write below: a leader paused
      // with its read in flight past its renew deadline resumes as no leader and writes nothing over
      // its successor's renewal (twelfth round: it wrote a new acquireTime, ending every run key).
      const leading = leads();
      // This process's first read as leader since it read as a standby (a failover): it cannot tell
      // its release's former leader's writes since that read from anyone else's.
      const firstAsLeader = leading && s.ledAtLook === false;
      s.ledAtLook = leading;
      if (!leading || !record || !ours(record.holderIdentity)) s.inherited = undefined;
      // Only a leader writes: a standby cannot tell its leader's writes from anyone else's.
      if (!leading) {
        s.written = undefined;
        s.established = undefined;
        s.runSince = undefined;
      }
      if (!record) {
        s.missingSince ??= sentAt;
        s.observed = undefined;
        lost(namespace, s, 'deleted');
        if (!leading) return;
        // Deleted while another release held it, as this process last saw (a tenant's kubectl delete):
        // left to that release, which recreates it within its round; taken only once its holder has
        // left it unrenewed for the claim's duration, as a lapse (twelfth round: whichever leader came
        // first took it, and served the namespace from its own Redis, every cap counted afresh).
        const foreign = s.foreign;
        if (foreign && opts.monotonic() - foreign.at < foreign.durationMs) {
          report(namespace, s, leftToHolder(namespace, 'deleted', foreign.durationMs));
          return;
        }
        // Recreating its own claim: the hold goes on if this process wrote it within a claim duration.
        const continued = s.wroteAt !== undefined && sentAt - s.wroteAt < durationMs;
        const stored = await store.create(fresh(stamp));
        // Another release may create it first: then it is theirs, as the next read will show.
        if (!stored) return;
        // A claim seen deleted may still be served by its holder until it looks: counted from the
        // deletion. Recreated over another release's, from now: that release, alive but its every
        // recreation deleted at once, takes this one back well within it, so it is never served.
        if (s.seen) report(namespace, s, changedByHand(namespace, opts.claimDurationMs));
        const since = foreign ? sentAt : s.seen ? s.missingSince : Number.NEGATIVE_INFINITY;
        wrote(s, stored, since, sentAt, continued);
      } else {
        const firstLook = !s.seen;
        s.seen = true;
        s.missingSince = undefined;
        // The claim as this process last saw it, and whether it then held it as its release's.
        const prior = s.observed?.record;
        const heldBefore = s.heldSince !== undefined;
        const before = prior?.holderIdentity;
        observe(s, record, sentAt);
        const holder = record.holderIdentity ?? '';
        // The longer of the holder's duration and ours: a duration shortened by hand takes nothing
        // early. One lengthened by hand holds the namespace unserved no longer than
        // LONGEST_CLAIM_FACTOR × ours (thirteenth round: 2^31-1 s kept it so for good).
        const duration = Math.min(Math.max(writtenSeconds(record), durationSeconds), longestSeconds) * 1000;
        if (!ours(holder)) {
          lost(namespace, s, holder === '' ? 'released' : `now held by ${shownHolder(holder)}`);
          const since = s.observed!.at;
          if (leading && defends(s, opts.monotonic())) {
            // Rewritten by hand while this release renewed it (kubectl patch of the holder, or a
            // delete and a create naming another release): taken back at once, and served again a
            // claim duration after this look, as any claim changed by hand (twelfth round).
            report(namespace, s, changedByHand(namespace, opts.claimDurationMs));
            const stored = await store.replace(next(record, false, stamp));
            if (stored) {
              wrote(s, stored, since, sentAt, true);
              opts.log.warn(
                { namespace, from: shownHolder(holder) },
                'took back the claim of a namespace rewritten by hand while this release renewed it',
              );
            }
            return;
          }
          s.established = undefined;
          s.runSince = undefined;
          s.foreign = { at: since, durationMs: duration };
          report(
            namespace,
            s,
            holder === ''
              ? leftToHolder(namespace, 'released', duration)
              : claimedElsewhere(namespace, shownHolder(holder)),
          );
          if (!leading) return;
          // A claim released by hand (no holder) is waited out as any other: only a lapse moves it.
          if (opts.monotonic() - since < duration) return;
          const stored = await store.replace(next(record, false, stamp));
          if (stored) {
            // Unchanged since `since`: its holder stopped serving by then, or this release waits.
            wrote(s, stored, since, sentAt, false);
            opts.log.warn(
              { namespace, from: shownHolder(holder) },
              'took over the lapsed claim of a namespace',
            );
          }
        } else {
          // This release's own, as this process last left it? A leader knows its last write; a
          // standby (or a leader before its first write) trusts its release's unbroken hold.
          const unbroken = s.written !== undefined ? record.resourceVersion === s.written : ours(before);
          // Its own last write, read unbroken: a run of its own renewals this long establishes it.
          const renewal = s.written !== undefined && unbroken;
          if (renewal && !s.established && s.runSince !== undefined && sentAt - s.runSince >= establishMs) {
            s.established = true;
            opts.log.info(
              { namespace },
              'the claim of this namespace is established: this leader takes it back if it is rewritten by hand',
            );
          }
          const kept = firstLook ? Number.NEGATIVE_INFINITY : unbroken ? s.heldSince : undefined;
          // A new leader whose last read, as a standby, did not show its release holding the claim
          // (another's, handed over, missing) adopts the acquireTime it finds now, as that standby
          // would have at its next read after the other holder's lapse (it trusts its release's claim
          // from then on, and keeps it once it leads): its release's former leader may have taken
          // the lapsed claim over, and minted runs under it, between that read and the failover
          // (fifteenth round: CI, run-stop-release-move, a leader stopped 130 ms after its take-over;
          // its successor wrote a new acquireTime and every run key of the release ended). Kept only
          // while the claim stays so until this process writes it; a leader that led at its last
          // read knows it wrote no such claim, and writes its own.
          if (leading && kept === undefined && firstAsLeader) s.inherited = record.acquireTime;
          else if (leading && !sameInstant(s.inherited, record.acquireTime)) s.inherited = undefined;
          const foreign = s.foreign;
          if (kept === undefined && foreign) {
            // Handed to this release by hand while another held it, as this process last saw: not
            // adopted until that release has left it unrenewed for its duration, as a lapse. The
            // holder, alive, takes it back meanwhile (twelfth round).
            if (opts.monotonic() - foreign.at < foreign.durationMs) {
              s.heldSince = undefined;
              s.confirmedAt = Number.NEGATIVE_INFINITY;
              report(namespace, s, leftToHolder(namespace, 'handed to this release', foreign.durationMs));
              return;
            }
          }
          if (kept === undefined) report(namespace, s, changedByHand(namespace, opts.claimDurationMs));
          s.heldSince = kept ?? sentAt;
          s.foreign = undefined;
          if (!leading) {
            // A standby trusts its release's claim as long as the leader is seen renewing it.
            s.confirmedAt = s.observed!.at;
          } else {
            // The acquireTime is kept over this release's unbroken hold, and over a write naming this
            // release with the acquireTime this process last saw on the claim it held: a value
            // nobody else chose (a sibling replica's renewal as a failover overlaps, or a tenant's
            // edit of something else), so its runs go on (twelfth round). Not one on a claim handed
            // to it by hand, which it did not hold as it last looked, unless it last looked as a
            // standby (`inherited`, above).
            const sameAcquired =
              (heldBefore && ours(before) && sameInstant(prior?.acquireTime, record.acquireTime)) ||
              s.inherited !== undefined;
            // A renewal refused as invalid (a value carried over that the API server does not take
            // back) is sent once more with this moment's acquireTime: a new epoch ends the runs, which
            // fails closed, where a hold that never lands lapses to the other release (thirteenth round).
            const written = await replaceOrFresh(
              store,
              next(record, true, stamp, kept !== undefined || sameAcquired),
              stamp,
            );
            // Its hold goes on, even over a rewrite by hand: a tenant cannot make an old hold young.
            if (written) {
              s.inherited = undefined;
              wrote(s, written.stored, s.heldSince, sentAt, true, renewal);
              if (written.retried)
                opts.log.warn(
                  { namespace },
                  `the claim of namespace ${namespace} (Lease ${namespace}/${CLAIM_LEASE_NAME}) held an acquireTime the API server refused when written back: renewed with a new one, so run keys minted under the claim end`,
                );
            }
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
    if (!ours(record?.holderIdentity) || !record?.acquireTime) return undefined;
    // As ms: the leader knows the text it wrote (microseconds), another replica the API's as read.
    // Under the release's current name: a claim held under a former one keeps its runs when renamed.
    const at = Date.parse(record.acquireTime);
    return Number.isFinite(at) ? `${opts.release}\n${at}` : undefined;
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
      const leads = typeof leading === 'function' ? leading : () => leading;
      await Promise.all([...wanted].map((ns) => syncOne(ns, leads)));
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
        if (holder !== '' && !ours(holder)) out.set(ns, holder);
      }
      return out;
    },
  };
}

/**
 * The namespaces a release claims: each holding a VaultKey or a SpendPolicy, valid or not. Only a
 * claimed namespace's objects get a status and Events, and an invalid object's `Invalid` condition
 * is how a typo is told (sixteenth round: a new namespace whose only key was misspelt, or that held
 * only policies, was never claimed, and nothing in it showed anything). Every release watching the
 * namespace reads the same objects, so all want its claim alike: first come, first served, and a
 * holder keeps renewing it while its keys are invalid, rather than letting it lapse to another.
 */
export function namespacesToClaim(set: ResourceSet): Set<string> {
  const namespaces = new Set<string>();
  for (const k of set.keys) namespaces.add(k.metadata.namespace ?? '');
  for (const p of set.policies) namespaces.add(p.metadata.namespace ?? '');
  for (const r of set.rejected) namespaces.add(r.namespace);
  return namespaces;
}

/** The claim's leaseDurationSeconds, 0 when it is not a count of seconds (none is then waited beyond ours). */
function writtenSeconds(record: LeaseRecord): number {
  const v = record.leaseDurationSeconds;
  return v !== undefined && Number.isFinite(v) ? v : 0;
}

/** Two acquireTimes naming the same instant (ms): the text a leader wrote and the API's as read agree. */
function sameInstant(a: string | undefined, b: string | undefined): boolean {
  if (!a || !b) return false;
  const x = Date.parse(a);
  return Number.isFinite(x) && x === Date.parse(b);
}

/** The most of a holderIdentity a log line or problem shows: a DNS subdomain name's length. */
export const SHOWN_HOLDER_CHARS = 253;

/**
 * A claim's holderIdentity as logged and reported. Anyone allowed to write Leases in the namespace
 * writes it, and the API server does not bound its length: a 1,000,000-character holder was logged
 * three times at each of the tenant's writes, 3 MB of log per MB written (thirteenth round).
 */
export function shownHolder(holder: string): string {
  return holder.length <= SHOWN_HOLDER_CHARS
    ? holder
    : `${holder.slice(0, SHOWN_HOLDER_CHARS)}… (${holder.length} characters)`;
}

function claimedElsewhere(namespace: string, holder: string): string {
  return `namespace ${namespace} is claimed by the Keybrake release ${holder}: its VaultKeys are served by that release and left out of this one's table (key_unknown on its proxies) until that claim lapses (Lease ${namespace}/${CLAIM_LEASE_NAME})`;
}

function leftToHolder(namespace: string, what: string, durationMs: number): string {
  return `the claim of namespace ${namespace} was ${what} (Lease ${namespace}/${CLAIM_LEASE_NAME}) while this operator last saw another Keybrake release hold it: left to that release, which renews or takes it back within its round; this release takes it only if it stays unrenewed for ${Math.ceil(durationMs / 1000)}s, as a lapse`;
}

function changedByHand(namespace: string, claimDurationMs: number): string {
  return `the claim of namespace ${namespace} was moved to this release, deleted or rewritten by someone other than this release (Lease ${namespace}/${CLAIM_LEASE_NAME}): its VaultKeys are served once this release has held the claim unbroken for ${Math.ceil(claimDurationMs / 1000)}s, so that no other release still serves them`;
}
