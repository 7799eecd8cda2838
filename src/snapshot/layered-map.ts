/**
 * The proxy's key table as deltas build it (ADR 0013): an immutable base Map shared by every table
 * derived from it, plus a small overlay of what changed since (a tombstone for a removed key).
 * Applying a delta copies the overlay, never the base (copying a 100 000-entry Map takes ~18 ms of
 * one event-loop turn); the request path reads it like any ReadonlyMap, one lookup per layer.
 * `LayeredMap.compact` folds the overlay into a fresh base off the request path, a slice per turn of
 * the event loop, then swaps the representation of the newest table in one assignment: the content
 * a reader sees never changes, only how it is stored.
 */

const REMOVED: unique symbol = Symbol('removed');
type Slot<V> = V | typeof REMOVED;

interface Layers<V> {
  readonly base: ReadonlyMap<string, V>;
  /**
   * What changed since `base`. Every table derived from this one keeps at least these keys in its
   * overlay (a key removed that only the overlay had stays as a tombstone): compaction relies on it.
   */
  readonly overlay: ReadonlyMap<string, Slot<V>>;
  readonly size: number;
}

/** A table being filled by `LayeredMap.draft` (not shared until `finish`). */
export interface LayeredDraft<V> {
  get(key: string): V | undefined;
  set(key: string, value: V): void;
  delete(key: string): void;
  finish(): LayeredMap<V>;
}

/** Values are never undefined (a CompiledKey): `get` answering undefined means absent. */
export class LayeredMap<V> implements ReadonlyMap<string, V> {
  #layers: Layers<V>;

  private constructor(layers: Layers<V>) {
    this.#layers = layers;
  }

  /** A table over `base`, which must never be mutated afterwards (it is shared, not copied). */
  static of<V>(base: ReadonlyMap<string, V>): LayeredMap<V> {
    return new LayeredMap({ base, overlay: new Map(), size: base.size });
  }

  /** `map` itself when it is layered, else a layered table over it (for a table from elsewhere). */
  static from<V>(map: ReadonlyMap<string, V>): LayeredMap<V> {
    return map instanceof LayeredMap ? (map as LayeredMap<V>) : LayeredMap.of(map);
  }

  get size(): number {
    return this.#layers.size;
  }

  /** Entries in the overlay: what the next `with` copies, and what `compact` folds away. */
  get overlaySize(): number {
    return this.#layers.overlay.size;
  }

  get(key: string): V | undefined {
    const { base, overlay } = this.#layers;
    if (overlay.size !== 0) {
      const slot = overlay.get(key);
      if (slot !== undefined) return slot === REMOVED ? undefined : slot;
    }
    return base.get(key);
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /**
   * A new table to fill from this one: the overlay is copied now (O(overlay)), each change costs one
   * Map operation, so a large delta can be applied a line at a time; `this` is untouched.
   */
  draft(): LayeredDraft<V> {
    const { base, overlay } = this.#layers;
    const next = new Map(overlay);
    let size = this.#layers.size;
    const get = (key: string): V | undefined => {
      const slot = next.get(key);
      if (slot !== undefined) return slot === REMOVED ? undefined : slot;
      return base.get(key);
    };
    return {
      get,
      set(key, value) {
        if (get(key) === undefined) size++;
        next.set(key, value);
      },
      delete(key) {
        if (get(key) === undefined) return;
        next.set(key, REMOVED);
        size--;
      },
      finish: () => new LayeredMap({ base, overlay: next, size }),
    };
  }

  /** A new table: this one with `upsert` set and `remove` deleted. O(overlay + changes); `this` is untouched. */
  with(upsert: Iterable<readonly [string, V]>, remove: Iterable<string>): LayeredMap<V> {
    const d = this.draft();
    for (const key of remove) d.delete(key);
    for (const [key, value] of upsert) d.set(key, value);
    return d.finish();
  }

  *entries(): MapIterator<[string, V]> {
    const { base, overlay } = this.#layers;
    for (const entry of base) if (!overlay.has(entry[0])) yield entry;
    for (const [key, slot] of overlay) if (slot !== REMOVED) yield [key, slot];
  }

  *keys(): MapIterator<string> {
    for (const [key] of this.entries()) yield key;
  }

  *values(): MapIterator<V> {
    for (const [, value] of this.entries()) yield value;
  }

  [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }

  forEach(fn: (value: V, key: string, map: ReadonlyMap<string, V>) => void, thisArg?: unknown): void {
    for (const [key, value] of this.entries()) fn.call(thisArg, value, key, this);
  }

  get [Symbol.toStringTag](): string {
    return 'LayeredMap';
  }

  /**
   * Folds `from`'s overlay into a new base, `perTurn` base entries per turn (`turn` yields to the
   * event loop between slices), then gives the newest table (`latest()`, which may have taken more
   * deltas meanwhile) that base and what it changed since, in one assignment. Nothing happens to a
   * `latest()` with another base (a full table replaced it). Resolves true when it swapped.
   */
  static async compact<V>(
    from: LayeredMap<V>,
    latest: () => LayeredMap<V> | undefined,
    turn: () => Promise<void>,
    perTurn = 4_096,
  ): Promise<boolean> {
    const { base, overlay } = from.#layers;
    if (overlay.size === 0) return false;
    const flat = new Map<string, V>();
    let n = 0;
    for (const entry of base) {
      if (!overlay.has(entry[0])) flat.set(entry[0], entry[1]);
      if (++n % perTurn === 0) await turn();
    }
    for (const [key, slot] of overlay) if (slot !== REMOVED) flat.set(key, slot);
    await turn();
    const target = latest();
    if (!target || target.#layers.base !== base) return false;
    // The newest table's overlay holds every key of `overlay` (see Layers), and outside its overlay
    // it reads `base` where `flat` equals `base`: keeping what differs from `flat` is exact.
    const rest = new Map<string, Slot<V>>();
    for (const [key, slot] of target.#layers.overlay) {
      if (slot === REMOVED ? flat.has(key) : flat.get(key) !== slot) rest.set(key, slot);
    }
    target.#layers = { base: flat, overlay: rest, size: target.#layers.size };
    return true;
  }
}
