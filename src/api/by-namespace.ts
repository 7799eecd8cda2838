/**
 * Objects by namespace, then name: a lookup per reference without building a `namespace/name`
 * string for it (the compiler and the revocation bookkeeping each look up 100 000 of them per
 * update at 100 000 keys).
 */
export class ByNamespace<T> {
  readonly #byNamespace = new Map<string, Map<string, T>>();

  get(namespace: string, name: string): T | undefined {
    return this.#byNamespace.get(namespace)?.get(name);
  }

  set(namespace: string, name: string, value: T): void {
    let names = this.#byNamespace.get(namespace);
    if (!names) {
      names = new Map();
      this.#byNamespace.set(namespace, names);
    }
    names.set(name, value);
  }

  /** The objects of one namespace, in the order they were first set. */
  in(namespace: string): Iterable<T> {
    return this.#byNamespace.get(namespace)?.values() ?? [];
  }

  delete(namespace: string, name: string): void {
    const names = this.#byNamespace.get(namespace);
    if (!names) return;
    names.delete(name);
    if (names.size === 0) this.#byNamespace.delete(namespace);
  }
}
