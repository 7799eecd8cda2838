/**
 * Who holds the audit backlog (ADR 0001): the characters of unwritten records, per vault key (the
 * record's `vaultKey`; one bucket, null, for calls refused before a key was found). The batched
 * stdout sink keeps one; the audit-backlog stage asks it, through the sink, whether a key's call may
 * go ahead. Without it the backlog was one pool, and one key's records (each up to 16 KB, and its
 * refusals' too) filled it for every tenant of the proxy.
 */

/** Characters per vault key: what one batch holds, or what the whole backlog holds. */
export type KeyTally = Map<string | null, number>;

/**
 * The fairness rule, pure. Below the bound every key is admitted. At or past it, a key is admitted
 * only while it holds less than an equal share of the bound among the keys holding anything: the
 * keys that wrote the backlog are refused first, and a key that writes little goes on until the
 * hard bound (twice this one), where no call is answered. Some key always holds at least its share
 * (the shares add up to the bound, the backlog to more), so past the bound some key is refused.
 */
export function admitsKey(held: number, bound: number, mine: number, holders: number): boolean {
  return held < bound || mine * holders < bound;
}

export class AuditShares {
  readonly #held: KeyTally = new Map();

  /** A record of `chars` characters for `key`, added to a batch's tally and to the backlog's. */
  add(batch: KeyTally, key: string | null, chars: number): void {
    batch.set(key, (batch.get(key) ?? 0) + chars);
    this.#held.set(key, (this.#held.get(key) ?? 0) + chars);
  }

  /** A batch the stream took: its records no longer count against their keys. */
  taken(batch: KeyTally): void {
    for (const [key, chars] of batch) {
      const left = this.#held.get(key)! - chars;
      // A key that holds nothing is not a holder: it would shrink every other key's share.
      if (left === 0) this.#held.delete(key);
      else this.#held.set(key, left);
    }
  }

  /** Whether a call of `key` may go ahead while the backlog holds `held` characters of `bound`. */
  admits(key: string | null, held: number, bound: number): boolean {
    return admitsKey(held, bound, this.#held.get(key) ?? 0, this.#held.size);
  }
}
