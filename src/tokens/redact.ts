import { type PresentKinds, tokenKindsOf } from '../snapshot/token-kinds.ts';
import { type Snapshot, VENDORS } from '../snapshot/types.ts';
import { type BroughtTails, type BroughtTokens, broughtSpans, broughtTailsOf } from './brought.ts';
import {
  bodyNearSpans,
  type NearPrefix,
  nearPrefix,
  nearShapeSpans,
  type ServedTokens,
} from './near-miss.ts';
import { RUN_TOKEN_MARKER } from './run-token.ts';
import {
  defaultTokenPrefix,
  fingerprint,
  hasValidChecksum,
  TOKEN_BODY_CHARS,
  TOKEN_CHECKSUM_CHARS,
} from './token.ts';

/**
 * What Keybrake writes about a request that an agent chose to carry a credential in (ADR 0007 §1:
 * no token in any log, audit record or answer): the credential's fingerprint in its place. The agent
 * can only echo credentials it holds, but whoever reads the audit stream must not be handed them.
 */

/**
 * `text` with every occurrence of `token`, and of a near miss of it (tokenSpans), replaced by the
 * token's fingerprint; percent-encoded or compatibility-folded ones too (as `carriesToken` finds
 * them: the text is then given in the form that holds it).
 */
export function withoutToken(text: string, token: string): string {
  // The last form that holds it is the most decoded one, holding whatever the others hold.
  const decoded = otherForms(text).findLast((form) => tokenSpans(form, token).length > 0);
  const holder = decoded ?? text;
  const spans = tokenSpans(holder, token);
  return spans.length === 0 ? text : replaced(holder, spans, fingerprint(token));
}

/**
 * Whether `text` (a request target, a run id) carries `token` or a near miss of it (tokenSpans), as
 * it is or in another form a server further along may read it in (otherForms): percent-encoded up to
 * three times over (a probe had the token sent encoded twice, forwarded, and recorded), or in
 * fullwidth or other compatibility characters.
 */
export function carriesToken(text: string, token: string): boolean {
  return (
    tokenSpans(text, token).length > 0 || otherForms(text).some((form) => tokenSpans(form, token).length > 0)
  );
}

/** Anything but ASCII: the one test ASCII text (nearly every target and header) pays for folding. */
const NON_ASCII = /[^\x00-\x7f]/;

/**
 * The forms of `text`, other than itself, in which a server further along may read it: its `%XX`
 * escapes decoded (as Latin-1 bytes), and, for text holding anything but ASCII, that with its
 * compatibility letters and digits folded (compatFolded), and its bytes read as UTF-8, as they are and
 * folded. Fourteenth round (fixes14b finding 2): the presented token, or another key's, in fullwidth
 * letters (`ｋｂ＿ｓｔｒｉｐｅ＿…`, percent-encoded in a target) was forwarded, recorded, and passed to a
 * `run exec` command, though NFKC gives it back with no guess (as the case fold gives back an
 * upper-cased token); Keybrake reads Resend's field spellings and lenient path segments through NFKC
 * itself. A header value or raw target arrives as Latin-1, hence the UTF-8 reading of its bytes. ASCII
 * text without `%` has no other form and costs one regular-expression test. The last form is the most
 * decoded, holding whatever a key the others hold.
 */
function otherForms(text: string): readonly string[] {
  // The last text asked about: a call asks about each text two or three times in a row (carriesToken,
  // holdsTokenShape, the recorded form), and decoding a long escaped one is most of its cost.
  if (!ESCAPED_OR_WIDE.test(text)) return NO_FORMS;
  if (text === lastForms.text) return lastForms.forms;
  const forms = formsOf(text);
  lastForms = { text, forms };
  return forms;
}

let lastForms: { text: string; forms: readonly string[] } = { text: '', forms: [] };
const NO_FORMS: readonly string[] = [];
/** A `%` or anything but ASCII: text without either (nearly every target and header) has no other form. */
const ESCAPED_OR_WIDE = /[%\u0080-\uffff]/;

function formsOf(text: string): string[] {
  const forms: string[] = [];
  let bytes = text;
  if (text.includes('%')) {
    bytes = unescaped(text);
    if (bytes !== text) forms.push(bytes);
  }
  if (!NON_ASCII.test(bytes)) return forms;
  const folded = compatFolded(bytes);
  if (folded !== bytes) forms.push(folded);
  if (LATIN1.test(bytes)) {
    // As UTF-8 as it is (a brought token that is not ASCII), then folded.
    const utf8 = Buffer.from(bytes, 'latin1').toString('utf8');
    if (utf8 !== bytes) forms.push(utf8);
    const utf8Folded = compatFolded(utf8);
    if (utf8Folded !== utf8) forms.push(utf8Folded);
  }
  return forms;
}

/**
 * `text` with every character that NFKC folds to letters, digits or `_` (fullwidth `ｋ` and `＿`,
 * mathematical `𝐤`, circled `ⓚ`, superscript `²`, the ligature `ﬁ`) folded, and every other character
 * kept: a token is made of those alone, and folding the rest would change what is recorded for
 * nothing (the `…` of a fingerprint Keybrake wrote is NFKC's `...`).
 */
function compatFolded(text: string): string {
  return text.replace(NON_ASCII_POINTS, (c) => {
    let folded = FOLDS.get(c);
    if (folded === undefined) {
      const nfkc = c.normalize('NFKC');
      folded = TOKEN_CHARS.test(nfkc) ? nfkc : c;
      if (FOLDS.size < 4096) FOLDS.set(c, folded);
    }
    return folded;
  });
}

const NON_ASCII_POINTS = /[^\x00-\x7f]/gu;
const TOKEN_CHARS = /^[A-Za-z0-9_]+$/;
/** Characters already folded (compatFolded), bounded: a text may hold any of 1.1 million. */
const FOLDS = new Map<string, string>();

/** Text of single bytes (every character below U+0100): a header value as node gives it. */
const LATIN1 = /^[\x00-\xff]*$/;

/**
 * Where `text` holds `token` or a near miss of it, as [start, end) spans in order, none overlapping.
 * A near miss is the token with one character changed, left out, added or swapped with the next, and
 * for a minted token its prefix and body without the checksum (thirteenth round: both were written
 * to the audit record and spans in plain, and the checksum, crc32 of prefix and body, gives the
 * token back offline: one crc32 for the body alone, at most 33 × 62 checks for a mistyped
 * character). Any such variant keeps the token's first half or its second half whole (the halves
 * leave the middle character out, so a swap across them keeps one), so only windows around those
 * are compared: a few substring searches and a comparison per place a half is found. A token whose
 * letters are all of one case is found in any case (see TokenParts.anyCase).
 */
function tokenSpans(text: string, token: string): Array<[number, number]> {
  // A short one (no key is: key_unknown) as it is only: its halves would be found anywhere.
  if (token.length < MIN_PRESENTED_LENGTH) return exactSpans(text, token);
  const { head, tail, stem, anyCase } = partsOf(token);
  let atHead = anyCase === undefined ? text.indexOf(head) : searched(text, anyCase.head, 0);
  let atTail = anyCase === undefined ? text.indexOf(tail) : searched(text, anyCase.tail, 0);
  // Fourteenth round: a minted token's body with up to three edits, in any case (near-miss.ts).
  const body = bodyNearSpans(text, token);
  // The common case, every header value of every call: neither half, so no near miss (and no stem,
  // which holds the first half).
  if (atHead === -1 && atTail === -1) return body.length === 0 ? NO_SPANS : merged(body);
  const n = token.length;
  const spans: Array<[number, number]> = body;
  const near = (start: number, end: number) => {
    if (start < 0 || end > text.length) return false;
    const window = text.slice(start, end);
    if (
      anyCase === undefined
        ? withinOneEdit(window, token)
        : withinOneEdit(window.toLowerCase(), anyCase.lower)
    ) {
      spans.push([start, end]);
      return true;
    }
    return false;
  };
  const next = (needle: string, re: RegExp | undefined, from: number) =>
    re === undefined ? text.indexOf(needle, from) : searched(text, re, from);
  for (; atHead !== -1; atHead = next(head, anyCase?.head, atHead + 1))
    near(atHead, atHead + n) || near(atHead, atHead + n - 1) || near(atHead, atHead + n + 1);
  for (; atTail !== -1; atTail = next(tail, anyCase?.tail, atTail + 1)) {
    const end = atTail + tail.length;
    near(end - n, end) || near(end - n + 1, end) || near(end - n - 1, end);
  }
  if (stem !== undefined)
    for (let at = next(stem, anyCase?.stem, 0); at !== -1; at = next(stem, anyCase?.stem, at + 1))
      spans.push([at, at + stem.length]);
  return merged(spans);
}

/** Where `re` (global) first matches `text` at or after `from`, or -1. */
function searched(text: string, re: RegExp, from: number): number {
  re.lastIndex = from;
  const m = re.exec(text);
  return m === null ? -1 : m.index;
}

const NO_SPANS: Array<[number, number]> = [];

function exactSpans(text: string, token: string): Array<[number, number]> {
  if (token === '') return NO_SPANS;
  const spans: Array<[number, number]> = [];
  for (let at = text.indexOf(token); at !== -1; at = text.indexOf(token, at + token.length))
    spans.push([at, at + token.length]);
  return spans;
}

/**
 * A token's halves (without its middle character) and, for a minted one, its prefix and body: of the
 * tokens asked about lately (partsCache), as a call asks about the one it presents once per header.
 */
interface TokenParts {
  readonly token: string;
  readonly head: string;
  readonly tail: string;
  readonly stem: string | undefined;
  /**
   * For a token whose letters are all of one case (sixteenth round, probe leaks16 finding 1: a brought
   * `openssl rand -hex 32` token upper-cased in the path, a header or a run id was forwarded and
   * recorded in plain, and lower-casing it gives it back, losing nothing): the token lower-cased, and
   * its halves and stem as case-insensitive searches (V8's is as fast as indexOf, and no folded copy of
   * the text is made), as credential-scan.ts seeks such an upstream secret. A mixed-case token loses
   * information with its case, and is sought as it is; so is every minted one but about one in 10^8
   * (a base62 body), whose body near-miss.ts finds in any case anyway: the common case asks nothing more.
   */
  readonly anyCase: { lower: string; head: RegExp; tail: RegExp; stem: RegExp | undefined } | undefined;
}

function partsOf(token: string): TokenParts {
  let parts = partsCache.get(token);
  if (parts === undefined) {
    const half = token.length >> 1;
    const head = token.slice(0, half);
    const tail = token.slice(half + 1);
    const stem = hasValidChecksum(token) ? token.slice(0, -TOKEN_CHECKSUM_CHARS) : undefined;
    parts = {
      token,
      head,
      tail,
      stem,
      anyCase: isSingleCase(token)
        ? {
            lower: token.toLowerCase(),
            head: anyCaseSearch(head),
            tail: anyCaseSearch(tail),
            stem: stem === undefined ? undefined : anyCaseSearch(stem),
          }
        : undefined,
    };
    if (partsCache.size >= MAX_CACHED_PARTS) partsCache.clear();
    partsCache.set(token, parts);
  }
  return parts;
}

/**
 * The parts of the tokens asked about lately, a few at a time. A call asks about several in turn
 * (the token it presents, its lower-cased form for the any-case searches, an upstream key), and a
 * cache of the last one alone missed at each turn: with the any-case searches' three RegExps built
 * per miss, a priced POST cost 15 % more CPU (sixteenth round, measured: 140 → 157–165 µs a call,
 * interleaved). Bounded, so tokens an agent makes up come and go.
 */
const partsCache = new Map<string, TokenParts>();
const MAX_CACHED_PARTS = 16;

/** Whether `token` has letters and all of them are of one case (as credential-scan.ts asks of a secret). */
function isSingleCase(token: string): boolean {
  const lower = token.toLowerCase();
  const upper = token.toUpperCase();
  return lower !== upper && (token === lower || token === upper);
}

/** `literal` found in any letter case (global: searched() sets where from). */
function anyCaseSearch(literal: string): RegExp {
  return new RegExp(literal.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&'), 'gi');
}

/** Whether `a` is `b` with at most one character changed, left out, added or swapped with the next. */
function withinOneEdit(a: string, b: string): boolean {
  const [long, short] = a.length >= b.length ? [a, b] : [b, a];
  if (long.length - short.length > 1) return false;
  let i = 0;
  while (i < short.length && long.charCodeAt(i) === short.charCodeAt(i)) i++;
  if (i === short.length) return true;
  if (long.length !== short.length) return long.slice(i + 1) === short.slice(i);
  if (long.slice(i + 1) === short.slice(i + 1)) return true;
  return long[i] === short[i + 1] && long[i + 1] === short[i] && long.slice(i + 2) === short.slice(i + 2);
}

/** Spans sorted, overlapping ones joined (touching ones stay two: the token twice is two fingerprints). */
function merged(spans: Array<[number, number]>): Array<[number, number]> {
  if (spans.length < 2) return spans;
  spans.sort((x, y) => x[0] - y[0]);
  const out: Array<[number, number]> = [spans[0]!];
  for (const span of spans.slice(1)) {
    const last = out[out.length - 1]!;
    if (span[0] < last[1]) last[1] = Math.max(last[1], span[1]);
    else out.push(span);
  }
  return out;
}

/** `text` with each span replaced by `by`. */
function replaced(text: string, spans: ReadonlyArray<readonly [number, number]>, by: string): string {
  let out = '';
  let at = 0;
  for (const [start, end] of spans) {
    out += text.slice(at, start) + by;
    at = end;
  }
  return out + text.slice(at);
}

/** Shorter credentials are no key (key_unknown), and would match ordinary text by chance. */
const MIN_PRESENTED_LENGTH = 16;
const TWILIO_SID = /^(?:AC|SK)[0-9a-f]{32}$/;
const BASE64 = /^[A-Za-z0-9+/=_-]+$/;

/**
 * What a Basic user name is: `credential` where it may carry the key (Stripe's `-u <key>:`, and
 * wherever the vendor is not known yet), `name` where the vendor reads only the password (Twilio).
 */
export type BasicUser = 'credential' | 'name';

/**
 * The credentials `Authorization` presents, whatever the scheme (`Bearer`, `Token`, none…): every
 * word after the scheme (the value itself when it is one word), or for Basic the password and, unless
 * `basicUser` is `name`, the user name it encodes, each at least 16 characters. For keeping a token an
 * agent brought (which may have any shape, so no pattern finds it) out of what is recorded and
 * forwarded before, or without, its key being known. A user name the vendor does not read is the
 * caller's free text, as a run id is: taken out by value, it would take that text out of the record
 * (ninth round: a Twilio user name equal to the run id hid the run); a key shaped one is still found
 * by the shape search (withoutTokenShapes).
 */
export function presentedCredentials(
  authorization: string | string[] | undefined,
  basicUser: BasicUser = 'credential',
): string[] {
  if (typeof authorization !== 'string') return [];
  const words = authorization.split(/[ \t]+/).filter((w) => w !== '');
  const [scheme, ...rest] = words;
  if (scheme === undefined) return [];
  const basic = rest.length === 1 && scheme.toLowerCase() === 'basic' ? rest[0]! : undefined;
  if (basic === undefined || !BASE64.test(basic))
    return (rest.length === 0 ? [scheme] : rest).filter((c) => c.length >= MIN_PRESENTED_LENGTH);
  const decoded = Buffer.from(basic, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const password = decoded.slice(colon + 1);
  const parts =
    colon === -1 ? [decoded] : basicUser === 'name' ? [password] : [decoded.slice(0, colon), password];
  // A Twilio Account or API key SID as the user name is an identifier the path names all the time.
  return parts.filter((p) => p.length >= MIN_PRESENTED_LENGTH && !TWILIO_SID.test(p));
}

/** `text` with every credential `Authorization` presents replaced by its fingerprint (see withoutToken). */
export function withoutPresented(
  text: string,
  authorization: string | string[] | undefined,
  basicUser: BasicUser = 'credential',
): string {
  let clean = text;
  for (const token of presentedCredentials(authorization, basicUser)) clean = withoutToken(clean, token);
  return clean;
}

/**
 * What finds a table's tokens in text: the token prefixes (the vendors' defaults and every one a
 * served key uses), and the tokens users brought that it serves, if any (brought.ts).
 */
export interface TokenPrefixes {
  readonly pattern: RegExp;
  /** The same prefixes for the near-miss search by shape (near-miss.ts). */
  readonly near: readonly NearPrefix[];
  readonly brought?: BroughtTokens;
  /**
   * The table's keys by digest and the prefixes they use, when there is a table: another key's body
   * is looked up in it (near-miss.ts servedBody). Absent for a client without one (`run exec`).
   */
  readonly served?: ServedTokens;
}

const DEFAULTS = VENDORS.map(defaultTokenPrefix);
const byPrefixes = new WeakMap<Snapshot, TokenPrefixes>();
const defaultsOnly = prefixesFrom(DEFAULTS);
/** What is built from a table's kinds, shared by every table with the same kinds (token-kinds.ts). */
const byKinds = new WeakMap<
  PresentKinds,
  { shapes: TokenPrefixes; servedPrefixes: readonly NearPrefix[]; brought?: BroughtTails }
>();

/**
 * What finds a snapshot's tokens (built once per snapshot); the default prefixes without one. From
 * the kinds recorded where the table was built: a table from change sets (a proxy's, `serve`'s
 * serving thread) costs a call nothing when its kinds are those of the table before, and never a
 * walk of its keys.
 */
export function tokenPrefixesOf(snapshot: Snapshot | undefined): TokenPrefixes {
  if (!snapshot) return defaultsOnly;
  let prefixes = byPrefixes.get(snapshot);
  if (!prefixes) {
    const { present } = tokenKindsOf(snapshot);
    let built = byKinds.get(present);
    if (!built) {
      const custom = new Set([...DEFAULTS, ...present.prefixes]);
      const shapes = custom.size === DEFAULTS.length ? defaultsOnly : prefixesFrom([...custom]);
      const brought = broughtTailsOf(present.brought);
      // A body is looked up under the prefixes the table's keys use (each costs a digest), or under
      // every known one for a table whose keys do not say (fail closed).
      const used = new Set(present.prefixes);
      const servedPrefixes = used.size === 0 ? shapes.near : shapes.near.filter((p) => used.has(p.prefix));
      built = brought === undefined ? { shapes, servedPrefixes } : { shapes, servedPrefixes, brought };
      byKinds.set(present, built);
    }
    const served: ServedTokens = { digests: snapshot.keys, prefixes: built.servedPrefixes };
    // A table without brought tokens keeps an object without the field: its calls pay nothing more.
    prefixes =
      built.brought === undefined
        ? { ...built.shapes, served }
        : { ...built.shapes, served, brought: { ...built.brought, served: snapshot.keys } };
    byPrefixes.set(snapshot, prefixes);
  }
  return prefixes;
}

/**
 * What finds the vendors' default prefixes and `extra` ones, without a table: for a client that knows
 * the prefixes it cares about (`run exec`: its own credential's).
 */
export function tokenPrefixesFor(extra: readonly string[]): TokenPrefixes {
  const custom = new Set([...DEFAULTS, ...extra.filter((p) => p !== '')]);
  return custom.size === DEFAULTS.length ? defaultsOnly : prefixesFrom([...custom]);
}

function prefixesFrom(prefixes: readonly string[]): TokenPrefixes {
  // Longest first, so a prefix that holds another is tried whole.
  const sorted = [...prefixes].sort((a, b) => b.length - a.length);
  return {
    pattern: new RegExp(sorted.map((p) => p.replace(/[^A-Za-z0-9_]/g, '\\$&')).join('|'), 'g'),
    near: sorted.map(nearPrefix),
  };
}

const AFTER_PREFIX = TOKEN_BODY_CHARS + TOKEN_CHECKSUM_CHARS;
const RUN_KEY_TAIL = /^[A-Za-z0-9_-]{16,512}/;

/**
 * Every token the table serves that a user brought, then every Keybrake key shape, in `text`, each
 * replaced by its fingerprint. Brought tokens first: one could hold a Keybrake shape, whose
 * replacement would leave the rest of the brought token behind.
 */
function redact(text: string, prefixes: TokenPrefixes): { text: string; held: boolean } {
  const brought = prefixes.brought === undefined ? undefined : withoutBrought(text, prefixes.brought);
  const exact = redactShapes(brought ?? text, prefixes);
  const shapes = withoutNearShapes(exact, prefixes);
  return brought === undefined ? shapes : { text: shapes.text, held: true };
}

/**
 * What redactShapes left, with every near miss of a vault token's shape that it does not read
 * (fourteenth round: a prefix in another case or mistyped, a body broken or cut short; near-miss.ts)
 * replaced by its prefix and `…`.
 */
function withoutNearShapes(
  found: { text: string; held: boolean },
  prefixes: TokenPrefixes,
): { text: string; held: boolean } {
  const spans = nearShapeSpans(found.text, prefixes.near, prefixes.served);
  if (spans.length === 0) return found;
  let out = '';
  let at = 0;
  for (const [start, end, shown] of spans) {
    out += found.text.slice(at, start) + shown;
    at = end;
  }
  return { text: out + found.text.slice(at), held: true };
}

/** `text` with every brought token the table serves replaced by its fingerprint; undefined if it holds none. */
function withoutBrought(text: string, brought: BroughtTokens): string | undefined {
  const spans = broughtSpans(text, brought);
  if (spans.length === 0) return undefined;
  let out = '';
  let at = 0;
  for (const [start, end] of spans) {
    out += text.slice(at, start) + fingerprint(text.slice(start, end));
    at = end;
  }
  return out + text.slice(at);
}

/**
 * Every vault token (a known prefix, then a body whose checksum holds) and run key (a known prefix,
 * `r1_`, then its payload) in `text`, each replaced by its fingerprint; and every near miss of a
 * vault token: a known prefix followed by at least a body's length of letters and digits, whatever
 * follows (thirteenth round: the token with its checksum left off, or one character of it mistyped,
 * was written in plain, and the checksum, crc32 of prefix and body, gives the token back offline).
 * A near miss is replaced whole (every letter and digit after the prefix) by the prefix and `…`,
 * with no tail: its last characters may be the body's. One pass over the text and at most one
 * checksum per position a prefix is found at: the work stays linear in the text (times the checked
 * length of a key) whatever a caller sends.
 */
function redactShapes(text: string, prefixes: TokenPrefixes): { text: string; held: boolean } {
  const { pattern } = prefixes;
  pattern.lastIndex = 0;
  let out = '';
  let at = 0;
  for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
    const start = m.index;
    const after = start + m[0].length;
    let end = -1;
    let shown: string | undefined;
    if (text.startsWith(RUN_TOKEN_MARKER, after)) {
      const tail = RUN_KEY_TAIL.exec(text.slice(after + RUN_TOKEN_MARKER.length, after + 600));
      if (tail) end = after + RUN_TOKEN_MARKER.length + tail[0].length;
    }
    if (end < 0 && isVaultToken(text, start, after)) end = after + AFTER_PREFIX;
    if (end < 0 && alphanumericRun(text, after, TOKEN_BODY_CHARS) >= TOKEN_BODY_CHARS) {
      // A near miss, unless a whole token starts inside it (`kb_` before a token whose prefix is
      // `stripe_`): that one is found next and shows its fingerprint, and what stands before it is a
      // near miss only if it is one by itself.
      const runEnd = after + alphanumericRun(text, after, Number.POSITIVE_INFINITY);
      const inner = tokenStartInside(text, pattern, start + 1, runEnd);
      const nearEnd = inner < 0 ? runEnd : inner;
      if (nearEnd - after >= TOKEN_BODY_CHARS) {
        end = nearEnd;
        shown = `${m[0].slice(0, m[0].lastIndexOf('_') + 1)}…`;
      } else {
        pattern.lastIndex = inner;
        continue;
      }
    }
    // Not a key: another may start inside it (`kb_stripe_<x>` holds `stripe_<x>` when a served key
    // uses the prefix `stripe_`), so the search resumes one character on, not after the match.
    if (end < 0) {
      pattern.lastIndex = start + 1;
      continue;
    }
    out += text.slice(at, start) + (shown ?? fingerprint(text.slice(start, end)));
    at = end;
    pattern.lastIndex = end;
  }
  return at === 0 ? { text, held: false } : { text: out + text.slice(at), held: true };
}

/** Whether a vault token whose checksum holds stands at `start` (its prefix ends at `after`). */
function isVaultToken(text: string, start: number, after: number): boolean {
  return (
    alphanumericRun(text, after, AFTER_PREFIX) >= AFTER_PREFIX &&
    hasValidChecksum(text.slice(start, after + AFTER_PREFIX))
  );
}

/**
 * Where the first vault token whose checksum holds starts in text[from, to), or -1. The caller goes
 * on from there or after `to`, so no part of the text is searched twice.
 */
function tokenStartInside(text: string, pattern: RegExp, from: number, to: number): number {
  pattern.lastIndex = from;
  for (let m = pattern.exec(text); m !== null && m.index < to; m = pattern.exec(text)) {
    if (isVaultToken(text, m.index, m.index + m[0].length)) return m.index;
    pattern.lastIndex = m.index + 1;
  }
  return -1;
}

/** How many letters and digits (a token body is base62) stand in `text` from `from` on, up to `limit`. */
function alphanumericRun(text: string, from: number, limit: number): number {
  let i = from;
  const stop = Math.min(text.length, from + limit);
  while (i < stop && ALPHANUMERIC[text.charCodeAt(i)] === 1) i++;
  return i - from;
}

const ALPHANUMERIC = new Uint8Array(128);
for (const c of '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz')
  ALPHANUMERIC[c.charCodeAt(0)] = 1;

/** `%XX` escapes decoded byte by byte (Keybrake's keys are ASCII), three times over at most; never throws. */
function unescaped(text: string): string {
  let decoded = text;
  for (let round = 0; round < 3 && decoded.includes('%'); round++) {
    const next = decoded.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) =>
      String.fromCharCode(Number.parseInt(hex, 16)),
    );
    if (next === decoded) break;
    decoded = next;
  }
  return decoded;
}

/**
 * `text` redacted, or the last of its other forms (otherForms) that holds a key, redacted: the most
 * decoded one, which holds whatever the text and the forms before it hold.
 */
function scan(text: string, prefixes: TokenPrefixes): { text: string; held: boolean } {
  let found = redact(text, prefixes);
  for (const form of otherForms(text)) {
    const clean = redact(form, prefixes);
    if (clean.held) found = clean;
  }
  return found;
}

/**
 * `text` (a request target, a run id) with every Keybrake key in it, and every token a user brought
 * that the table serves, replaced by its fingerprint, percent-encoded ones too (the text is then
 * given decoded). For what is recorded about a call whatever key it names: the agent may paste any
 * key it holds, not only the one it presents, and no key is known yet for a call refused before
 * authentication.
 */
export function withoutTokenShapes(text: string, prefixes: TokenPrefixes): string {
  return scan(text, prefixes).text;
}

/** Whether `text` holds a Keybrake key or a served brought token (see withoutTokenShapes). */
export function holdsTokenShape(text: string, prefixes: TokenPrefixes): boolean {
  return scan(text, prefixes).held;
}

/**
 * Whether `text` carries `token` in any letter case, as it is or percent-encoded (see carriesToken).
 * For text whose case is not kept on the way to the vendor: a header name, which node and undici
 * lower-case (eleventh round: the presented token sent as a header name reached the vendor as
 * `kb_stripe_0xwv…`, and its checksum gives the case back offline).
 */
export function carriesTokenAnyCase(text: string, token: string): boolean {
  // Near misses too (tokenSpans): the case and a character both lost still leave few candidates.
  const lower = token.toLowerCase();
  if (tokenSpans(text.toLowerCase(), lower).length > 0) return true;
  return otherForms(text).some((form) => tokenSpans(form.toLowerCase(), lower).length > 0);
}

/** Each table's prefixes found in any letter case, built once per pattern (shared by tables of the same kinds). */
const anyCasePatterns = new WeakMap<RegExp, RegExp>();
/** A body's length, as redactShapes asks: a checksum left off is a near miss in any case too. */
const BODY_ANY_CASE = new RegExp(`^[A-Za-z0-9]{${TOKEN_BODY_CHARS}}`);

/**
 * Whether `text` holds a Keybrake key in any letter case, percent-encoded ones too: a known prefix
 * (any case) followed by a run key's `r1_` and payload, or by at least as many letters and digits as
 * a vault token's body (its checksum left off is a near miss, as holdsTokenShape finds it). The
 * checksum is not asked: the case it was computed over is what was lost, and it can be solved for
 * offline (a lower-cased token leaves 4 candidates), so the shape alone decides. Wider than holdsTokenShape by design, for text no honest caller fills with such a
 * shape (a header name). Served brought tokens are not found here (only their digest is known, which
 * needs the exact case): holdsTokenShape finds them as sent.
 */
export function holdsTokenShapeAnyCase(text: string, prefixes: TokenPrefixes): boolean {
  let pattern = anyCasePatterns.get(prefixes.pattern);
  if (pattern === undefined) {
    pattern = new RegExp(prefixes.pattern.source, 'gi');
    anyCasePatterns.set(prefixes.pattern, pattern);
  }
  if (anyCaseShape(text, pattern)) return true;
  return otherForms(text).some((form) => anyCaseShape(form, pattern));
}

function anyCaseShape(text: string, pattern: RegExp): boolean {
  pattern.lastIndex = 0;
  for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
    const after = text.slice(m.index + m[0].length, m.index + m[0].length + 600);
    if (after.slice(0, RUN_TOKEN_MARKER.length).toLowerCase() === RUN_TOKEN_MARKER) {
      if (RUN_KEY_TAIL.test(after.slice(RUN_TOKEN_MARKER.length))) return true;
    }
    if (BODY_ANY_CASE.test(after)) return true;
    // A prefix inside another's match (see redactShapes): the search resumes one character on.
    pattern.lastIndex = m.index + 1;
  }
  return false;
}
