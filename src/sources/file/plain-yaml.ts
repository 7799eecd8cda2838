import { resolvePlain } from './kubectl-scalar.ts';

/**
 * A reader for the plain subset of YAML that manifests are written in: block mappings and
 * sequences, single-line flow collections, plain and quoted scalars on one line, comments and
 * `---` between documents, plain scalars resolved as kubectl resolves them (`kubectl-scalar.ts`).
 *
 * It is only ever an optimisation (ADR 0016): `readPlainYaml` returns undefined for any text that
 * steps outside the subset, and the caller then reads the text with the reference parser. So every
 * rule below answers "can this be read here exactly as the reference reading (`yaml`'s parser, then
 * `kubectl-json.ts`) would read it?", and when the answer is not obvious it is no: anchors, aliases,
 * tags, directives, block scalars, multi-line scalars and flows, escapes, explicit or non-string keys,
 * merge keys (`<<`), duplicate keys, `__proto__`, `.inf` and `.nan` (kubectl refuses them), tabs, CR
 * and other control characters, and every error. `parse-yaml.test.ts` holds the results equal to the
 * reference's.
 *
 * Why a reader of our own: parsing was most of `serve`'s start at 100 000 keys, with `yaml` (26 s)
 * and then with js-yaml (2.4 s). This subset needs no token stream and no node objects: it walks
 * lines, and allocates only the strings and objects it returns.
 */

/** Characters the subset never holds: tabs, CR, other controls, BOM, NEL and Unicode line breaks. */
const OUTSIDE_SUBSET = /[\0-\t\v-\x1f\x7f\x85\u2028\u2029\ufeff]/;

/** Thrown inside the reader when the text leaves the subset; never escapes `readPlainYaml`. */
const LEAVE = Symbol('leave the subset');

/** The documents of `text`, or undefined when `text` is not in the subset (read it with `yaml`). */
export function readPlainYaml(text: string): unknown[] | undefined {
  if (OUTSIDE_SUBSET.test(text)) return undefined;
  try {
    return new PlainReader(text.split('\n'), new OwnStrings()).documents();
  } catch (err) {
    // Nesting deeper than the stack: the reference parser says what it makes of that.
    if (err === LEAVE || isStackOverflow(err)) return undefined;
    throw err;
  }
}

const SPACE = 0x20;
const HASH = 0x23;
const DASH = 0x2d;
const COLON = 0x3a;
const DOUBLE_QUOTE = 0x22;
const SINGLE_QUOTE = 0x27;

/** May not start a plain key or a flow scalar (YAML's indicators); a block value may start `-x`. */
const INDICATOR = new Uint8Array(128);
for (const c of '-?:,[]{}#&*!|>\'"%@`') INDICATOR[c.charCodeAt(0)] = 1;
const isIndicator = (c: number): boolean => c < 128 && INDICATOR[c] === 1;

/** Keys are implicit keys, which YAML limits to 1024 characters. */
const MAX_KEY_LENGTH = 1000;

/**
 * The string values of one file: none of them a part of the file's text, and a value that repeats
 * held once.
 *
 * V8 makes a string cut out of a longer one (13 characters or more) a view of it, so a token or a
 * name read from a manifest kept the whole file's text alive as long as its document. `serve`'s
 * compile thread keeps what it read of every file (ADR 0018): at 100 000 keys it held all 39 MiB
 * of the manifests' text, and 100 000 copies each of the namespace, the kinds and every other value
 * the keys repeat (its retained heap 252 MiB, 194 with this).
 *
 * Repeats are found with a small table indexed by a value's length and its first, middle and last
 * characters, each slot holding the last value put there. A Map would hash every value whole, and
 * took a tenth more time to read the files. A value not found in its slot is held again: the table
 * only ever saves memory, it never changes a value.
 */
class OwnStrings {
  /** Plain keys (SeenSpans). */
  readonly keys = new SeenSpans();
  /** Plain scalars that are strings (SeenSpans). */
  readonly plains = new SeenSpans();
  private readonly slots: (string | undefined)[] = new Array<string | undefined>(SLOTS).fill(undefined);

  own(value: string): string {
    const slot = slotOf(value, 0, value.length);
    if (slot < 0) return value;
    const held = this.slots[slot];
    if (held === value) return held;
    // Shorter strings are copies already. Joining makes a new string; cutting the space off again
    // copies it whole, and the result is a view of that copy, not of the file.
    const own = value.length < SLICE_MIN ? value : ` ${value}`.slice(1);
    this.slots[slot] = own;
    return own;
  }
}

/**
 * Plain keys, and plain scalars that are strings, already read from this file, found by their text
 * in place: the keys and most values of a manifest repeat (`apiVersion`, `name`, `stripe`, the
 * namespace), and each was cut out of its line, resolved as a scalar (kubectl-scalar.ts) and, as a
 * key, looked up in V8's table of property names, once per occurrence (a sixth of the reader's time
 * at 100 000 keys). A text found here is the very text read before, so every check it passed it
 * passes again. One table per kind: a quoted `"true"` is a string, a plain `true` is not.
 */
class SeenSpans {
  private readonly slots: (string | undefined)[] = new Array<string | undefined>(SLOTS).fill(undefined);

  /** What `text` holds from `start` to `end`, when that text was kept before. */
  find(text: string, start: number, end: number): string | undefined {
    const slot = slotOf(text, start, end - start);
    if (slot < 0) return undefined;
    const held = this.slots[slot];
    return held !== undefined && held.length === end - start && text.startsWith(held, start)
      ? held
      : undefined;
  }

  keep(value: string): string {
    const slot = slotOf(value, 0, value.length);
    if (slot >= 0) this.slots[slot] = value;
    return value;
  }
}

/**
 * The table slot of the `n` characters of `text` from `start`, by their length and their first,
 * middle and last characters; -1 for none.
 */
function slotOf(text: string, start: number, n: number): number {
  if (n === 0) return -1;
  const h =
    Math.imul(n, 0x9e3779b1) ^
    Math.imul(text.charCodeAt(start), 0x85ebca6b) ^
    Math.imul(text.charCodeAt(start + (n >> 1)), 0xc2b2ae35) ^
    Math.imul(text.charCodeAt(start + n - 1), 0x27d4eb2f);
  return (h ^ (h >>> 15)) & (SLOTS - 1);
}

/** Slots of OwnStrings' table (a power of two). */
const SLOTS = 1024;
/** The shortest string V8 makes a view of a longer one (SlicedString::kMinLength) rather than a copy. */
const SLICE_MIN = 13;

class PlainReader {
  private readonly lines: string[];
  private readonly strings: OwnStrings;
  private line = 0;
  private end = 0;

  constructor(lines: string[], strings: OwnStrings) {
    this.lines = lines;
    this.strings = strings;
  }

  documents(): unknown[] {
    const docs: unknown[] = [];
    let start = 0;
    let afterMarker = false;
    const count = this.lines.length;
    for (let i = 0; i <= count; i++) {
      const text = i < count ? this.lines[i]! : '---';
      if (i < count && !isMarkerLike(text)) continue;
      if (text !== '---') throw LEAVE; // `...`, `--- x`, `%YAML`: the reference reads these
      const doc = this.document(start, i);
      // Comments before the first `---` make no document; an empty one after a `---` is null.
      if (doc !== NO_CONTENT) docs.push(doc);
      else if (afterMarker) docs.push(null);
      start = i + 1;
      afterMarker = i < count;
    }
    return docs;
  }

  private document(start: number, end: number): unknown {
    this.line = start;
    this.end = end;
    if (!this.toContent()) return NO_CONTENT;
    const doc = this.node(indentOf(this.lines[this.line]!));
    if (this.toContent()) throw LEAVE; // content after the root node: the reference says why
    return doc;
  }

  /** Moves to the next line with content; false at the end of the document. */
  private toContent(): boolean {
    while (this.line < this.end) {
      const text = this.lines[this.line]!;
      const at = indentOf(text);
      if (at < text.length && text.charCodeAt(at) !== HASH) return true;
      this.line++;
    }
    return false;
  }

  /** The block node whose text starts at column `col` of the current line. */
  private node(col: number): unknown {
    const text = this.lines[this.line]!;
    if (isItemStart(text, col)) return this.sequence(col);
    if (keySeparator(text, col) >= 0) return this.mapping(col);
    const value = inlineValue(text, col, this.strings);
    this.line++;
    return value;
  }

  /** Entries at column `col`; the first may start mid-line (after `- `). */
  private mapping(col: number): Record<string, unknown> {
    const map: Record<string, unknown> = {};
    for (;;) {
      const text = this.lines[this.line]!;
      const sep = keySeparator(text, col);
      if (sep < 0) throw LEAVE;
      const key = keyAt(text, col, sep, this.strings.keys);
      if (Object.hasOwn(map, key)) throw LEAVE; // the reference reports the duplicate
      const at = skipSpaces(text, sep + 1);
      let value: unknown;
      if (at === text.length || text.charCodeAt(at) === HASH) {
        this.line++;
        value = this.nestedValue(col, true);
      } else {
        value = inlineValue(text, at, this.strings);
        this.line++;
      }
      map[key] = value;
      if (!this.toContent()) return map;
      const next = indentOf(this.lines[this.line]!);
      if (next < col) return map;
      if (next > col) throw LEAVE;
    }
  }

  /** Items `- ` at column `col`. */
  private sequence(col: number): unknown[] {
    const items: unknown[] = [];
    for (;;) {
      const text = this.lines[this.line]!;
      const at = skipSpaces(text, col + 1);
      if (at === text.length || text.charCodeAt(at) === HASH) {
        this.line++;
        items.push(this.nestedValue(col, false));
      } else {
        items.push(this.node(at));
      }
      if (!this.toContent()) return items;
      const nextText = this.lines[this.line]!;
      const next = indentOf(nextText);
      if (next < col || (next === col && !isItemStart(nextText, col))) return items;
      if (next > col) throw LEAVE;
    }
  }

  /**
   * The value of a key or item whose line ended after `:` or `-`: a block node indented further,
   * a sequence at the key's own column (`key:` then `- x`), or null.
   */
  private nestedValue(col: number, sequenceMayAlign: boolean): unknown {
    if (!this.toContent()) return null;
    const text = this.lines[this.line]!;
    const next = indentOf(text);
    if (next > col) {
      const first = text.charCodeAt(next);
      const block =
        first === 0x5b || first === 0x7b || isItemStart(text, next) || keySeparator(text, next) >= 0;
      if (!block) throw LEAVE; // a scalar on a line of its own, which may go on over the next lines
      return this.node(next);
    }
    if (next === col && sequenceMayAlign && isItemStart(text, col)) return this.sequence(col);
    return null;
  }
}

const NO_CONTENT = Symbol('no content');

function isMarkerLike(text: string): boolean {
  const c = text.charCodeAt(0);
  return (c === DASH && text.startsWith('---')) || (c === 0x2e && text.startsWith('...')) || c === 0x25;
}

function indentOf(text: string): number {
  let i = 0;
  while (text.charCodeAt(i) === SPACE) i++;
  return i;
}

function skipSpaces(text: string, from: number): number {
  let i = from;
  while (text.charCodeAt(i) === SPACE) i++;
  return i;
}

function isItemStart(text: string, col: number): boolean {
  return text.charCodeAt(col) === DASH && (col + 1 === text.length || text.charCodeAt(col + 1) === SPACE);
}

/** Where the `:` of a block key starting at `col` is, or -1 when the line holds no key there. */
function keySeparator(text: string, col: number): number {
  const first = text.charCodeAt(col);
  if (first === 0x5b || first === 0x7b) return -1; // a flow node (a flow key leaves at its `:`)
  if (first === DOUBLE_QUOTE || first === SINGLE_QUOTE) {
    const close = quotedEnd(text, col);
    return close < text.length && text.charCodeAt(close) === COLON && isBreakAfter(text, close) ? close : -1;
  }
  for (let i = col; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === COLON && isBreakAfter(text, i)) return i;
    if (c === HASH && i > col && text.charCodeAt(i - 1) === SPACE) return -1;
  }
  return -1;
}

function isBreakAfter(text: string, i: number): boolean {
  return i + 1 === text.length || text.charCodeAt(i + 1) === SPACE;
}

/** The key from `col` to the separator at `sep`: a quoted string, or a plain one that stays a string. */
function keyAt(text: string, col: number, sep: number, seen: SeenSpans): string {
  if (sep - col > MAX_KEY_LENGTH) throw LEAVE;
  const first = text.charCodeAt(col);
  if (first === DOUBLE_QUOTE || first === SINGLE_QUOTE) return notProto(quoted(text, col, sep));
  return seen.find(text, col, sep) ?? seen.keep(notProto(plainKey(text.slice(col, sep))));
}

function notProto(key: string): string {
  if (key === '__proto__') throw LEAVE;
  return key;
}

function plainKey(raw: string): string {
  const first = raw.charCodeAt(0);
  if (isIndicator(first) || raw.charCodeAt(raw.length - 1) === SPACE) throw LEAVE;
  // null, yes, 1 …: not the string key it looks like; `<<` merges. The reference knows them all.
  if (raw === '<<' || resolvePlain(raw) !== raw) throw LEAVE;
  return raw;
}

/** A value that ends on its line: quoted, a flow collection or a plain scalar. */
function inlineValue(text: string, at: number, strings: OwnStrings): unknown {
  const first = text.charCodeAt(at);
  if (first === DOUBLE_QUOTE || first === SINGLE_QUOTE) {
    const end = quotedEnd(text, at);
    const value = quoted(text, at, end);
    expectLineEnd(text, end);
    return strings.own(value);
  }
  if (first === 0x5b || first === 0x7b) {
    const flow = new FlowReader(text, at, strings);
    const value = flow.node();
    expectLineEnd(text, flow.pos);
    return value;
  }
  // `-` may start a plain scalar when something other than a space follows (`-1`, `--stdio`).
  if (isIndicator(first) && !(first === DASH && at + 1 < text.length && text.charCodeAt(at + 1) !== SPACE))
    throw LEAVE;
  const comment = text.indexOf(' #', at);
  const end = lastNonSpace(text, at, comment < 0 ? text.length : comment);
  const seen = strings.plains.find(text, at, end);
  if (seen !== undefined) return seen;
  const raw = text.slice(at, end);
  if (raw.includes(': ') || raw.charCodeAt(raw.length - 1) === COLON) throw LEAVE;
  return ownPlain(raw, strings);
}

/**
 * Where the text from `start` to `end` ends without its trailing spaces. Only U+0020 ends a plain
 * scalar (and tabs, outside the subset): go-yaml v2 keeps a trailing no-break, ideographic or other
 * Unicode space, so `true<NBSP>` is the string "true\u00a0" to kubectl, not `true`; trimEnd would
 * cut them.
 */
function lastNonSpace(text: string, start: number, end: number): number {
  let i = end;
  while (i > start && text.charCodeAt(i - 1) === SPACE) i--;
  return i;
}

/**
 * A plain scalar's value, its string (if a string) owned; one that is its own text is kept to be
 * found again (SeenSpans).
 */
function ownPlain(raw: string, strings: OwnStrings): unknown {
  const value = resolvePlain(raw);
  if (typeof value === 'string') {
    const own = strings.own(value);
    return value === raw ? strings.plains.keep(own) : own;
  }
  if (typeof value === 'number' && !Number.isFinite(value)) throw LEAVE; // kubectl refuses the document
  return value;
}

/** After a value only spaces, then nothing or a comment. */
function expectLineEnd(text: string, from: number): void {
  const at = skipSpaces(text, from);
  if (at < text.length && !(text.charCodeAt(at) === HASH && at > from)) throw LEAVE;
}

/** Index just past the closing quote of the string opening at `at` (on this line only). */
function quotedEnd(text: string, at: number): number {
  const quote = text.charCodeAt(at);
  let i = at + 1;
  for (;;) {
    const close = text.indexOf(quote === DOUBLE_QUOTE ? '"' : "'", i);
    if (close < 0) throw LEAVE; // continues on the next line
    if (quote === SINGLE_QUOTE && text.charCodeAt(close + 1) === SINGLE_QUOTE) {
      i = close + 2;
      continue;
    }
    return close + 1;
  }
}

/** The string quoted from `at` to `end` (just past the closing quote). */
function quoted(text: string, at: number, end: number): string {
  const body = text.slice(at + 1, end - 1);
  if (text.charCodeAt(at) === SINGLE_QUOTE) return body.includes("''") ? body.replaceAll("''", "'") : body;
  if (body.includes('\\')) throw LEAVE; // escapes: the reference knows them all
  return body;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** A flow collection that opens and closes on one line: `{ name: a, namespace: b }`, `["x", y]`. */
class FlowReader {
  private readonly text: string;
  private readonly strings: OwnStrings;
  pos: number;

  constructor(text: string, pos: number, strings: OwnStrings) {
    this.text = text;
    this.pos = pos;
    this.strings = strings;
  }

  node(): unknown {
    const c = this.text.charCodeAt(this.pos);
    if (c === 0x5b) return this.sequence();
    if (c === 0x7b) return this.mapping();
    if (c === DOUBLE_QUOTE || c === SINGLE_QUOTE) {
      const end = quotedEnd(this.text, this.pos);
      const value = quoted(this.text, this.pos, end);
      this.pos = end;
      return this.strings.own(value);
    }
    const start = this.pos;
    const end = lastNonSpace(this.text, start, this.plainStop());
    const seen = this.strings.plains.find(this.text, start, end);
    return seen ?? ownPlain(this.plainText(start, end), this.strings);
  }

  private sequence(): unknown[] {
    const items: unknown[] = [];
    this.pos = skipSpaces(this.text, this.pos + 1);
    if (this.text.charCodeAt(this.pos) === 0x5d) {
      this.pos++;
      return items;
    }
    for (;;) {
      items.push(this.node());
      if (this.closes(0x5d)) return items;
    }
  }

  private mapping(): Record<string, unknown> {
    const map: Record<string, unknown> = {};
    this.pos = skipSpaces(this.text, this.pos + 1);
    if (this.text.charCodeAt(this.pos) === 0x7d) {
      this.pos++;
      return map;
    }
    for (;;) {
      const key = this.key();
      if (Object.hasOwn(map, key)) throw LEAVE;
      this.pos = skipSpaces(this.text, this.pos + 1);
      map[key] = this.node();
      if (this.closes(0x7d)) return map;
    }
  }

  /** A key up to its `:` (left at `pos`). */
  private key(): string {
    const c = this.text.charCodeAt(this.pos);
    if (c === DOUBLE_QUOTE || c === SINGLE_QUOTE) {
      const end = quotedEnd(this.text, this.pos);
      const key = quoted(this.text, this.pos, end);
      this.pos = end;
      if (this.text.charCodeAt(this.pos) !== COLON) throw LEAVE;
      return notProto(key);
    }
    const start = this.pos;
    const stop = this.plainStop();
    if (this.text.charCodeAt(stop) !== COLON || !isBreakAfter(this.text, stop)) throw LEAVE;
    const seen = this.strings.keys.find(this.text, start, stop);
    if (seen !== undefined) return seen;
    // `{a : b}`: a space before the colon is left to the reference, as in a block key.
    if (lastNonSpace(this.text, start, stop) !== stop) throw LEAVE;
    return this.strings.keys.keep(notProto(plainKey(this.plainText(start, stop))));
  }

  /** After an entry: the closing bracket (true), or `,` before another entry (false). */
  private closes(bracket: number): boolean {
    this.pos = skipSpaces(this.text, this.pos);
    const c = this.text.charCodeAt(this.pos);
    if (c === bracket) {
      this.pos++;
      return true;
    }
    if (c !== 0x2c) throw LEAVE;
    this.pos = skipSpaces(this.text, this.pos + 1);
    const after = this.text.charCodeAt(this.pos);
    if (after === 0x5d || after === 0x7d || after === 0x2c) throw LEAVE; // trailing or empty entries
    return false;
  }

  /**
   * Past a plain scalar in a flow, which ends before `,` `[` `]` `{` `}` `:` (not the line's end);
   * where it stops.
   */
  private plainStop(): number {
    const start = this.pos;
    if (
      isIndicator(this.text.charCodeAt(start)) &&
      !(this.text.charCodeAt(start) === DASH && isDigit(this.text.charCodeAt(start + 1)))
    )
      throw LEAVE;
    let i = start;
    for (; i < this.text.length; i++) {
      const c = this.text.charCodeAt(i);
      if (c === 0x2c || c === 0x5b || c === 0x5d || c === 0x7b || c === 0x7d || c === COLON) break;
      if (c === HASH) throw LEAVE;
    }
    if (i === this.text.length) throw LEAVE;
    this.pos = i;
    return i;
  }

  /** The plain scalar from `start` to `end` (its trailing spaces cut: lastNonSpace); never empty. */
  private plainText(start: number, end: number): string {
    if (end === start) throw LEAVE;
    return this.text.slice(start, end);
  }
}

/** V8's RangeError for a call stack exhausted; any other RangeError is a bug and propagates. */
export function isStackOverflow(err: unknown): boolean {
  return err instanceof RangeError && err.message.includes('call stack');
}
