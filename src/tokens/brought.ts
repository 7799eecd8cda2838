import { BROUGHT_TAIL as TAIL } from '../snapshot/token-kinds.ts';
import type { CompiledKey } from '../snapshot/types.ts';
import { tokenDigest } from './token.ts';

/**
 * The tokens users brought (any shape, no Keybrake checksum) that a table serves, as what is
 * recorded about a call is searched for them (ADR 0007 §1): no pattern finds such a token, and the
 * table holds only its digest. What it holds besides is enough: each key's `broughtTokenLength` and
 * the last 4 characters its fingerprint already shows. A window of text of that length, ending with
 * those characters, is hashed and looked up in the table like a presented credential; nothing else
 * is hashed, so the work stays linear in the text (plus one digest per place such a tail is found).
 */
export interface BroughtTokens extends BroughtTails {
  /** The table (digest → key) that serves them. */
  readonly served: ReadonlyMap<string, CompiledKey>;
}

/** What finds the tails: built once for every table that serves the same (length, tail) pairs. */
export interface BroughtTails {
  /** Token tail (its last 4 characters) → the lengths of the served brought tokens that end so. */
  readonly byTail: ReadonlyMap<string, readonly number[]>;
  /**
   * Finds the tails in any letter case: one native search over the text, which most texts pass
   * without a match (V8's case-insensitive search of literals costs what the exact one does).
   */
  readonly tails: RegExp;
}
/**
 * Digests taken in one text before all of it is taken as a token. An agent knows its own token's
 * tail and can fill a 16 KB target with it: one digest per character was 5–10 ms of CPU a request.
 * No honest path, run id or header holds a served token's tail this often, so past the bound the
 * whole text is withheld (and refused where a token may not be carried), never searched on.
 */
const MAX_DIGESTS = 64;

/**
 * What finds brought tokens of the given (tail → lengths), as a table's TokenKinds counts them
 * (snapshot/token-kinds.ts); undefined when there are none.
 */
export function broughtTailsOf(byTail: ReadonlyMap<string, readonly number[]>): BroughtTails | undefined {
  if (byTail.size === 0) return undefined;
  const tails = new RegExp(
    [...byTail.keys()].map((t) => t.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&')).join('|'),
    'gi',
  );
  return { byTail, tails };
}

/**
 * The stretches `[start, end)` of `text` that are a token the table serves, overlapping ones merged,
 * in order; empty when there is none. A window is taken as a token when its digest is a key of the
 * table, the lookup authenticate does for a presented credential. A window written in another case
 * than a served tail is looked up lower-cased and upper-cased too (sixteenth round, probe leaks16
 * finding 1): a token whose letters are all of one case (`openssl rand -hex 32`) is still the token in
 * any case, as redact.ts seeks the presented one; a mixed-case token's case is part of it, and no
 * folded window is one.
 */
export function broughtSpans(text: string, brought: BroughtTokens): Array<[number, number]> {
  const { byTail, tails, served } = brought;
  const found: Array<[number, number]> = [];
  let digests = 0;
  tails.lastIndex = 0;
  for (let m = tails.exec(text); m !== null; m = tails.exec(text)) {
    const end = m.index + TAIL;
    const written = m[0];
    for (const tail of servedTailsLike(written, byTail)) {
      // As written when it ends in the served tail exactly, and folded to the tail's case either way:
      // the rest of a one-case token may be in another case than its tail (`BD8D…5c65`).
      const folds = tail === written ? [AS_WRITTEN, ...foldsOf(tail)] : foldsOf(tail);
      for (const length of byTail.get(tail)!) {
        const start = end - length;
        if (start < 0) continue;
        const window = text.slice(start, end);
        for (const fold of folds) {
          const candidate =
            fold === 'lower' ? window.toLowerCase() : fold === 'upper' ? window.toUpperCase() : window;
          if (fold !== 'as' && candidate === window) continue;
          if (++digests > MAX_DIGESTS) return [[0, text.length]];
          if (served.has(tokenDigest(candidate))) {
            found.push([start, end]);
            break;
          }
        }
      }
    }
    // Tails may overlap (`XYXY` ends `…YXYX` one character on): the search resumes one character on.
    tails.lastIndex = m.index + 1;
  }
  return merged(found);
}

type Fold = 'as' | 'lower' | 'upper';
const AS_WRITTEN: Fold = 'as';

/**
 * The served tails that `written` (a match of the case-insensitive search) may stand for: itself, and
 * its lower- and upper-cased forms where those differ (a one-case token's tail in another case).
 */
function servedTailsLike(written: string, byTail: ReadonlyMap<string, readonly number[]>): string[] {
  const like: string[] = byTail.has(written) ? [written] : [];
  for (const folded of [written.toLowerCase(), written.toUpperCase()])
    if (folded !== written && !like.includes(folded) && byTail.has(folded)) like.push(folded);
  return like;
}

/**
 * How a window ending in the served `tail`, in any case, may be the token besides as written: folded to
 * the one case the tail (so the token, if it is one-case) is in; to either for a tail without letters.
 */
function foldsOf(tail: string): readonly Fold[] {
  const lower = tail === tail.toLowerCase();
  const upper = tail === tail.toUpperCase();
  return lower && upper ? BOTH_FOLDS : lower ? LOWER : upper ? UPPER : NO_FOLDS;
}

const BOTH_FOLDS: readonly Fold[] = ['lower', 'upper'];
const LOWER: readonly Fold[] = ['lower'];
const UPPER: readonly Fold[] = ['upper'];
const NO_FOLDS: readonly Fold[] = [];

/** Overlapping stretches as one: a token taken out in part would leave the rest of it behind. */
function merged(spans: Array<[number, number]>): Array<[number, number]> {
  if (spans.length < 2) return spans;
  spans.sort((a, b) => a[0] - b[0]);
  const out: Array<[number, number]> = [spans[0]!];
  for (const [start, end] of spans.slice(1)) {
    const last = out[out.length - 1]!;
    if (start < last[1]) last[1] = Math.max(last[1], end);
    else out.push([start, end]);
  }
  return out;
}
