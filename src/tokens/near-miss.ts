import { hasValidChecksum, TOKEN_BODY_CHARS, TOKEN_CHECKSUM_CHARS, tokenDigest } from './token.ts';

/**
 * Near misses of vault tokens that a caller wrote with more than the thirteenth round's one edit
 * (fourteenth round, fixops14 finding 2): the token upper-cased, its checksum and a body character
 * left out, another key's token with a `-` in its body or its prefix mistyped. Each was forwarded and
 * recorded in plain, and each gives the token back offline: the prefix is public, the checksum is
 * crc32 of prefix and body, and every record that redacts a key shows its last 4 characters (its
 * fingerprint), so what a reader must guess is what the edits took away, checked against 32 or 24
 * bits. What makes a token is its 33-character body (192 random bits): the rest is public or derived
 * from it. So both searches here are about the body:
 * - by value, for the token presented (bodyNearSpans): its body within BODY_EDITS edits, in any
 *   letter case, anywhere in the text (with or without its prefix and checksum);
 * - by shape, for every other token (nearShapeSpans): the proxy holds other tokens only as digests,
 *   so what stands for "near a token it knows" is the shape every minted token has: a known prefix
 *   (any case, one edit for a prefix of 6 characters or more) followed by a body's letters and digits,
 *   with at most SHAPE_EDITS edits in all (the prefix's, characters put between, characters missing);
 *   and a stretch of letters and digits that starts or ends with a body and checksum valid under a
 *   known prefix (the prefix mangled past one edit, or left off: it is public);
 * - by digest, for a token the table serves (servedBody, fourteenth round, fixes14b finding 1): a run
 *   of letters and digits that starts with a body (its checksum left off, cut short or mistyped) or
 *   ends with one (a prefix's letters glued before it) whose token, the checksum computed under a
 *   known prefix, is a key of the table. The checksum follows from the public prefix and the body, so
 *   the body alone, whatever stands around it, is the token; the match is exact, so no honest id is
 *   taken for it.
 * All are linear in the text: a few native searches, then small bounded comparisons only where a
 * candidate stands, and past a bound that grows with the text the whole of it is taken as a key (fail
 * closed: a hostile text stays bounded in time; an honest one, however long, never comes near it).
 */

/** Edits of the presented token's body still taken as it: 3 leave about 2^35 candidates to check. */
const BODY_EDITS = 3;
/**
 * Edits of another token's shape still taken as a token. The shape asks no value, so a wider budget
 * would take honest ids for keys; 2 covers the finding's near misses (one each) and a second slip.
 */
const SHAPE_EDITS = 2;
/**
 * Places a known prefix is searched for with edits (a half of it found nearby: Sellers' search, up to
 * 2,000 steps for a 32-character custom prefix) in one text before all of it is taken as a key (see
 * brought.ts MAX_DIGESTS): this many, and one more per CHARS_PER_CHECK characters of the text. Until
 * the fourteenth round's fixes14b finding 3 every run of 31 letters and digits counted, whether a
 * prefix stood near it or not, so any base64 or base64url text over about 2 KB (a JWT an auth proxy
 * adds, an RSA private key in `run exec`'s environment) was refused or withheld, depending on its
 * random content. Now only a run with a half of a known prefix near it counts, which random base64
 * holds about once in 10^7 places for each default prefix (a 5-character half, in any case).
 */
const MAX_CHECKS = 64;
const CHARS_PER_CHECK = 64;
/**
 * Digests taken by servedBody in one text before all of it is taken as a key: this many, and one
 * more per CHARS_PER_DIGEST characters (a digest is about 0.5 µs). Random base64 asks for about one
 * per 220 characters per prefix the table's keys use (a run of 33 to 41 letters and digits), a
 * hostile text of 33-character runs one per 34: honest text reaches the bound only under some 27
 * prefixes, a hostile one under 5.
 */
const MAX_DIGESTS = 64;
const CHARS_PER_DIGEST = 8;
/**
 * Places a piece of the presented token's body is compared at: 8 random characters of it stand in no
 * honest text, so a text holding them this often is the caller's doing (a hostile 6 KB target of one
 * piece was 1.4 ms of comparisons at 64).
 */
const MAX_BODY_CHECKS = 8;
/** Prefixes this long or longer are matched with one edit; a shorter custom one only exactly. */
const FUZZY_PREFIX = 6;
/** The most letters and digits a prefix has (TOKEN_PREFIX_PATTERN: 32 characters). */
const MAX_GLUED = 32;
const WHOLE = TOKEN_BODY_CHARS + TOKEN_CHECKSUM_CHARS;

type Span = [number, number];

/** A letter (A-Z, a-z) or digit, as a token's base62 body has them. */
function alnum(c: number): boolean {
  return c < 128 && ALNUM[c] === 1;
}

const ALNUM = new Uint8Array(128);
for (let c = 0; c < 128; c++)
  if ((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)) ALNUM[c] = 1;

/** ASCII lower case of one code unit (a fold that never changes the text's length, unlike toLowerCase). */
function folded(c: number): number {
  return c >= 65 && c <= 90 ? c + 32 : c;
}

// ---------------------------------------------------------------------------------------------
// By value: the presented token's body.

interface BodyParts {
  readonly token: string;
  /** The token's prefix (all before its body and checksum). */
  readonly prefix: string;
  /** The body, lower-cased. */
  readonly body: string;
  /** Where each piece starts in the body. */
  readonly offsets: readonly number[];
  /** Finds any of the body's BODY_EDITS + 1 pieces, in any case: one piece in a capture group each. */
  readonly pieces: RegExp;
}

/**
 * A minted token's body cut into BODY_EDITS + 1 pieces: BODY_EDITS edits (changes, characters left
 * out or put in, counted as Levenshtein does) touch at most BODY_EDITS pieces, so one stays whole.
 * For the last token asked about, as a call asks about the one it presents once per header.
 */
function bodyPartsOf(token: string): BodyParts | undefined {
  if (lastBody?.token === token) return lastBody;
  if (!hasValidChecksum(token)) return undefined;
  const body = token.slice(-WHOLE, -TOKEN_CHECKSUM_CHARS).toLowerCase();
  const count = BODY_EDITS + 1;
  const offsets: number[] = [];
  const pieces: string[] = [];
  for (let i = 0; i < count; i++) {
    const from = Math.floor((i * body.length) / count);
    offsets.push(from);
    pieces.push(`(${body.slice(from, Math.floor(((i + 1) * body.length) / count))})`);
  }
  lastBody = {
    token,
    prefix: token.slice(0, -WHOLE),
    body,
    offsets,
    pieces: new RegExp(pieces.join('|'), 'gi'),
  };
  return lastBody;
}

let lastBody: BodyParts | undefined;

/**
 * Where `text` holds the body of `token` (a minted one; none otherwise) with at most BODY_EDITS
 * edits, in any letter case: each span widened over the prefix-like word before it and the checksum
 * after it, so none of the token is left beside its fingerprint.
 */
export function bodyNearSpans(text: string, token: string): Span[] {
  if (text.length < TOKEN_BODY_CHARS - BODY_EDITS) return [];
  const parts = bodyPartsOf(token);
  if (parts === undefined) return [];
  const { pieces, offsets, body, prefix } = parts;
  const spans: Span[] = [];
  let checks = 0;
  pieces.lastIndex = 0;
  for (let m = pieces.exec(text); m !== null; m = pieces.exec(text)) {
    let piece = 1;
    while (m[piece] === undefined) piece++;
    const at = m.index - offsets[piece - 1]!;
    if (++checks > MAX_BODY_CHECKS) return [[0, text.length]];
    const hit = closestWithin(
      body,
      text,
      Math.max(0, at - BODY_EDITS),
      at + body.length + BODY_EDITS,
      BODY_EDITS,
    );
    if (hit !== undefined) {
      const span = widened(text, hit, prefix);
      spans.push(span);
      pieces.lastIndex = Math.max(span[1], m.index + 1);
    } else pieces.lastIndex = m.index + 1;
  }
  return spans;
}

/**
 * The rows the two searches below fill, made once: a prefix (32 characters at most) or a body (33)
 * fits, and allocating them per search was most of a typical call's cost.
 */
const ROWS = [0, 1, 2, 3].map(() => new Int32Array(64)) as [Int32Array, Int32Array, Int32Array, Int32Array];

/**
 * Sellers' approximate search of `pattern` (lower case) in text[from, to), letter case ignored: a
 * start anywhere is free, each cell's start carried along. Calls `visit` at every end with the
 * closest match's start and its distance. O(pattern × window), for a window a few characters wider
 * than the pattern.
 */
function sellers(
  pattern: string,
  text: string,
  from: number,
  to: number,
  visit: (start: number, end: number, distance: number) => void,
): void {
  const end = Math.min(text.length, to);
  const m = pattern.length;
  let dist = ROWS[0];
  let start = ROWS[1];
  let nextDist = ROWS[2];
  let nextStart = ROWS[3];
  for (let i = 0; i <= m; i++) {
    dist[i] = i;
    start[i] = from;
  }
  for (let j = from; j < end; j++) {
    const c = folded(text.charCodeAt(j));
    nextDist[0] = 0;
    nextStart[0] = j + 1;
    for (let i = 1; i <= m; i++) {
      // Match or change (diagonal), the text's character put in (left), the pattern's left out (up).
      let d = dist[i - 1]! + (pattern.charCodeAt(i - 1) === c ? 0 : 1);
      let s = start[i - 1]!;
      if (dist[i]! + 1 < d) {
        d = dist[i]! + 1;
        s = start[i]!;
      }
      if (nextDist[i - 1]! + 1 < d) {
        d = nextDist[i - 1]! + 1;
        s = nextStart[i - 1]!;
      }
      nextDist[i] = d;
      nextStart[i] = s;
    }
    visit(nextStart[m]!, j + 1, nextDist[m]!);
    const d = dist;
    dist = nextDist;
    nextDist = d;
    const st = start;
    start = nextStart;
    nextStart = st;
  }
}

/** The stretch of text[from, to) closest to `pattern` (lower case), if within `k` edits (sellers). */
function closestWithin(pattern: string, text: string, from: number, to: number, k: number): Span | undefined {
  let best: Span | undefined;
  let bestDist = k + 1;
  sellers(pattern, text, from, to, (start, end, distance) => {
    if (distance < bestDist) {
      bestDist = distance;
      best = [start, end];
    }
  });
  return best;
}

/**
 * A body's span, widened over the token's prefix before it (within two edits, any case: text that
 * only touches it stays) and the letters and digits of a checksum after it.
 */
function widened(text: string, [s, e]: Span, prefix: string): Span {
  let start = s;
  let closest = 3;
  for (let length = Math.max(0, prefix.length - 2); length <= prefix.length + 2 && length <= s; length++) {
    const d = editDistance(text.slice(s - length, s), prefix);
    if (d < closest) {
      closest = d;
      start = s - length;
    }
  }
  let end = e;
  while (end < text.length && end - e < TOKEN_CHECKSUM_CHARS && alnum(text.charCodeAt(end))) end++;
  return [start, end];
}

/** Levenshtein distance of two short strings, letter case ignored (a prefix's length: 34 at most). */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    const c = folded(a.charCodeAt(i - 1));
    for (let j = 1; j <= b.length; j++)
      next[j] = Math.min(
        row[j - 1]! + (c === folded(b.charCodeAt(j - 1)) ? 0 : 1),
        row[j]! + 1,
        next[j - 1]! + 1,
      );
    row = next;
  }
  return row[b.length]!;
}

// ---------------------------------------------------------------------------------------------
// By shape: any token with a known prefix.

/** A known token prefix as the shape search reads it. */
export interface NearPrefix {
  /** As served (the checksum is computed over it). */
  readonly prefix: string;
  /** Lower-cased, as it is compared. */
  readonly folded: string;
  /** Edits of the prefix still read as it: 1, or 0 for a custom prefix too short to tell apart. */
  readonly edits: number;
  /** What a near miss is written as: the prefix up to its last `_`, then `…`. */
  readonly shown: string;
  /** The CRC-32 state after the prefix, where a checksum over prefix and body goes on from. */
  readonly crc: number;
  /** Lower-cased pieces, one of which any match within `edits` holds whole. */
  readonly halves: readonly string[];
  /** Its letters and digits: how many of them a body may have glued before it (`stripe<body>`). */
  readonly glued: number;
}

export function nearPrefix(prefix: string): NearPrefix {
  const fuzzy = prefix.length >= FUZZY_PREFIX;
  return {
    prefix,
    folded: prefix.toLowerCase(),
    edits: fuzzy ? 1 : 0,
    shown: `${prefix.slice(0, prefix.lastIndexOf('_') + 1)}…`,
    crc: crcState(prefix),
    halves: fuzzy
      ? [prefix.slice(0, prefix.length >> 1).toLowerCase(), prefix.slice(prefix.length >> 1).toLowerCase()]
      : [prefix.toLowerCase()],
    glued: prefix.replace(/[^A-Za-z0-9]/g, '').length,
  };
}

/** A near miss found by shape: its span and what it is written as. */
export type ShapeSpan = [start: number, end: number, shown: string];

/** What a table serves, by digest (a snapshot's keys): another key's token is looked up exactly. */
export interface ServedDigests {
  has(digest: string): boolean;
}

/** The tokens a table serves, as servedBody looks them up. */
export interface ServedTokens {
  readonly digests: ServedDigests;
  /** The prefixes the table's keys use: a body is made a token under each. */
  readonly prefixes: readonly NearPrefix[];
}

/** What one text may still cost before all of it is taken as a key (see MAX_CHECKS, MAX_DIGESTS). */
interface Budget {
  checks: number;
  digests: number;
}

/**
 * Where `text` holds a vault token's shape with at most SHAPE_EDITS edits, or the body of a token
 * `served` holds (see the module comment), in order, none overlapping. One pass over the text finds
 * its runs of letters and digits; only a run from which enough of them follow within the edit budget
 * is looked at further.
 */
export function nearShapeSpans(
  text: string,
  prefixes: readonly NearPrefix[],
  served?: ServedTokens,
): ShapeSpan[] {
  if (text.length < TOKEN_BODY_CHARS - SHAPE_EDITS) return [];
  const runs = alnumRuns(text);
  // Where a half of a known prefix starts, in order (one native search, made when a run first
  // deserves it; most texts hold none), and how far before or after a run's start prefixedBody looks
  // for one.
  let halves: number[] | undefined;
  const near = prefixes.reduce((n, p) => Math.max(n, p.folded.length + 1), 0);
  let h = 0;
  const found: ShapeSpan[] = [];
  const budget: Budget = {
    checks: MAX_CHECKS + Math.floor(text.length / CHARS_PER_CHECK),
    digests: MAX_DIGESTS + Math.floor(text.length / CHARS_PER_DIGEST),
  };
  let past = 0;
  // Lower-cased once, when a run is looked at (a filter only: its length may differ past ASCII).
  let lower: string | undefined;
  for (let r = 0; r < runs.length; r += 2) {
    const start = runs[r]!;
    const end = runs[r + 1]!;
    if (end <= past) continue;
    let hit = edgeToken(text, start, end, prefixes);
    if (hit === undefined && reach(runs, r) >= TOKEN_BODY_CHARS - SHAPE_EDITS) {
      halves ??= halfStarts(text, prefixes);
      while (h < halves.length && halves[h]! < start - near) h++;
      if (h < halves.length && halves[h]! < start + near) {
        lower ??= text.toLowerCase();
        hit = prefixedBody(text, lower, start, prefixes, budget);
      }
    }
    if (hit === undefined && served !== undefined) hit = servedBody(text, start, end, served, budget);
    if (budget.checks < 0 || budget.digests < 0) return [[0, text.length, prefixes[0]?.shown ?? '…']];
    if (hit === undefined || hit[1] <= past) continue;
    const from = Math.max(hit[0], past);
    found.push([from, hit[1], hit[2]]);
    past = hit[1];
  }
  return found;
}

/** Finds any half of the prefixes, in any case; built once per list of prefixes. */
const halfPatterns = new WeakMap<readonly NearPrefix[], RegExp>();

/** Where a half of one of `prefixes` starts in `text`, in any case, in order (overlapping ones too). */
function halfStarts(text: string, prefixes: readonly NearPrefix[]): number[] {
  let pattern = halfPatterns.get(prefixes);
  if (pattern === undefined) {
    const halves = [...new Set(prefixes.flatMap((p) => p.halves))].filter((x) => x !== '');
    // No prefix: a pattern that matches nothing.
    pattern = new RegExp(halves.map((x) => x.replace(/[^a-z0-9_]/g, '\\$&')).join('|') || '[^\\s\\S]', 'gi');
    halfPatterns.set(prefixes, pattern);
  }
  const starts: number[] = [];
  pattern.lastIndex = 0;
  for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
    starts.push(m.index);
    pattern.lastIndex = m.index + 1;
  }
  return starts;
}

/** The [start, end) pairs of the runs of letters and digits in `text`, flat. */
function alnumRuns(text: string): number[] {
  const runs: number[] = [];
  let at = -1;
  for (let i = 0; i < text.length; i++) {
    if (alnum(text.charCodeAt(i))) {
      if (at < 0) at = i;
    } else if (at >= 0) {
      runs.push(at, i);
      at = -1;
    }
  }
  if (at >= 0) runs.push(at, text.length);
  return runs;
}

/** How many letters and digits follow from run `r`'s start with at most SHAPE_EDITS characters between. */
function reach(runs: readonly number[], r: number): number {
  let count = runs[r + 1]! - runs[r]!;
  let gaps = 0;
  for (let n = r + 2; n < runs.length; n += 2) {
    gaps += runs[n]! - runs[n - 1]!;
    if (gaps > SHAPE_EDITS) break;
    count += runs[n + 1]! - runs[n]!;
  }
  return count;
}

/**
 * A run whose first or last 39 characters are a body and checksum valid under a known prefix: a
 * token with its prefix mangled or left off (the prefix is public), glued to other text on one side.
 * Two checksums per prefix per long run.
 */
function edgeToken(
  text: string,
  start: number,
  end: number,
  prefixes: readonly NearPrefix[],
): ShapeSpan | undefined {
  if (end - start < WHOLE) return undefined;
  for (const p of prefixes)
    if (checksumHolds(p, text, start) || checksumHolds(p, text, end - WHOLE)) return [start, end, p.shown];
  return undefined;
}

/**
 * Whether text[at, at + 39) is a body and its checksum under `p` (token.ts: base62 of crc32 of
 * prefix and body). CRC-32 in JS from the prefix's own state: node's crc32 converts a string per
 * call, which cost a long id 20 µs; letters and digits are their own UTF-8.
 */
function checksumHolds(p: NearPrefix, text: string, at: number): boolean {
  let crc = p.crc;
  for (let i = at; i < at + TOKEN_BODY_CHARS; i++)
    crc = CRC_TABLE[(crc ^ text.charCodeAt(i)) & 0xff]! ^ (crc >>> 8);
  let sum = (crc ^ 0xffffffff) >>> 0;
  for (let i = at + WHOLE - 1; i >= at + TOKEN_BODY_CHARS; i--) {
    if (text.charCodeAt(i) !== BASE62.charCodeAt(sum % 62)) return false;
    sum = Math.floor(sum / 62);
  }
  return sum === 0;
}

/**
 * A run of letters and digits, text[start, end), that starts with a body (33 to 39 characters: its
 * checksum left off, cut short or mistyped) or ends with one (a prefix's letters glued before it),
 * whose token under a known prefix (the checksum computed) the table serves: fourteenth round,
 * fixes14b finding 1 (`kb-stripe-<body>`, `stripe:<body>`, the body alone were forwarded and
 * recorded, and one crc32 gives the token back). Widened over a prefix-like word before it. A digest
 * per prefix per end of a run of the right length, counted in `budget`.
 */
function servedBody(
  text: string,
  start: number,
  end: number,
  { digests: served, prefixes }: ServedTokens,
  budget: Budget,
): ShapeSpan | undefined {
  const length = end - start;
  if (length < TOKEN_BODY_CHARS || length > TOKEN_BODY_CHARS + MAX_GLUED) return undefined;
  for (const p of prefixes) {
    const first = length <= WHOLE;
    const last = length > TOKEN_BODY_CHARS && length - TOKEN_BODY_CHARS <= p.glued;
    if (!first && !last) continue;
    if (first && servesBody(p, text, start, served, budget)) return shapeAround(text, start, end, p);
    if (last && servesBody(p, text, end - TOKEN_BODY_CHARS, served, budget))
      return shapeAround(text, start, end, p);
    if (budget.digests < 0) return undefined;
  }
  return undefined;
}

/** Whether the token `p` makes of the body at text[at, at + 33) is one `served` holds. */
function servesBody(p: NearPrefix, text: string, at: number, served: ServedDigests, budget: Budget): boolean {
  if (--budget.digests < 0) return false;
  let crc = p.crc;
  for (let i = at; i < at + TOKEN_BODY_CHARS; i++)
    crc = CRC_TABLE[(crc ^ text.charCodeAt(i)) & 0xff]! ^ (crc >>> 8);
  let sum = (crc ^ 0xffffffff) >>> 0;
  let checksum = '';
  for (let i = 0; i < TOKEN_CHECKSUM_CHARS; i++) {
    checksum = BASE62[sum % 62] + checksum;
    sum = Math.floor(sum / 62);
  }
  return served.has(tokenDigest(p.prefix + text.slice(at, at + TOKEN_BODY_CHARS) + checksum));
}

/** A found body's run, widened over the prefix-like word before it, as the shape search writes it. */
function shapeAround(text: string, start: number, end: number, p: NearPrefix): ShapeSpan {
  const [from] = widened(text, [start, end], p.prefix);
  return [from, end, p.shown];
}

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const CRC_TABLE = Int32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});

/** The CRC-32 state after `text` (its characters as bytes: a prefix is ASCII). */
function crcState(text: string): number {
  let crc = 0xffffffff;
  for (let i = 0; i < text.length; i++) crc = CRC_TABLE[(crc ^ text.charCodeAt(i)) & 0xff]! ^ (crc >>> 8);
  return crc;
}

/**
 * A known prefix ending near `start` (a run's start, or inside the run: the prefix's last `_`
 * changed or left out) within its edit budget, in any case, followed by a body's letters and digits
 * within SHAPE_EDITS edits in all.
 */
function prefixedBody(
  text: string,
  lower: string,
  start: number,
  prefixes: readonly NearPrefix[],
  budget: Budget,
): ShapeSpan | undefined {
  for (const p of prefixes) {
    const from = Math.max(0, start - p.folded.length - 1);
    const to = Math.min(text.length, start + p.folded.length + 1);
    // One edit leaves one half of the prefix whole: a window holding neither is not searched (and
    // not counted: only the search below costs).
    const window = lower.slice(from, to);
    if (!p.halves.some((half) => window.includes(half))) continue;
    if (--budget.checks < 0) return undefined;
    for (const [prefixStart, prefixEnd, edits] of prefixEnds(p, text, from, to)) {
      const bodyEnd = bodyAfter(text, prefixEnd, SHAPE_EDITS - edits);
      if (bodyEnd !== undefined) return [prefixStart, bodyEnd, p.shown];
    }
  }
  return undefined;
}

/**
 * Every place in text[from, to) where `p` ends within its edit budget, letter case ignored: [start,
 * end, edits] (sellers, every end kept).
 */
function prefixEnds(p: NearPrefix, text: string, from: number, to: number): Array<[number, number, number]> {
  const ends: Array<[number, number, number]> = [];
  sellers(p.folded, text, from, to, (start, end, distance) => {
    if (distance <= p.edits) ends.push([start, end, distance]);
  });
  return ends;
}

/**
 * Where a body that starts at `at` ends, if at least TOKEN_BODY_CHARS letters and digits follow
 * within `budget` edits (a character put between counts one, a body character missing one); the end
 * is taken on to the end of that run of letters and digits (its checksum, and whatever is glued to
 * it: its last characters may be the body's). Undefined otherwise.
 */
function bodyAfter(text: string, at: number, budget: number): number | undefined {
  let letters = 0;
  let between = 0;
  let ok = false;
  let i = at;
  for (; i < text.length && letters < WHOLE; i++) {
    if (alnum(text.charCodeAt(i))) letters++;
    else if (++between > budget) break;
    else continue;
    if (between + Math.max(0, TOKEN_BODY_CHARS - letters) <= budget) ok = true;
  }
  if (!ok) return undefined;
  while (i < text.length && alnum(text.charCodeAt(i))) i++;
  return i;
}
