import type { MicroUsd } from '../money/micro-usd.ts';
import type { StoppedRun } from '../snapshot/run-keys.ts';

/**
 * The shared spend and rate counters (DESIGN.md §6). The reserve stage calls `reserve` once per
 * call with every window that applies; the settle stage calls `settle` with the actual cost; the
 * lease stage calls `acquireLeases` before a cost lookup or a locking write, `renewLeases` before each
 * further read of a lookup chain and before the forward, and the release step `releaseLeases` after
 * settle.
 * Implementations: memory-store.ts (one process), redis-store.ts (all replicas).
 */
export type WindowKind = 'minute' | 'day' | 'month' | 'run';

/** One window a call must fit in. Built by windows.ts from the policy, the clock and the run id. */
export interface WindowSpec {
  readonly kind: WindowKind;
  /** Bucket id within the vault key, e.g. `day:2026-11-26`, `run:<runId>`, `minute:29393281`. */
  readonly bucket: string;
  /** Inclusive limit: the call fits when used + amount ≤ limit. */
  readonly limit: number;
  /** What this call adds: micro-USD for money windows, 1 for the minute window. */
  readonly amount: number;
  /** Seconds until the bucket may be forgotten. */
  readonly ttlSeconds: number;
}

/**
 * The idempotency record of one call (ADR 0007 §4): the caller's `Idempotency-Key` and the call's
 * fingerprint (sha256 hex of scope, method, path and query, account headers, the price reserved and
 * its currencies, and the canonical body).
 * A later call with the same key is a replay only when its fingerprint is the same.
 */
export interface IdempotencyRecord {
  readonly key: string;
  readonly fingerprint: string;
}

export interface ReserveRequest {
  /** The vault key's uid; every counter of one key shares a Redis hash slot `{vk:<uid>}`. */
  readonly scope: string;
  readonly windows: readonly WindowSpec[];
  /**
   * Epoch ms of the call, from the pipeline's clock: a successful reserve (a replay too) records it
   * as the key's last use, in the same atomic step (no extra round trip).
   */
  readonly now: number;
  /**
   * Set only for vendors that honour `Idempotency-Key`: a call whose key is recorded with the same
   * fingerprint reserves no money again; a recorded key with another fingerprint is a new call
   * (counted, and the first record is kept).
   */
  readonly idempotency?: IdempotencyRecord & {
    /** Seconds the record is kept (24 h when unset). */
    readonly ttlSeconds?: number;
  };
  /**
   * The run id of the run key the call was made with (ADR 0010): the reserve is refused, writing
   * nothing, when that run was stopped (`{vk:<scope>}:revoked-run:<runId>` exists), checked in the
   * same atomic step. The memory store leaves this to the proxy's in-process set of stopped runs.
   */
  readonly runKey?: string;
}

/** What was reserved, so settle can adjust exactly that. */
export interface Reservation {
  readonly scope: string;
  /** Money windows only (rate windows are never refunded): bucket, amount reserved, ttl. */
  readonly money: readonly {
    readonly bucket: string;
    readonly amount: MicroUsd;
    readonly ttlSeconds: number;
  }[];
  /**
   * The idempotency record this reservation wrote, if any (not one an earlier call wrote). Settling
   * to 0 forgets it, so a retry after a call the vendor provably did not execute is counted again
   * instead of passing free.
   */
  readonly idempotency?: IdempotencyRecord;
  /**
   * The epoch of the windows this reservation raised (Redis: `{vk:<scope>}:epoch`). Settle gives back
   * nothing to windows of another epoch: Redis lost the ones that held this reservation.
   */
  readonly epoch?: string;
}

export type ReserveResult =
  | {
      readonly ok: true;
      readonly reservation: Reservation;
      /** true: an idempotent retry of the same call, nothing new reserved. */
      readonly replay: boolean;
    }
  | { readonly ok: false; readonly refused: WindowKind; readonly used: number; readonly limit: number }
  /** The run key's run was stopped (`ReserveRequest.runKey`): nothing was written. */
  | { readonly ok: false; readonly stopped: true };

/**
 * Exclusive leases on upstream objects (ADR 0007 §5), taken by the lease stage before a cost lookup
 * (or before forwarding a write that locks) and released after settle. Leases are shared by every
 * replica and every vault key of one upstream account: `account` names that account (a digest of
 * the upstream credential's identity, never the vault key), `objects` the vendor's object ids.
 */
export interface LeaseSpec {
  /** `<vendor>:<digest of the upstream credential identity>`: the hash tag of every lease of the account. */
  readonly account: string;
  /** Object ids (`pi_123`), at most MAX_LEASES_PER_CALL; taken all or none. */
  readonly objects: readonly string[];
  /** Random per call: a release removes only the leases carrying its own token. */
  readonly token: string;
  /**
   * Milliseconds until a lease that is never released expires (upstream timeout + margin), counted
   * from when it is taken or last renewed (`renewLeases`).
   */
  readonly ttlMs: number;
}

/** Leases one call holds, as `releaseLeases` needs them. */
export type HeldLeases = Omit<LeaseSpec, 'ttlMs'>;

export interface LeaseRequest {
  /** The vault key whose rate windows are counted in the same step. */
  readonly scope: string;
  /**
   * Call-rate windows (`minute`) counted in the same step, before the lookup they guard; never a
   * money window (money is reserved once the price is known). Empty: no rate to count.
   */
  readonly windows: readonly WindowSpec[];
  /** Epoch ms of the call: recorded as the key's last use when a window is counted. */
  readonly now: number;
  /**
   * Money windows the call will raise once it is priced, checked and never written (ADR 0003, "Since
   * 2026-12-01 (fifth round)"): the step is refused like a window over its limit, writing nothing,
   * when `used + amount > limit` for one of them, `amount` being the least the call can add (1). So a
   * call priced from a lookup is refused before it reads when its key's cap is already spent, in the
   * step it makes anyway. Checked before `windows` (money first: 403 rather than 429).
   */
  readonly ceilings?: readonly WindowSpec[];
  readonly leases?: LeaseSpec;
}

/**
 * The ceilings, then the rate windows are checked first: a refused call writes nothing and takes no lease. A call within
 * the rate is counted even when an object is busy (a retry loop on a busy object is rate limited).
 */
export type LeaseResult =
  | { readonly ok: true; readonly held?: HeldLeases }
  | { readonly ok: false; readonly refused: WindowKind; readonly used: number; readonly limit: number }
  | { readonly ok: false; readonly busy: string };

/**
 * What `renewLeases` did: extended every lease, or none because `lost` (one of them) no longer carries
 * the call's token (it expired, and may since have been taken by another call).
 */
export type RenewResult = { readonly ok: true } | { readonly ok: false; readonly lost: string };

/** What settle did: adjusted the windows to the actual cost, or kept the reservation counted. */
export type SettleOutcome = 'settled' | 'kept';

/**
 * The value of an idempotency record once a replay of its call has been admitted: the fingerprint
 * and this mark. A release of the first call then keeps its money counted (ADR 0007 §4).
 */
export const REPLAYED_MARK = '+';

export interface CounterStore {
  reserve(req: ReserveRequest): Promise<ReserveResult>;
  /**
   * Adjusts every money window of a reservation from what was reserved to `actual` micro-USD
   * (0 releases it). Called at most once per reservation. `kept`: the release was refused because a
   * replay of this call was admitted while it was in flight (the replay may have moved the money
   * the vendor refused this call), so the reservation stays counted in full (ADR 0007 §4).
   */
  settle(reservation: Reservation, actual: MicroUsd): Promise<SettleOutcome>;
  /**
   * Counts `windows` and takes every lease of `leases`, in one atomic step where the store can (the
   * Redis store in Cluster mode runs the two halves on their own slots, concurrently).
   */
  acquireLeases(req: LeaseRequest): Promise<LeaseResult>;
  /**
   * Compare-and-extend, in one atomic step: when every lease of `held` still carries `held.token`,
   * each expires `ttlMs` from now; otherwise none is touched and the result names one that was lost.
   * A call holds its leases until it settles only by renewing them (ADR 0007 §5).
   */
  renewLeases(held: HeldLeases, ttlMs: number): Promise<RenewResult>;
  /** Removes the leases that still carry `held.token` (compare-and-delete); others are left alone. */
  releaseLeases(held: HeldLeases): Promise<void>;
  /** Micro-USD used in one bucket (for status and the CLI). */
  used(scope: string, bucket: string): Promise<number>;
  /**
   * Epoch ms of the key's last call that reached the counters and was reserved (status.lastUsedAt);
   * undefined when none is recorded (never used, or not for 35 days).
   */
  lastUsed(scope: string): Promise<number | undefined>;
  /** Whether the store can answer now (drives /readyz). */
  healthy(): Promise<boolean>;
  /**
   * The store's last known state, without a round trip: false while its connection is down, or up
   * but not answering (a command went unanswered past its deadline). Lets calls that touch no
   * counter fail closed: free writes, destructive calls, reads under `readsWhenCountersDown: deny`.
   */
  available(): boolean;
  close(): Promise<void>;
}

/** Thrown by a store that cannot answer in time; the pipeline maps it to counter_store_unavailable. */
export class CounterStoreUnavailableError extends Error {
  override readonly name = 'CounterStoreUnavailableError';
}

/**
 * Stopped runs shared by every replica (ADR 0010), where the store can share them (Redis): a stop is
 * written where the reserve script checks it, recorded in an index a restarted replica reads, and
 * published to every replica's in-process set (the check on calls that reserve nothing).
 */
export interface RunStopStore {
  /**
   * Records `run` (until its `until`) and publishes it: `stopped`. `too_many` when its key already has
   * MAX_STOPPED_RUNS_PER_KEY live stops and this run is not one of them: nothing was written. Rejects
   * when the store cannot answer.
   */
  stopRun(run: StoppedRun): Promise<RunStopOutcome>;
  /**
   * Calls `onStopped` for every stop published from now on, and for every stop recorded in the index
   * each time the subscription (re)connects (a message missed while disconnected is not lost);
   * `onComplete(true)` each time every stop recorded so far has been delivered and later ones will
   * be, `onComplete(false)` when that no longer holds (the subscription lost or not answering, the
   * store not answering).
   */
  watchStoppedRuns(
    onStopped: (run: StoppedRun) => void,
    onComplete?: (complete: boolean) => void,
  ): { close(): Promise<void> };
}

export type RunStopOutcome = 'stopped' | 'too_many';

export function isRunStopStore(store: unknown): store is RunStopStore {
  return (
    typeof store === 'object' &&
    store !== null &&
    typeof (store as Partial<RunStopStore>).stopRun === 'function' &&
    typeof (store as Partial<RunStopStore>).watchStoppedRuns === 'function'
  );
}
