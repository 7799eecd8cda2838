import { type Denial, isDenial } from '../decision/reasons.ts';
import { foldName } from './names.ts';
import type { CatalogClass, Params } from './types.ts';

/**
 * The shape every vendor's operations table (`<vendor>/operations.ts`, generated from the vendor's own
 * API definition by `npm run catalogs`) shares, and the matcher its classify step (price stage) runs
 * every request through. A row is one method + path template as the definition writes it
 * (`/v1/charges/{charge}/capture`), with the catalog id Keybrake reports, its class and, for money
 * operations, the pricing rule classify applies.
 *
 * Matching is an index compiled once per table: one segment trie per method, walked segment by
 * segment, so a lookup costs O(path segments) whatever the size of the table. At every segment a
 * literal beats a placeholder (`/v1/invoices/create_preview` beats `/v1/invoices/{invoice}`), a
 * placeholder with more literal text around it beats a bare one (`{Sid}.json` beats `{Sid}`), and a
 * final `/**` is the last resort; a branch that leads nowhere falls back to the next candidate.
 */

/** One row of a vendor's operations table: what classify matches a request against. */
export interface OperationRow<Rule extends string = string> {
  /** Catalog id, e.g. `stripe.refunds.create`; unique within a table. */
  readonly id: string;
  /** Upper-case HTTP method. */
  readonly method: string;
  /**
   * `{name}` matches one non-empty path segment, or the part of one between a literal prefix and
   * suffix (`{Sid}.json`); a final `/**` matches the path or anything below it.
   */
  readonly path: string;
  readonly class: CatalogClass;
  /** How classify prices a `money` row: each vendor's own rules. */
  readonly rule?: Rule;
  /**
   * Objects the call must hold an exclusive lease on (ADR 0007 §5): `{name}` is a path placeholder,
   * a bare name a body parameter naming the object.
   */
  readonly locks?: readonly string[];
}

/** A row a request matched, with the values of its `{name}` placeholders in path order. */
export interface OperationMatch<Row> {
  readonly row: Row;
  readonly segments: readonly string[];
}

/** Finds the row for a method and path; undefined when the table has none. */
export type OperationMatcher<Row> = (method: string, path: string) => OperationMatch<Row> | undefined;

/**
 * Reads a body field a row locks by (a bare name in its `locks`): the ids the field names, none when
 * the call omits it, or the vendor's denial when it holds something no id can be read from.
 */
export type LockFieldReader = (params: Params, field: string) => readonly string[] | Denial;

/**
 * The objects a call locks (ADR 0007 §5), from its row's `locks`: `{name}` is the id in that path
 * placeholder (`segments` holds the placeholder values in path order), a bare name a body field read
 * by the vendor's `readField`. Empty ids lock nothing and each id is locked once; a row without locks,
 * or a call naming none, is `{}`.
 */
export function resolveLocks(
  row: OperationRow<string>,
  segments: readonly string[],
  params: Params,
  readField: LockFieldReader,
): { locks?: readonly string[] } | Denial {
  if (!row.locks || row.locks.length === 0) return {};
  const placeholders = [...row.path.matchAll(/\{([^{}/]+)\}/g)].map((m) => m[1]);
  const locks: string[] = [];
  for (const lock of row.locks) {
    const name = /^\{(.+)\}$/.exec(lock)?.[1];
    if (name === undefined) {
      const ids = readField(params, lock);
      if (isDenial(ids)) return ids;
      locks.push(...ids);
      continue;
    }
    const at = placeholders.indexOf(name);
    // A lock naming no placeholder of its own path is a table bug: never let it pass unlocked.
    if (at === -1) throw new Error(`${row.id}: lock ${lock} is not in ${row.path}`);
    locks.push(segments[at]!);
  }
  const distinct = [...new Set(locks.filter((id) => id !== ''))];
  return distinct.length > 0 ? { locks: distinct } : {};
}

interface TrieNode<Row> {
  readonly literals: Map<string, TrieNode<Row>>;
  /** The literals' `literalForm`s: a segment of one of these forms is never a placeholder's value here. */
  readonly literalForms: Set<string>;
  /** Placeholder segments, the ones with the most literal text first. */
  readonly placeholders: Placeholder<Row>[];
  /** The row whose template ends here. */
  end?: Row;
  /** The row whose template is this path followed by `/**`. */
  below?: Row;
}

interface Placeholder<Row> {
  readonly prefix: string;
  readonly suffix: string;
  readonly node: TrieNode<Row>;
}

const PLACEHOLDER = /^([^{}]*)\{[^{}/]+\}([^{}]*)$/;
const ANY_BELOW = '/**';

/** Compiles a table (or the part of it for one host) into its matcher; throws on an ambiguous table. */
export function compileOperations<Row extends OperationRow<string>>(
  rows: readonly Row[],
): OperationMatcher<Row> {
  const byMethod = new Map<string, TrieNode<Row>>();
  for (const row of rows) {
    let root = byMethod.get(row.method);
    if (!root) {
      root = newNode();
      byMethod.set(row.method, root);
    }
    insert(root, row);
  }
  return (method, path) => {
    const root = byMethod.get(method);
    if (!root || path.charCodeAt(0) !== 47 /* '/' */) return undefined;
    // One trailing slash is read as the operation it trails: a vendor that routes `/v1/x/` like
    // `/v1/x` must not find a sensitive row unknown (the forwarded path keeps its slash).
    const trimmed = path.length > 1 && path.charCodeAt(path.length - 1) === 47 ? path.slice(0, -1) : path;
    const segments = trimmed.slice(1).split('/');
    const captured: string[] = [];
    const row = find(root, segments, 0, captured);
    return row ? { row, segments: captured } : undefined;
  };
}

function newNode<Row>(): TrieNode<Row> {
  return { literals: new Map(), literalForms: new Set(), placeholders: [] };
}

/** What a lenient reader may drop from the end of a segment: blanks, dots, control and format characters. */
const TRAILING = /[\s.\p{Cc}\p{Cf}]+$/u;
const LEADING = /^[\s\p{Cc}\p{Cf}]+/u;
const PLAIN_SEGMENT = /^[A-Za-z0-9_-]*$/;

/**
 * A path segment as a lenient router might read it: percent-decoded, cut at a `;` (a matrix
 * parameter), without trailing dots and blanks or leading blanks, compatibility-folded (NFKC). Letter
 * case is the caller's to fold (literalForm folds names, Stripe's v2 check lower-cases).
 */
export function lenientSegment(segment: string): string {
  // Letters, digits, `_` and `-` only (every id and literal an SDK sends): nothing to decode, cut,
  // trim or fold, so the segment is its own reading. Runs for every segment of every call.
  if (PLAIN_SEGMENT.test(segment)) return segment;
  let text = segment;
  try {
    text = decodeURIComponent(segment);
  } catch {
    // The route stage refuses a malformed escape before any lookup; compared as written otherwise.
  }
  const semicolon = text.indexOf(';');
  if (semicolon !== -1) text = text.slice(0, semicolon);
  return text.replace(TRAILING, '').replace(LEADING, '').normalize('NFKC');
}

/**
 * A segment as a lenient router might read it, to compare with a literal: lenientSegment, case-folded.
 * `RECEIVING`, `receiving.`, `receiving;x`, `receiving%20` and `ｒｅｃｅｉｖｉｎｇ` are all `receiving`.
 */
function literalForm(segment: string): string {
  return foldName(lenientSegment(segment));
}

function insert<Row extends OperationRow<string>>(root: TrieNode<Row>, row: Row): void {
  const below = row.path.endsWith(ANY_BELOW);
  const template = below ? row.path.slice(0, -ANY_BELOW.length) : row.path;
  if (!template.startsWith('/')) throw new Error(`${row.id}: path ${row.path} does not start with /`);
  let node = root;
  for (const segment of template === '' ? [] : template.slice(1).split('/')) {
    node = child(node, segment, row);
  }
  const slot = below ? 'below' : 'end';
  const taken = node[slot];
  if (taken) throw new Error(`${row.method} ${row.path}: same route as ${taken.id} (${row.id})`);
  node[slot] = row;
}

function child<Row extends OperationRow<string>>(
  node: TrieNode<Row>,
  segment: string,
  row: Row,
): TrieNode<Row> {
  const m = PLACEHOLDER.exec(segment);
  if (!m) {
    if (segment.includes('{') || segment.includes('}'))
      throw new Error(`${row.id}: segment ${segment} has more than one placeholder`);
    let next = node.literals.get(segment);
    if (!next) {
      next = newNode();
      node.literals.set(segment, next);
      node.literalForms.add(literalForm(segment));
    }
    return next;
  }
  const [, prefix = '', suffix = ''] = m;
  // Placeholders of the same shape share a node whatever their names: `{Sid}` and `{ServiceSid}`.
  const same = node.placeholders.find((p) => p.prefix === prefix && p.suffix === suffix);
  if (same) return same.node;
  const created: Placeholder<Row> = { prefix, suffix, node: newNode() };
  node.placeholders.push(created);
  node.placeholders.sort((a, b) => b.prefix.length + b.suffix.length - (a.prefix.length + a.suffix.length));
  return created.node;
}

/** Depth-first: literal, then placeholders, then `/**`; `captured` holds the placeholder values so far. */
function find<Row>(
  node: TrieNode<Row>,
  segments: readonly string[],
  i: number,
  captured: string[],
): Row | undefined {
  if (i === segments.length) return node.end ?? node.below;
  const segment = segments[i]!;
  const literal = node.literals.get(segment);
  if (literal) {
    const row = find(literal, segments, i + 1, captured);
    if (row) return row;
  }
  // A segment that reads as a literal of this node to a lenient router (Express ignores case by
  // default) is not an id: `GET /emails/RECEIVING` was judged `GET /emails/{email_id}` and forwarded,
  // while the vendor might list inbound mail (twelfth round). Then no placeholder takes it.
  if (
    node.placeholders.length > 0 &&
    node.literalForms.size > 0 &&
    node.literalForms.has(literalForm(segment))
  ) {
    return node.below;
  }
  for (const p of node.placeholders) {
    const fixed = p.prefix.length + p.suffix.length;
    if (segment.length <= fixed || !segment.startsWith(p.prefix) || !segment.endsWith(p.suffix)) continue;
    captured.push(segment.slice(p.prefix.length, segment.length - p.suffix.length));
    const row = find(p.node, segments, i + 1, captured);
    if (row) return row;
    captured.pop();
  }
  return node.below;
}
