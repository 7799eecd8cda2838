/** A call waiting for its vault key's share of an upstream origin's connections. */
export interface ShareWaiter {
  /**
   * Its turn: hand the call to the origin's pool. `waited`: it queued behind its key's other calls
   * first, for as long as they kept their connections (time its caller controls).
   */
  start(waited: boolean): void;
}

interface KeyCalls {
  /** Calls of the key handed to the pool and not yet finished with their connection. */
  held: number;
  /** Calls of the key waiting for one of those to finish, oldest first (a Set keeps insertion order). */
  readonly queue: Set<ShareWaiter>;
}

/**
 * The calls each vault key has on one upstream origin's connections (ADR 0007 §8, fifth round). One
 * pool per vendor host serves every key and tenant of a proxy; a key that held all of it with slow
 * free reads made every other namespace's calls wait 19 s. A key now holds at most `perKey` of the
 * pool at once, and its calls past that wait in its own queue, in arrival order, so what one key
 * does never takes a connection from the others. Pure bookkeeping: the upstreams module bounds the
 * wait and withdraws a waiter that gives up.
 */
export class KeyShare {
  readonly #perKey: number;
  readonly #keys = new Map<string, KeyCalls>();

  constructor(perKey: number) {
    this.#perKey = perKey;
  }

  /**
   * Starts `waiter` now if `key` holds less than its share, else when an earlier call of the key
   * leaves. The slot is counted before `start` runs, so a call that fails inside it can leave at once.
   */
  enter(key: string, waiter: ShareWaiter): void {
    let calls = this.#keys.get(key);
    if (calls === undefined) {
      calls = { held: 0, queue: new Set() };
      this.#keys.set(key, calls);
    }
    if (calls.held >= this.#perKey) {
      calls.queue.add(waiter);
      return;
    }
    calls.held++;
    waiter.start(false);
  }

  /**
   * `waiter` is done: withdrawn from the queue if it was still waiting, else its slot is free and the
   * key's oldest waiting call takes it. Called once per `enter`.
   */
  leave(key: string, waiter: ShareWaiter): void {
    const calls = this.#keys.get(key);
    if (calls === undefined) return;
    if (!calls.queue.delete(waiter)) {
      const next = calls.queue.values().next();
      if (next.done) calls.held--;
      else {
        // The slot passes straight to the next call: the count stays.
        calls.queue.delete(next.value);
        next.value.start(true);
      }
    }
    // A start that failed at once has left already, and may have removed the entry.
    if (calls.held === 0 && calls.queue.size === 0 && this.#keys.get(key) === calls) this.#keys.delete(key);
  }

  /** Calls of `key` on the pool now. */
  held(key: string): number {
    return this.#keys.get(key)?.held ?? 0;
  }

  /** Calls of `key` waiting for its share. */
  waiting(key: string): number {
    return this.#keys.get(key)?.queue.size ?? 0;
  }
}
