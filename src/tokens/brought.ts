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
  /** Finds the tails: one native search over the text, which most texts pass without a match. */
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
    'g',
  );
  return { byTail, tails };
}

/**
 * The stretches `[start, end)` of `text` that are a token the table serves, overlapping ones merged,
 * in order; empty when there is none. A window is taken as a token when its digest is a key of the
 * table, the lookup authenticate does for a presented credential.
 */
export function broughtSpans(text: string, brought: BroughtTokens): Array<[number, number]> {
  const { byTail, tails, served } = brought;
  const found: Array<[number, number]> = [];
  let digests = 0;
  tails.lastIndex = 0;
  for (let m = tails.exec(text); m !== null; m = tails.exec(text)) {
    const end = m.index + TAIL;
    for (const length of byTail.get(m[0])!) {
      const start = end - length;
      if (start < 0) continue;
      if (++digests > MAX_DIGESTS) return [[0, text.length]];
      if (served.has(tokenDigest(text.slice(start, end)))) found.push([start, end]);
    }
    // Tails may overlap (`XYXY` ends `…YXYX` one character on): the search resumes one character on.
    tails.lastIndex = m.index + 1;
  }
  return merged(found);
}

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
