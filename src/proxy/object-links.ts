/**
 * How many links one process keeps. An entry is two ids and a scope digest, a few hundred bytes: the
 * bound holds every Price of a large catalogue in a few MiB.
 */
const MAX_OBJECT_LINKS = 20_000;

/**
 * Links between vendor objects that never change once made (a Stripe Price's product), as the answers
 * of this process's price lookups showed them (ADR 0007 §5, seventh round): a later call leases the
 * linked object in the lease step it makes anyway instead of reading for it. In process only, like
 * lookup-reads.ts: a replica that has not seen a link reads for it once, and no store round trip is
 * spent on what a read can always tell again.
 *
 * Scoped by whose objects they are (stages/price.ts: the upstream credential's identity and the
 * account context a vendor call is made in), never shared across them. Bounded: when full, the link
 * least recently used is forgotten, so a call that needs it again pays one read (a miss), never gets
 * another object's link (a wrong answer).
 */
export class ObjectLinks {
  readonly #max: number;
  /** `scope \0 from` → to, least recently used first (a Map keeps insertion order). */
  readonly #links = new Map<string, string>();

  constructor(max = MAX_OBJECT_LINKS) {
    this.#max = max;
  }

  /** What `from` links to in `scope`; undefined when no answer showed it, or it was forgotten. */
  get(scope: string, from: string): string | undefined {
    const key = entryKey(scope, from);
    const to = this.#links.get(key);
    if (to !== undefined) {
      this.#links.delete(key);
      this.#links.set(key, to);
    }
    return to;
  }

  /** Remembers that an answer in `scope` linked `from` to `to` (the latest answer wins). */
  learn(scope: string, from: string, to: string): void {
    const key = entryKey(scope, from);
    this.#links.delete(key);
    this.#links.set(key, to);
    if (this.#links.size > this.#max) this.#links.delete(this.#links.keys().next().value!);
  }

  get size(): number {
    return this.#links.size;
  }
}

/**
 * One key per pair: price.ts's scopes hold exactly one NUL (a digest, then a vendor's JSON, which
 * escapes its own), so the key splits back one way only.
 */
function entryKey(scope: string, from: string): string {
  return `${scope}\0${from}`;
}
