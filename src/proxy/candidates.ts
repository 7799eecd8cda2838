/**
 * A walk over the bytes of an answer that may begin something (an escape, a line break), for the
 * credential scan's readings (escapes.ts, line-breaks.ts). Where such bytes are sparse, as in every
 * vendor answer, it jumps between them with the native search; where they are dense, as an agent
 * can have a read of its free writes be (`%%%%…`, `\\\\…`, `nnnn…`), it looks at the next bytes in
 * JavaScript, one table look-up each, and searches natively again only past 64 of them: a native
 * call per byte costs some 30 ns, more than a plain answer's whole scan spends on 20 bytes.
 */

/** What makes a byte begin something: itself, or with a backslash before it, or a hex digit after. */
export const ALONE = 1;
export const AFTER_BACKSLASH = 2;
export const BEFORE_HEX = 3;
type Kind = typeof ALONE | typeof AFTER_BACKSLASH | typeof BEFORE_HEX;

const BACKSLASH = 0x5c;

/** How many bytes are looked at in JavaScript before searching natively again. */
const WINDOW = 64;

/** Not searched for yet; a position found natively is kept until the walk passes it (-1: none left). */
const UNSEARCHED = -2;

type Values = ReadonlyArray<readonly [byte: number, kind: Kind]>;

/** A value list's table, built once per list: the scan runs on every answer, the lists are constants. */
interface Table {
  readonly values: readonly number[];
  /** By byte: its Kind, or 0. */
  readonly kinds: Uint8Array;
}

const tables = new WeakMap<Values, Table>();

function tableOf(values: Values): Table {
  let table = tables.get(values);
  if (!table) {
    const kinds = new Uint8Array(256);
    for (const [byte, kind] of values) kinds[byte] = kind;
    table = { values: values.map(([byte]) => byte), kinds };
    tables.set(values, table);
  }
  return table;
}

export class Candidates {
  private readonly bytes: Buffer;
  private readonly values: readonly number[];
  private readonly kinds: Uint8Array;
  private readonly found: number[];

  /** `values`: a constant list (its table is kept with it, keyed by the list itself). */
  constructor(bytes: Buffer, values: Values) {
    this.bytes = bytes;
    const table = tableOf(values);
    this.values = table.values;
    this.kinds = table.kinds;
    this.found = values.map(() => UNSEARCHED);
  }

  /** The first position at or after `from` that begins something, or -1. */
  from(from: number): number {
    const { bytes, kinds } = this;
    const n = bytes.length;
    for (let at = from; at !== -1; at = this.nearest(at)) {
      const stop = Math.min(n, at + WINDOW);
      // One look-up a byte, and the byte before or after it for a candidate only: the hot loop.
      for (; at < stop; at++) {
        const kind = kinds[bytes[at]!]!;
        if (kind === 0) continue;
        if (kind === ALONE) return at;
        if (
          kind === AFTER_BACKSLASH
            ? at > 0 && bytes[at - 1] === BACKSLASH
            : at + 1 < n && HEX_DIGIT[bytes[at + 1]!] === 1
        )
          return at;
      }
      if (stop === n) return -1;
    }
    return -1;
  }

  /** The nearest position at or after `at` holding one of the values, by native searches, or -1. */
  private nearest(at: number): number {
    const { bytes, values, found } = this;
    let nearest = -1;
    for (let k = 0; k < values.length; k++) {
      let position = found[k]!;
      // Each value's search runs again only once the walk is past what it found last.
      if (position === UNSEARCHED || (position !== -1 && position < at)) {
        position = bytes.indexOf(values[k]!, at);
        found[k] = position;
      }
      if (position !== -1 && (nearest === -1 || position < nearest)) nearest = position;
    }
    return nearest;
  }
}

/** By byte: 1 for a hex digit. */
const HEX_DIGIT = new Uint8Array(256);
for (const c of '0123456789abcdefABCDEF') HEX_DIGIT[c.charCodeAt(0)] = 1;
