/** What the calls at the upstreams may hold: per vault key, over all of its vendor's hosts, and in all. */
export interface BudgetLimits {
  /** Calls one key may have at the upstreams at once, on a connection or waiting for one. */
  readonly callsPerKey: number;
  /** Request body bytes those calls may hold. */
  readonly bytesPerKey: number;
  /** Request body bytes the calls of every key may hold together. */
  readonly bytes: number;
}

/** Which bound a refused call would have broken. */
export type Overdrawn = 'key_calls' | 'key_bytes' | 'bytes';

interface KeyHolds {
  calls: number;
  bytes: number;
}

/**
 * The calls each vault key has at the upstreams and the request bodies they hold, over every origin
 * of the proxy (ADR 0007 §8, fifth round). A key's share of one origin's connections bounds what it
 * has on them, not what waits for them: one agent pipelined 2 048 calls of 250 KB from one address,
 * each waiting in its key's queue for the upstream timeout with its body, and grew a proxy by 1.1 GB;
 * and each of Twilio's 40 hosts has a pool and a share of its own. A call is taken here before it
 * enters its key's queue and given back when undici is done with it; one past a bound is refused at
 * once, before it waits. A key with nothing at the upstreams always has its call taken, so another
 * key's calls cannot leave it none. Pure bookkeeping: the upstreams module refuses and gives back.
 */
export class KeyBudget {
  readonly #limits: BudgetLimits;
  readonly #keys = new Map<string, KeyHolds>();
  #bytes = 0;

  constructor(limits: BudgetLimits) {
    this.#limits = limits;
  }

  /** Counts a call of `key` with a body of `bytes`, or says which bound it would break. */
  take(key: string, bytes: number): Overdrawn | undefined {
    const held = this.#keys.get(key);
    if (held === undefined) {
      this.#keys.set(key, { calls: 1, bytes });
    } else {
      if (held.calls >= this.#limits.callsPerKey) return 'key_calls';
      if (held.bytes + bytes > this.#limits.bytesPerKey) return 'key_bytes';
      if (this.#bytes + bytes > this.#limits.bytes) return 'bytes';
      held.calls++;
      held.bytes += bytes;
    }
    this.#bytes += bytes;
    return undefined;
  }

  /** Gives back one call `take` counted, with the same `bytes`. */
  give(key: string, bytes: number): void {
    const held = this.#keys.get(key);
    if (held === undefined) return;
    this.#bytes -= bytes;
    if (--held.calls === 0) this.#keys.delete(key);
    else held.bytes -= bytes;
  }

  /** Calls of `key` at the upstreams now. */
  calls(key: string): number {
    return this.#keys.get(key)?.calls ?? 0;
  }

  /** Request body bytes the calls of every key hold now. */
  get bytes(): number {
    return this.#bytes;
  }
}
