import type { CompiledKey, Snapshot } from './types.ts';

/**
 * What redaction needs to know of a table to find its tokens in text (tokens/redact.ts): the token
 * prefixes its keys use, and the (length, last 4 characters) of each token a user brought. Built
 * where a table is built, a change set at a time (distribution/apply.ts), so that no request walks
 * 100 000 keys to learn it: until 2026-12-01 the first call after every table change did (on the
 * serving thread, 40 to 50 ms at 100 000 keys), whatever the change.
 */
export interface TokenKinds {
  /** Each token prefix → how many keys of the table use it. */
  readonly prefixes: ReadonlyMap<string, number>;
  /** Each brought token's `<length>:<last 4 characters>` → how many keys of the table serve one so. */
  readonly brought: ReadonlyMap<string, number>;
  /**
   * The kinds the table has: the same object from one table to the next while no kind comes or
   * goes (a delta that changes other fields, or adds one more key of a prefix already served), so
   * what redaction builds from it (a pattern, an index of tails) is built once for all of them.
   */
  readonly present: PresentKinds;
}

export interface PresentKinds {
  readonly prefixes: readonly string[];
  /** Brought tokens' last 4 characters → the lengths of those that end so. */
  readonly brought: ReadonlyMap<string, readonly number[]>;
}

/** Characters of a brought token its fingerprint shows (`…XYZ1`): a brought token has 24 or more. */
export const BROUGHT_TAIL = 4;

/** A table's kinds being counted: from none (a whole table) or from the previous table's (a delta). */
export interface TokenKindsDraft {
  add(key: CompiledKey): void;
  remove(key: CompiledKey): void;
  finish(): TokenKinds;
}

const NONE: TokenKinds = {
  prefixes: new Map(),
  brought: new Map(),
  present: { prefixes: [], brought: new Map() },
};

/**
 * Counts a table's kinds from `base`'s, which is never changed: a count map is copied on its first
 * change (as many entries as kinds, not keys), and the kinds present made again only when one came
 * or went. Most keys have a prefix and no brought token: counting one is a Map update, no allocation.
 */
export function draftTokenKinds(base: TokenKinds = NONE): TokenKindsDraft {
  let prefixes: Map<string, number> | undefined;
  let brought: Map<string, number> | undefined;
  let cameOrWent = false;
  const count = (counts: Map<string, number>, kind: string, by: 1 | -1) => {
    const n = (counts.get(kind) ?? 0) + by;
    if (n <= 0) {
      cameOrWent ||= counts.delete(kind);
    } else {
      if (n === 1 && by === 1) cameOrWent = true;
      counts.set(kind, n);
    }
  };
  const change = (key: CompiledKey, by: 1 | -1) => {
    if (key.tokenPrefix !== undefined) {
      prefixes ??= new Map(base.prefixes);
      count(prefixes, key.tokenPrefix, by);
    }
    if (key.broughtTokenLength !== undefined) {
      brought ??= new Map(base.brought);
      count(brought, `${key.broughtTokenLength}:${key.tokenFingerprint.slice(-BROUGHT_TAIL)}`, by);
    }
  };
  return {
    add: (key) => change(key, 1),
    remove: (key) => change(key, -1),
    finish() {
      if (prefixes === undefined && brought === undefined) return base;
      const p = prefixes ?? base.prefixes;
      const b = brought ?? base.brought;
      return { prefixes: p, brought: b, present: cameOrWent ? presentOf(p, b) : base.present };
    },
  };
}

function presentOf(
  prefixes: ReadonlyMap<string, number>,
  counted: ReadonlyMap<string, number>,
): PresentKinds {
  const brought = new Map<string, number[]>();
  for (const kind of counted.keys()) {
    const colon = kind.indexOf(':');
    const length = Number(kind.slice(0, colon));
    const tail = kind.slice(colon + 1);
    const lengths = brought.get(tail);
    if (lengths === undefined) brought.set(tail, [length]);
    else lengths.push(length);
  }
  return { prefixes: [...prefixes.keys()], brought };
}

/** The kinds of `keys`, counted in one walk: for a table built whole (a compile, a test). */
export function tokenKindsOfKeys(keys: Iterable<CompiledKey>): TokenKinds {
  const draft = draftTokenKinds();
  for (const key of keys) draft.add(key);
  return draft.finish();
}

const bySnapshot = new WeakMap<Snapshot, TokenKinds>();

/** Records the kinds of a snapshot built elsewhere (a change set), so redaction never walks its keys. */
export function setTokenKinds(snapshot: Snapshot, kinds: TokenKinds): void {
  bySnapshot.set(snapshot, kinds);
}

/** The kinds of `snapshot`: recorded where it was built, else counted once (a compile's snapshot). */
export function tokenKindsOf(snapshot: Snapshot): TokenKinds {
  let kinds = bySnapshot.get(snapshot);
  if (kinds === undefined) {
    kinds = tokenKindsOfKeys(snapshot.keys.values());
    bySnapshot.set(snapshot, kinds);
  }
  return kinds;
}
