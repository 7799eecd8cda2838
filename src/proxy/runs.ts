import type { Clock } from '../clock.ts';
import { type Denial, deny } from '../decision/reasons.ts';
import {
  runKeysOf,
  STOP_SWEEP_ON_REFUSAL_MS,
  type StopBound,
  type StoppedRun,
  stopBoundReached,
} from '../snapshot/run-keys.ts';
import type { CompiledKey, Snapshot, VendorName } from '../snapshot/types.ts';
import { looksLikeRunToken, type RunGrant, runTokenKeyId, verifyRunToken } from '../tokens/run-token.ts';

/**
 * Run keys on the request path (ADR 0010): finding and verifying a run token's parent, and the set of
 * stopped runs every replica keeps in memory (fed by its own `run stop`, Redis pub/sub and the
 * operator's snapshot stream), consulted for every call without a round trip.
 */

/** Why a verified run token is refused after `run stop`: the same answer on every path. */
export function runStopped(): Denial {
  return deny('key_unknown', 'This Keybrake run key belongs to a run that was stopped.');
}

/**
 * Why a run key is refused while this replica may not know every stop (its subscription to the
 * shared stops is not up or not answering, the counter store is not answering, or the index of
 * earlier stops not read again since): any run key might be a stopped one, so none is admitted.
 * Retryable; vault keys are not concerned.
 */
function stopsNotKnown(): Denial {
  return deny(
    'counter_store_unavailable',
    'This proxy cannot read the stopped runs from the counter store now, so run keys are refused for now; retry shortly.',
  );
}

/** Why the run `runId` of `scope` may not be used now as far as stops go: stopped, or stops not known. */
export function stopRefusal(
  stopped: StoppedRuns | undefined,
  scope: string,
  runId: string,
  now: number,
): Denial | undefined {
  if (!stopped) return undefined;
  if (stopped.has(scope, runId, now)) return runStopped();
  return stopped.complete ? undefined : stopsNotKnown();
}

/**
 * The parent and grant of a run token, a denial about an authentic one (its parent suspended or
 * expired, the token expired, its run stopped or the stops not known yet), or undefined when `token` is no run token any served
 * key minted: the caller then treats it as any other unknown credential (key_unknown, without saying
 * which part failed). Cost: one Map lookup, one HMAC-SHA256 over ~100 bytes, one Map lookup.
 */
export function findRunKey(
  vendor: VendorName,
  token: string,
  snapshot: Snapshot,
  now: number,
  stopped: StoppedRuns | undefined,
): { key: CompiledKey; grant: RunGrant; refused?: Denial } | undefined {
  if (!looksLikeRunToken(token)) return undefined;
  const found = verified(snapshot, token) ?? verify(snapshot, token);
  if (!found || found.key.vendor !== vendor) return undefined;
  const { key, grant } = found;
  const refused = key.suspended
    ? deny('key_suspended')
    : key.expiresAt !== undefined && now >= key.expiresAt
      ? deny('key_expired')
      : now >= grant.expiresAt
        ? deny('key_expired', 'This Keybrake run key has expired.')
        : stopRefusal(stopped, key.uid, grant.runId, now);
  return refused ? { key, grant, refused } : { key, grant };
}

/**
 * Run tokens this snapshot has verified, by their exact text: a run key's later calls skip the MAC
 * (a Map lookup instead of an HMAC). Only successes are kept, at most MAX_VERIFIED per snapshot, and
 * the whole cache goes with the snapshot, so a change of any parent verifies again. Expiry, the
 * parent's state and stops are checked on every call, cached or not.
 */
const cache = new WeakMap<Snapshot, Map<string, { key: CompiledKey; grant: RunGrant }>>();
const MAX_VERIFIED = 10_000;

function verified(snapshot: Snapshot, token: string) {
  return cache.get(snapshot)?.get(token);
}

function verify(snapshot: Snapshot, token: string): { key: CompiledKey; grant: RunGrant } | undefined {
  const key = runKeysOf(snapshot).get(runTokenKeyId(token));
  if (!key || key.runSecret === undefined || key.tokenPrefix === undefined) return undefined;
  const grant = verifyRunToken(token, { tokenPrefix: key.tokenPrefix, runSecret: key.runSecret });
  if (!grant) return undefined;
  let seen = cache.get(snapshot);
  if (!seen) {
    seen = new Map();
    cache.set(snapshot, seen);
  }
  if (seen.size >= MAX_VERIFIED) seen.delete(seen.keys().next().value!);
  const found = { key, grant };
  seen.set(token, found);
  return found;
}

/**
 * The stopped runs this replica knows of, each kept until no token of its run can be valid. Adding
 * is idempotent (a stop may arrive by Redis and by the stream); nothing is ever removed early, so a
 * stopped run stays stopped whichever source told us first. Expired entries are swept as entries
 * arrive and on a timer. `add` never refuses: the bounds on live stops are checked by the run API
 * before it takes a stop (`boundReached`), since a stop heard from elsewhere was already bounded there.
 */
export class StoppedRuns {
  readonly #clock: Clock;
  /** scope → run id → until (epoch ms): per key, so its live stops are counted without a scan. */
  readonly #byScope = new Map<string, Map<string, number>>();
  #size = 0;
  readonly #listeners = new Set<(run: StoppedRun) => void>();
  #nextSweep = 0;
  #nextRefusalSweep = 0;
  /**
   * Whether this set holds every live stop it could learn of (ADR 0010): false while a shared source
   * (Redis) is not yet followed and read through, when a stop this set lacks may exist. A set fed by
   * this process alone is always complete.
   */
  complete = true;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Records a stop; true when it was new (or now lasts longer). Listeners hear only of those. */
  add(run: StoppedRun): boolean {
    const now = this.#clock.now();
    if (run.until <= now) return false;
    let runs = this.#byScope.get(run.scope);
    const known = runs?.get(run.runId);
    if (known !== undefined && known >= run.until) return false;
    if (!runs) {
      runs = new Map();
      this.#byScope.set(run.scope, runs);
    }
    if (known === undefined) this.#size++;
    runs.set(run.runId, run.until);
    if (now >= this.#nextSweep) this.sweep(now);
    for (const l of this.#listeners) l(run);
    return true;
  }

  has(scope: string, runId: string, now = this.#clock.now()): boolean {
    const until = this.#byScope.get(scope)?.get(runId);
    return until !== undefined && now < until;
  }

  /**
   * Which bound on live stops (run-keys.ts) a new stop, or a new run, of `scope` would pass, if any.
   * Expired stops are swept before a refusal: the key's own always (at most a scan of its 10 000),
   * every key's at most once a second (a scan of up to 200 000 takes about 4 ms, and a refused
   * caller may ask again at once), so a stop that expired more than a second ago never counts.
   */
  boundReached(scope: string, action: 'stop' | 'start', now = this.#clock.now()): StopBound | undefined {
    const reached = () =>
      stopBoundReached(action, this.#byScope.get(scope)?.size ?? 0, this.#size, this.#byScope.size);
    if (reached() === undefined) return undefined;
    this.#sweepScope(scope, now);
    if (now >= this.#nextRefusalSweep) {
      this.sweep(now);
      this.#nextRefusalSweep = now + STOP_SWEEP_ON_REFUSAL_MS;
    }
    return reached();
  }

  /** Every live stop (what the operator sends a proxy that connects). */
  list(now = this.#clock.now()): StoppedRun[] {
    const out: StoppedRun[] = [];
    for (const [scope, runs] of this.#byScope)
      for (const [runId, until] of runs) if (until > now) out.push({ scope, runId, until });
    return out;
  }

  get size(): number {
    return this.#size;
  }

  onAdd(listener: (run: StoppedRun) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Forgets stops whose runs can no longer be valid. */
  sweep(now = this.#clock.now()): void {
    for (const scope of this.#byScope.keys()) this.#sweepScope(scope, now);
    this.#nextSweep = now + SWEEP_EVERY_MS;
  }

  #sweepScope(scope: string, now: number): void {
    const runs = this.#byScope.get(scope);
    if (!runs) return;
    for (const [runId, until] of runs) {
      if (until > now) continue;
      runs.delete(runId);
      this.#size--;
    }
    if (runs.size === 0) this.#byScope.delete(scope);
  }
}

const SWEEP_EVERY_MS = 60_000;
