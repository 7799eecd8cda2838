/**
 * Policy patterns, compiled once per snapshot (DESIGN.md §3) so the authorize stage only runs a
 * RegExp. Endpoint globs are segment-aware; value globs (recipients, senders) are plain wildcards.
 */

/** Raised for a pattern that cannot be compiled; the message names the problem, never a secret. */
export class PatternError extends Error {
  override readonly name = 'PatternError';
}

/** A pattern compiled once per snapshot. `source` is kept so the snapshot can be serialised. */
export interface CompiledPattern {
  readonly source: string;
  /** Whether `value` matches, in time linear in the value times the pattern's parts: never backtracks. */
  test(value: string): boolean;
  /**
   * test for a list (matchAll): the value comes lowercased once for every entry (each entry folding it
   * again cost a copy of the value per entry), and what `*` scans is taken from the list's budget;
   * false once the budget is spent.
   */
  testWithin(value: FoldedValue, budget: ScanBudget): boolean;
}

/** A value and its lowercase form, made once per value a list judges. */
export interface FoldedValue {
  readonly value: string;
  readonly lower: string;
}

/** The characters a list's `*` parts may still scan for one call (LIST_SCAN_BUDGET). */
export interface ScanBudget {
  left: number;
}

/** `POST /v1/payment_intents/*`: method (or `*`) plus a segment-aware path glob. */
export interface EndpointPattern {
  readonly source: string;
  readonly method: string;
  readonly path: PathGlob;
  /**
   * Names one operation: no `*` in the method or the path. `{name}` segments (an operation template,
   * as `keybrake catalog` prints it) still count as exact. Only an exact entry admits destructive,
   * unpriced and unknown operations (ADR 0007).
   */
  readonly exact: boolean;
  /**
   * For an entry written as an operation template (`{name}` placeholders, no `*`): its path with every
   * placeholder written `{}`. Such an entry names that one operation, and admits no other the path
   * also fits (`GET /emails/{email_id}` is not `GET /emails/receiving`; the authorize stage compares
   * it with the catalog template of the operation the call is).
   */
  readonly template?: string;
}

export const ENDPOINT_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', '*'] as const;

// Characters RFC 3986 allows in a path segment, plus `*` for the glob itself.
const SEGMENT_CHARS = /^[A-Za-z0-9._~!$&'()+,;=:@%*-]+$/;
/** `{name}` in an operation template: a placeholder for an id within one segment. */
const PLACEHOLDER = /\{[A-Za-z_][A-Za-z0-9_]*\}/g;

/**
 * `"POST /v1/payment_intents/*\/confirm"` → method + anchored path RegExp. In the path, `*` matches
 * within one segment (a whole-segment `*` needs at least one character), `**` as a whole segment
 * matches zero or more segments, and a `{name}` placeholder matches a non-empty part of one segment, like
 * `*`, but keeps the entry exact. Method `*` matches any method.
 */
export function compileEndpointPattern(source: string): EndpointPattern {
  const m = /^([A-Z]+|\*) (\/\S*)$/.exec(source);
  if (!m)
    throw new PatternError(
      'expected "METHOD /path", e.g. "POST /v1/refunds" (one space, path starts with /)',
    );
  const method = m[1]!;
  const path = m[2]!;
  if (!(ENDPOINT_METHODS as readonly string[]).includes(method)) {
    throw new PatternError(`method must be one of ${ENDPOINT_METHODS.join(', ')}`);
  }
  const exact = method !== '*' && !path.includes('*');
  const template = path.includes('*') ? path : templateKey(path);
  return {
    source,
    method,
    path: compilePathGlob(path),
    exact,
    ...(template !== path ? { template } : {}),
  };
}

/**
 * Characters of one allow-list entry: an id, a pattern, an address, a host or `METHOD /path`. The
 * schema (src/api) refuses a longer one, so a refusal's suggested entry must not be longer either.
 */
export const MAX_ENTRY_LENGTH = 256;

/**
 * The endpoint entry `source` compiled, or undefined when a policy could not hold it (too long, or
 * outside the grammar of compileEndpointPattern): what a refusal may suggest. A seventh-round probe
 * was told to add "OPTIONS /v1/charges/ch_1", which `policy-check` then refused.
 */
export function writableEndpointEntry(source: string): EndpointPattern | undefined {
  if (source.length > MAX_ENTRY_LENGTH) return undefined;
  try {
    return compileEndpointPattern(source);
  } catch (err) {
    if (err instanceof PatternError) return undefined;
    throw err;
  }
}

/** A path template with its placeholders' names dropped: `/v1/customers/{}`; how templates compare. */
export function templateKey(path: string): string {
  return path.replace(/\{[^{}/]+\}/g, '{}');
}

/** One segment of a path glob: literal pieces with a wildcard of at least `mins[i]` characters between piece i and i+1. */
interface SegmentGlob {
  readonly pieces: readonly string[];
  readonly mins: readonly number[];
}

/** `**`, or one segment's glob. */
type PathElement = '**' | SegmentGlob;

/**
 * A path glob, matched segment by segment without backtracking (each piece, and each run of segments
 * between `**`, found at its first place after the one before). A RegExp of `[^/]*` per `*`
 * backtracked on an agent-chosen path: a probe blocked a proxy 7 s with `/v1/customers/*-*-*` and
 * 3 000 hyphens.
 */
export interface PathGlob {
  /** Whether the path matches: a string is split first (requestPath); a policy's list shares one split. */
  test(path: string | RequestPath): boolean;
}

/**
 * Segments a path may have and still match an entry. No vendor operation has more than 10 (Twilio's
 * deepest), and what a `**` entry may cost is quadratic in them: a probe's 5 000-segment path against
 * 40 000 entries held a shared proxy 5 s per call. A longer path matches no entry (and no operation
 * Keybrake knows, so only `endpoint_not_allowed` or `price_unknown` could have answered it anyway);
 * an entry of more segments, which could match nothing, is refused.
 */
export const MAX_PATH_SEGMENTS = 32;

/**
 * A request path split into segments, once per call: the authorize stage tries it against every
 * entry of the policy's list (up to 1 000), which each split it again before.
 */
export interface RequestPath {
  /** The segments, without the empty one a trailing slash leaves; undefined when no entry can match. */
  readonly segments: readonly string[] | undefined;
  /** The path ends in `/` after at least one segment: only an entry ending in `**` covers that. */
  readonly trailingSlash: boolean;
}

/** Splits a canonical request path (`/v1/customers/cus_1`) for the endpoint entries (see RequestPath). */
export function requestPath(p: string): RequestPath {
  if (!p.startsWith('/')) return NO_MATCH;
  if (p === '/') return { segments: [], trailingSlash: false };
  // Counted before splitting: the path is the caller's, up to the header limit (16 KiB).
  let slashes = 0;
  for (let i = p.indexOf('/'); i !== -1; i = p.indexOf('/', i + 1))
    if (++slashes > MAX_PATH_SEGMENTS + 1) return NO_MATCH;
  const parts = p.slice(1).split('/');
  const trailingSlash = parts.length > 1 && parts[parts.length - 1] === '';
  if (trailingSlash) parts.pop();
  // No element matches an empty segment.
  if (parts.length > MAX_PATH_SEGMENTS || parts.includes('')) return NO_MATCH;
  return { segments: parts, trailingSlash };
}

const NO_MATCH: RequestPath = { segments: undefined, trailingSlash: false };

function compilePathGlob(path: string): PathGlob {
  if (path === '/') return new SegmentedPathGlob(path, [[]], false);
  const segments = path.slice(1).split('/');
  if (segments.length > MAX_PATH_SEGMENTS)
    throw new PatternError(
      `path has more than ${MAX_PATH_SEGMENTS} segments, which no request path may have`,
    );
  const elements: PathElement[] = segments.map((seg, i) => {
    if (seg === '') throw new PatternError(`path has an empty segment (position ${i + 1})`);
    if (seg === '.' || seg === '..') throw new PatternError('path must not contain "." or ".." segments');
    // `{name}` placeholders (alone or inside a segment, `{Sid}.json`) each match a non-empty run.
    const literal = seg.replace(PLACEHOLDER, '');
    if (literal.includes('{') || literal.includes('}'))
      throw new PatternError(`path segment ${i + 1} has a malformed {placeholder}`);
    if (literal !== '' && !SEGMENT_CHARS.test(literal))
      throw new PatternError(`path segment ${i + 1} contains a character not allowed in a URL path`);
    if (literal !== seg) {
      if (seg.includes('*')) throw new PatternError('a segment may hold {placeholders} or *, not both');
      const pieces = seg.split(PLACEHOLDER);
      return { pieces, mins: pieces.slice(1).map(() => 1) };
    }
    if (seg === '**') return '**';
    if (seg.includes('**')) throw new PatternError('"**" must be a whole path segment ("/v1/**")');
    // A whole-segment `*` needs at least one character; inside a segment `*` may match none.
    if (seg === '*') return { pieces: ['', ''], mins: [1] };
    const pieces = seg.split('*');
    return { pieces, mins: pieces.slice(1).map(() => 0) };
  });
  // `/v1/**` also covers `/v1/` so a trailing slash cannot slip past a deny-by-omission.
  const trailingSlash = segments[segments.length - 1] === '**';
  const blocks: SegmentGlob[][] = [[]];
  for (const e of elements) {
    if (e === '**') blocks.push([]);
    else blocks[blocks.length - 1]!.push(e);
  }
  return new SegmentedPathGlob(path, blocks, trailingSlash);
}

/** A compiled path glob: data and a method on the prototype (see ValuePattern). */
class SegmentedPathGlob implements PathGlob {
  readonly source: string;
  readonly #blocks: readonly (readonly SegmentGlob[])[];
  readonly #trailingSlash: boolean;

  constructor(source: string, blocks: readonly (readonly SegmentGlob[])[], trailingSlash: boolean) {
    this.source = source;
    this.#blocks = blocks;
    this.#trailingSlash = trailingSlash;
  }

  test(path: string | RequestPath): boolean {
    const { segments, trailingSlash } = typeof path === 'string' ? requestPath(path) : path;
    if (segments === undefined || (trailingSlash && !this.#trailingSlash)) return false;
    return blocksMatch(this.#blocks, segments);
  }
}

/** `blocks` (runs of segment globs between `**`) against the path's segments. */
function blocksMatch(blocks: readonly (readonly SegmentGlob[])[], parts: readonly string[]): boolean {
  const first = blocks[0]!;
  if (blocks.length === 1) return parts.length === first.length && runMatches(first, parts, 0);
  const last = blocks[blocks.length - 1]!;
  const end = parts.length - last.length;
  if (end < first.length || !runMatches(first, parts, 0) || !runMatches(last, parts, end)) return false;
  let at = first.length;
  for (let b = 1; b < blocks.length - 1; b++) {
    const run = blocks[b]!;
    let found = -1;
    for (let i = at; i + run.length <= end; i++) {
      if (runMatches(run, parts, i)) {
        found = i;
        break;
      }
    }
    if (found === -1) return false;
    at = found + run.length;
  }
  return true;
}

function runMatches(run: readonly SegmentGlob[], parts: readonly string[], from: number): boolean {
  for (let i = 0; i < run.length; i++) if (!segmentMatches(run[i]!, parts[from + i]!)) return false;
  return true;
}

/** One segment against its glob: the first piece a prefix, the last a suffix, the rest in order. */
function segmentMatches(glob: SegmentGlob, s: string): boolean {
  const { pieces, mins } = glob;
  const first = pieces[0]!;
  if (mins.length === 0) return s === first;
  if (!s.startsWith(first)) return false;
  let at = first.length;
  for (let i = 1; i < pieces.length - 1; i++) {
    at += mins[i - 1]!;
    const piece = pieces[i]!;
    const found = piece === '' ? (at <= s.length ? at : -1) : s.indexOf(piece, at);
    if (found === -1) return false;
    at = found + piece.length;
  }
  const last = pieces[pieces.length - 1]!;
  return s.length - last.length >= at + mins[mins.length - 1]! && s.endsWith(last);
}

/** Whether an endpoint pattern admits this method and canonical path (split once for a list: requestPath). */
export function matchesEndpoint(
  pattern: EndpointPattern,
  method: string,
  path: string | RequestPath,
): boolean {
  return (pattern.method === '*' || pattern.method === method.toUpperCase()) && pattern.path.test(path);
}

// A bare domain: labels separated by dots, optionally a leading `*.`; no `@`.
const BARE_DOMAIN = /^(?:\*\.)?[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$/;

/**
 * `"+1415555*"`, `"*@example.com"`, `"billing@example.com"`: `*` matches any run of characters (also
 * none), everything else is literal. A bare domain (`example.com`, `*.example.com`) matches the
 * domain itself and every address at it (`anyone@example.com`), so a recipients or senders list
 * can name a whole domain.
 *
 * Not a RegExp: each `*` as `.*` backtracks, and an agent chooses the value. A probe froze a proxy
 * every tenant shared for 13 s with one 3 000-character address against `*-*-*@example.com`
 * (quadratic and worse in the stars). Literal parts found left to right, each at its first place
 * after the one before, is the whole of `*`-only matching, and never looks back.
 */
export function compileValuePattern(source: string, opts: { caseInsensitive: boolean }): CompiledPattern {
  if (source.length === 0) throw new PatternError('pattern must not be empty');
  if (/[\s\p{Cc}]/u.test(source))
    throw new PatternError('pattern must not contain whitespace or control characters');
  return new ValuePattern(source, opts.caseInsensitive, BARE_DOMAIN.test(source));
}

/**
 * A compiled value pattern: data and a method on the prototype, so two compiled from the same source
 * are equal (a table read back from the wire is compared with the one sent).
 */
class ValuePattern implements CompiledPattern {
  readonly source: string;
  readonly #parts: readonly string[];
  readonly #caseInsensitive: boolean;
  readonly #domain: boolean;

  constructor(source: string, caseInsensitive: boolean, domain: boolean) {
    this.source = source;
    this.#caseInsensitive = caseInsensitive;
    this.#parts = (caseInsensitive ? source.toLowerCase() : source).split('*');
    this.#domain = domain;
  }

  test(value: string): boolean {
    return this.testWithin(foldedValue(value), { left: Number.POSITIVE_INFINITY });
  }

  testWithin({ value, lower }: FoldedValue, budget: ScanBudget): boolean {
    const v = this.#caseInsensitive ? lower : value;
    if (wildcardMatch(this.#parts, v, budget)) return true;
    // A bare domain also matches any address at it: what follows the first `@`.
    const at = this.#domain ? v.indexOf('@') : -1;
    return at !== -1 && wildcardMatch(this.#parts, v.slice(at + 1), budget);
  }
}

/**
 * `parts` (a pattern split on `*`) against `value`: the first a prefix, the last a suffix, the rest in
 * order. Only the middle parts scan the value; what lies between prefix and suffix is taken from the
 * budget before they do, and a spent budget matches nothing.
 */
function wildcardMatch(parts: readonly string[], value: string, budget: ScanBudget): boolean {
  const first = parts[0]!;
  if (parts.length === 1) return value === first;
  const last = parts[parts.length - 1]!;
  if (value.length < first.length + last.length || !value.startsWith(first) || !value.endsWith(last)) {
    return false;
  }
  let at = first.length;
  const end = value.length - last.length;
  if (parts.length > 2) {
    budget.left -= end - at;
    if (budget.left < 0) return false;
  }
  for (let i = 1; i < parts.length - 1; i++) {
    const part = parts[i]!;
    if (part === '') continue;
    const found = value.indexOf(part, at);
    if (found === -1 || found + part.length > end) return false;
    at = found + part.length;
  }
  return true;
}

/**
 * Characters the `*` parts of one list may scan for the values of one call: 10 000 entries (the list
 * bound) each scanning a 400-character value whole, about 35 ms of a loaded CPU. A list judges each
 * value against every entry, and an entry with a literal between stars (`acct_*a0*b*`) scans every
 * value that fits its prefix and suffix: 10 000 of them against 400 such values of one 256 KiB body
 * held the event loop every tenant shares 18 s. Past the budget the values are not judged (matchAll).
 */
export const LIST_SCAN_BUDGET = 4 * 1024 * 1024;

/** What a list made of a call's values: each matched an entry, one did not, or the budget ran out first. */
export type ListVerdict =
  | { readonly kind: 'matched' }
  | { readonly kind: 'unmatched'; readonly value: string }
  | { readonly kind: 'over-budget' };

/** Judges `values` in order against `patterns`, each lowercased once, within LIST_SCAN_BUDGET. */
export function matchAll(
  patterns: readonly CompiledPattern[],
  values: Iterable<string>,
  budget: ScanBudget = { left: LIST_SCAN_BUDGET },
): ListVerdict {
  for (const value of values) {
    const folded = foldedValue(value);
    const matched = patterns.some((p) => p.testWithin(folded, budget));
    if (budget.left < 0) return { kind: 'over-budget' };
    if (!matched) return { kind: 'unmatched', value };
  }
  return { kind: 'matched' };
}

function foldedValue(value: string): FoldedValue {
  return { value, lower: value.toLowerCase() };
}
