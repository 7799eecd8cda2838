/**
 * Open connections per client address on one listener: the share one source may hold of the
 * listener's --max-connections (ADR 0007 §8), so that one client cannot take every slot from the
 * others. Pure bookkeeping; the listener (bounded-server.ts) takes a slot as it accepts a
 * connection and gives it back when the connection closes.
 */
export class SourceShare {
  readonly #open = new Map<string, number>();
  readonly #perSource: number;

  constructor(perSource: number) {
    this.#perSource = perSource;
  }

  /** Takes a slot for `source`; false, and nothing taken, when it already holds its share. */
  take(source: string): boolean {
    const held = this.#open.get(source) ?? 0;
    if (held >= this.#perSource) return false;
    this.#open.set(source, held + 1);
    return true;
  }

  /** Gives back a slot `take` gave; an address with none left is forgotten. */
  give(source: string): void {
    const held = this.#open.get(source) ?? 0;
    if (held <= 1) this.#open.delete(source);
    else this.#open.set(source, held - 1);
  }

  /** Addresses holding at least one connection: what the bookkeeping costs in memory. */
  get sources(): number {
    return this.#open.size;
  }
}

/**
 * The addresses every local client (127.0.0.1, ::1) or a mesh sidecar's forwarded connections
 * (Istio's 127.0.0.6) arrive from, IPv4-mapped too: many clients behind one address by design, so
 * no share of one address is given to them.
 */
const LOCAL_SOURCES: ReadonlySet<string> = new Set(
  ['127.0.0.1', '127.0.0.6'].flatMap((a) => [a, `::ffff:${a}`]).concat('::1'),
);

export function isLocalSource(address: string): boolean {
  return LOCAL_SOURCES.has(address);
}
