import type { CompiledKey, Snapshot } from './types.ts';

/**
 * What redaction needs to know of a table to find its tokens in text (tokens/redact.ts): the token
 * prefixes its keys use, and the (length, last 4 characters) of each token a user brought. Built
 * where a table is built, a change set at a time (distribution/apply.ts), so that no request walks
 * 100 000 keys to learn it: until 2026-12-01 the first call after every table change did (on the
 * serving thread, 10 to 20 ms at 100 000 keys), whatever the change.
 */
export interface TokenKinds {
  /** Each kind (`kindsOf`) → how many keys of the table have it. */
  readonly counts: ReadonlyMap<string, number>;
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

const PREFIX = 'p';
const BROUGHT = 'b';

/** A key's kinds, as counted: its prefix, and its brought token's length and tail. */
function kindsOf(key: CompiledKey): string[] {
  const kinds: string[] = [];
  if (key.tokenPrefix !== undefined) kinds.push(PREFIX + key.tokenPrefix);
  if (key.broughtTokenLength !== undefined)
    kinds.push(`${BROUGHT}${key.broughtTokenLength}:${key.tokenFingerprint.slice(-BROUGHT_TAIL)}`);
  return kinds;
}

/** A table's kinds being counted: from none (a whole table) or from the previous table's (a delta). */
export interface TokenKindsDraft {
  add(key: CompiledKey): void;
  remove(key: CompiledKey): void;
  finish(): TokenKinds;
}

const NONE: TokenKinds = { counts: new Map(), present: { prefixes: [], brought: new Map() } };

/**
 * Counts a table's kinds from `base`'s, which is never changed: the counts are copied on the first
 * change (as many entries as kinds, not keys), and the kinds present made again only when one came
 * or went.
 */
export function draftTokenKinds(base: TokenKinds = NONE): TokenKindsDraft {
  let counts: Map<string, number> | undefined;
  let cameOrWent = false;
  const own = () => {
    counts ??= new Map(base.counts);
    return counts;
  };
  return {
    add(key) {
      for (const kind of kindsOf(key)) {
        const c = own();
        const n = c.get(kind) ?? 0;
        if (n === 0) cameOrWent = true;
        c.set(kind, n + 1);
      }
    },
    remove(key) {
      for (const kind of kindsOf(key)) {
        const c = own();
        const n = c.get(kind) ?? 0;
        if (n <= 1) {
          cameOrWent ||= n === 1;
          c.delete(kind);
        } else c.set(kind, n - 1);
      }
    },
    finish() {
      if (counts === undefined) return base;
      return { counts, present: cameOrWent ? presentOf(counts) : base.present };
    },
  };
}

function presentOf(counts: ReadonlyMap<string, number>): PresentKinds {
  const prefixes: string[] = [];
  const brought = new Map<string, number[]>();
  for (const kind of counts.keys()) {
    if (kind.startsWith(PREFIX)) {
      prefixes.push(kind.slice(PREFIX.length));
      continue;
    }
    const colon = kind.indexOf(':');
    const length = Number(kind.slice(BROUGHT.length, colon));
    const tail = kind.slice(colon + 1);
    const lengths = brought.get(tail);
    if (lengths === undefined) brought.set(tail, [length]);
    else lengths.push(length);
  }
  return { prefixes, brought };
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
