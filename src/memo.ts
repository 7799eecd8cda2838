/**
 * A value remembered with an object, as a WeakMap entry would be, but kept in a hidden property of
 * the object itself: a non-enumerable symbol only this memo knows, so JSON, spreads, `Object.keys`
 * and equality in tests never see it, and it goes with its object.
 *
 * Why not a WeakMap: V8 marks WeakMap entries (ephemerons) in the stop-the-world pause that ends a
 * major garbage collection, iterating until no entry's key becomes reachable, and caches chained
 * through WeakMaps (document → resource → compiled key → its wire text) take several rounds. With
 * 100 000 keys, the operator's compile path had pauses of 0.35 to 1.7 s, 85 to 99 % of each in
 * ephemeron marking (bench/operator-change.ts with `--trace-gc-nvp`: mark.ephemeron.*), and a
 * revocation that met one of the operator's own (up to 0.7 s) waited for it. A property is marked
 * like any other field, concurrently with the program (ADR 0014).
 *
 * Only for objects this process made or parsed and does not freeze; an object that cannot take a
 * property (frozen, sealed) falls back to a WeakMap.
 */
export class ObjectMemo<K extends object, V> {
  readonly #symbol: symbol;
  readonly #fallback = new WeakMap<K, V>();

  /** `name` names the symbol, for a heap snapshot only. */
  constructor(name: string) {
    this.#symbol = Symbol(name);
  }

  get(object: K): V | undefined {
    const extensible = Object.isExtensible(object);
    if (!extensible) {
      // Frozen or sealed: values go to the fallback, though one set before may be in the property.
      const later = this.#fallback.get(object);
      if (later !== undefined) return later;
    }
    return Object.hasOwn(object, this.#symbol) ? (object as Record<symbol, V>)[this.#symbol] : undefined;
  }

  set(object: K, value: V): void {
    if (!Object.isExtensible(object)) this.#fallback.set(object, value);
    else
      Object.defineProperty(object, this.#symbol, {
        value,
        writable: true,
        configurable: true,
        enumerable: false,
      });
  }
}
