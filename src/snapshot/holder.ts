import type { Clock } from '../clock.ts';
import type { Snapshot } from './types.ts';

/**
 * The proxy's one reference to the policy table. Sources (file watcher, operator stream) call
 * `apply`; the pipeline reads `current` once per request. A swap is a single assignment, so a
 * request sees either the old table or the new one, never a mix. Lower versions are ignored so a
 * reconnect to a lagging operator cannot roll policy back.
 */
export class SnapshotHolder {
  #current: Snapshot | undefined;
  #receivedAt = 0;
  readonly #clock: Clock;
  readonly #listeners = new Set<(s: Snapshot) => void>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  get current(): Snapshot | undefined {
    return this.#current;
  }

  /** Returns false when the snapshot is older than the one in force. */
  apply(snapshot: Snapshot): boolean {
    if (this.#current && snapshot.version < this.#current.version) return false;
    this.replace(snapshot);
    return true;
  }

  /**
   * Swaps in `snapshot` whatever its version: only for a table a newer leader term serves while the
   * one in force is out of step and stale (distribution/out-of-step.ts decides), never otherwise.
   */
  replace(snapshot: Snapshot): void {
    this.#current = snapshot;
    this.#receivedAt = this.#clock.now();
    for (const l of this.#listeners) l(snapshot);
  }

  /**
   * The operator's word on the table in force: its sources were known to have seen every change
   * `lagMs` ago (a heartbeat, or the head of the table just applied). Its age counts from then,
   * not from when the word arrived. Undefined (a word without it): vouched for by nobody, infinitely
   * old, so it is stale at once (ADR 0005, eighth round); not "since 1970", which is what
   * `keybrake_snapshot_age_seconds` and the policy_stale message showed.
   */
  vouch(lagMs: number | undefined): void {
    if (this.#current)
      this.#receivedAt = lagMs === undefined ? Number.NEGATIVE_INFINITY : this.#clock.now() - lagMs;
  }

  /**
   * Milliseconds since the table was last received or vouched for as current; Infinity while nobody
   * vouches for it; undefined before the first.
   */
  ageMs(): number | undefined {
    return this.#current ? this.#clock.now() - this.#receivedAt : undefined;
  }

  onApply(listener: (s: Snapshot) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
