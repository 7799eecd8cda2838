import type { MicroUsd } from '../money/micro-usd.ts';

/**
 * The shared spend and rate counters (DESIGN.md §6). The reserve stage calls `reserve` once per
 * call with every window that applies; the settle stage calls `settle` with the actual cost.
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

export interface ReserveRequest {
  /** The vault key's uid; every counter of one key shares a Redis hash slot `{vk:<uid>}`. */
  readonly scope: string;
  readonly windows: readonly WindowSpec[];
  /**
   * Epoch ms of the call, from the pipeline's clock: a successful reserve (a replay too) records it
   * as the key's last use, in the same atomic step (no extra round trip).
   */
  readonly now: number;
  /** Caller's Idempotency-Key: a retry with the same key reserves nothing again. */
  readonly idempotencyKey?: string;
  /** Seconds an idempotency record is kept (24 h). */
  readonly idempotencyTtlSeconds?: number;
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
   * The idempotency key this reservation recorded, if any. Settling to 0 forgets it, so a retry after
   * a call the vendor provably did not execute is counted again instead of passing free.
   */
  readonly idempotencyKey?: string;
}

export type ReserveResult =
  | {
      readonly ok: true;
      readonly reservation: Reservation /** true: an idempotent retry, nothing new reserved */;
      readonly replay: boolean;
    }
  | { readonly ok: false; readonly refused: WindowKind; readonly used: number; readonly limit: number };

export interface CounterStore {
  reserve(req: ReserveRequest): Promise<ReserveResult>;
  /**
   * Adjusts every money window of a reservation from what was reserved to `actual` micro-USD
   * (0 releases it). Called at most once per reservation.
   */
  settle(reservation: Reservation, actual: MicroUsd): Promise<void>;
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
   * The store's last known state, without a round trip: false while its connection is down. Lets
   * a policy with `readsWhenCountersDown: deny` refuse reads that touch no counter.
   */
  available(): boolean;
  close(): Promise<void>;
}

/** Thrown by a store that cannot answer in time; the pipeline maps it to counter_store_unavailable. */
export class CounterStoreUnavailableError extends Error {
  override readonly name = 'CounterStoreUnavailableError';
}
