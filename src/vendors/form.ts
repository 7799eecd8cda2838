import { type Denial, deny, isDenial } from '../decision/reasons.ts';
import { foldName, isMethodOverride, printableName } from './names.ts';
import type { Params, ParseLimits } from './types.ts';

/**
 * Decodes application/x-www-form-urlencoded bodies and query strings for the parse stage, with one
 * reading per request (ADR 0007 §2): wherever Keybrake and the vendor could read a body differently
 * (a name given twice, mixed shapes, a `;` some servers split on, a method override), it refuses,
 * never picks a copy: a price or party taken from a value the vendor does not use is a way around a
 * policy.
 *
 * Two shapes:
 *   - `parseForm` (Stripe, Rack-style brackets): `a=1` → { a: '1' }; `m[k]=v` → { m: { k: 'v' } };
 *     `t[0]=x&t[1]=y` and `t[]=x&t[]=y` → { t: ['x','y'] }; `i[0][p]=1` → { i: [{ p: '1' }] }.
 *     Lists are written `a[]` or `a[0]`, so any other name given twice (`a=1&a=2`,
 *     `metadata[k]=1&metadata[k]=2`, `t[0]=x&t[0]=y`) is refused, and so is one list written both
 *     ways. Depth counts bracket groups (`a[b][c]` is 2). Indexes may leave holes: `t[7]=b&t[2]=a`
 *     → { t: ['a','b'] }, the values in index order.
 *   - `parseFlatForm` (Twilio): names are taken as they are; only the names the vendor declares as
 *     lists may repeat (`MediaUrl=a&MediaUrl=b` → { MediaUrl: ['a','b'] }), and names that differ
 *     only in case from each other or from a declared name are refused.
 * Objects have no prototype, and the names `__proto__`, `constructor` and `prototype` are refused.
 */

type Obj = Record<string, unknown>;
/**
 * A list written with indexes, while the body is read: index → value. A sparse index costs one entry,
 * not the holes before it: arrays grown to each index made a 44 KB body of 999 parameters eight
 * levels deep, every index 999, cost 300–600 ms where dense indexes cost 9 ms (fifth round).
 */
type IndexList = Map<number, unknown>;
type Container = Obj | unknown[] | IndexList;

const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);
const INDEX = /^(?:0|[1-9]\d{0,8})$/;
const SEMICOLON =
  'A raw ";" is not accepted in form data: some servers split parameters on it. Percent-encode it as %3B.';

const RAW_SPACE_OR_CONTROL = /[\x00-\x20\x7f]/;
const RAW_SPACE =
  'A raw space or control character is not accepted in form data: servers split and strip them differently. Percent-encode it (a space as + or %20; with curl, --data-urlencode).';

/** Stripe's reading: nested brackets, lists only as `a[]` or `a[0]`. */
export function parseForm(body: string, limits: ParseLimits): Params | Denial {
  const made = indexListsMade;
  const tree = formTree(body, limits);
  if (isDenial(tree)) return tree;
  // Most bodies write no index list (`amount=100&currency=usd`): nothing to settle, no walk.
  if (indexListsMade !== made) settleLists(tree);
  return tree;
}

/** Index lists `place` has made, ever: tells `parseForm` whether a body made any (it runs synchronously). */
let indexListsMade = 0;

/**
 * `parseForm` before its index lists are settled into arrays: they are still `Map`s of index →
 * value, one entry per index written, so the tree holds no more entries than the body names.
 */
export function formTree(body: string, limits: ParseLimits): Obj | Denial {
  const framing = framingDenial(body);
  if (framing) return framing;
  const root: Obj = Object.create(null);
  let count = 0;
  for (const pair of body.split('&')) {
    if (pair === '') continue;
    count += 1;
    if (count > limits.maxParams) return tooMany(limits);
    const eq = pair.indexOf('=');
    const name = decode(eq === -1 ? pair : pair.slice(0, eq));
    if (name === undefined) return badName(count);
    const value = eq === -1 ? '' : decode(pair.slice(eq + 1));
    if (value === undefined) return badValue(name);
    const problem = place(root, name, value, limits);
    if (problem) return problem;
  }
  return root;
}

/** What a flat form may repeat and which spellings it knows (`parseFlatForm`). */
export interface FlatFormNames {
  /** Names the vendor declares as lists: the only ones that may be given more than once. */
  readonly lists?: ReadonlySet<string>;
  /** `foldName(name)` → the name as the vendor declares it: a name folding to one must be spelt like it. */
  readonly declared?: ReadonlyMap<string, string>;
}

/**
 * Twilio's reading: every name as it is. A list name given more than once becomes an array (in
 * order); a name given once stays a string.
 */
export function parseFlatForm(body: string, limits: ParseLimits, names: FlatFormNames = {}): Params | Denial {
  const framing = framingDenial(body);
  if (framing) return framing;
  const root: Obj = Object.create(null);
  // folded name → the spelling first seen, so `To` then `to` is caught whatever the declared names.
  const spellings = new Map<string, string>();
  let count = 0;
  for (const pair of body.split('&')) {
    if (pair === '') continue;
    count += 1;
    if (count > limits.maxParams) return tooMany(limits);
    const eq = pair.indexOf('=');
    const name = decode(eq === -1 ? pair : pair.slice(0, eq));
    if (name === undefined) return badName(count);
    const value = eq === -1 ? '' : decode(pair.slice(eq + 1));
    if (value === undefined) return badValue(name);
    if (name === '') return deny('body_invalid', 'A parameter has an empty name.');
    if (FORBIDDEN.has(name))
      return deny('body_invalid', `Parameter name ${printableName(name)} is not allowed.`);
    if (isMethodOverride(name)) return methodOverride();
    const folded = foldName(name);
    const declared = names.declared?.get(folded);
    if (declared !== undefined && declared !== name) {
      return deny(
        'body_invalid',
        `Parameter ${printableName(name)} differs only in case from ${printableName(declared)}; spell it exactly.`,
      );
    }
    const seen = spellings.get(folded);
    if (seen === undefined) {
      spellings.set(folded, name);
      root[name] = value;
      continue;
    }
    if (seen !== name) {
      return deny(
        'body_invalid',
        `Parameters ${printableName(seen)} and ${printableName(name)} differ only in case; give one of them.`,
      );
    }
    if (!names.lists?.has(name)) return givenTwice(name);
    const existing = root[name];
    if (Array.isArray(existing)) existing.push(value);
    else root[name] = [existing, value];
  }
  return root;
}

/**
 * Characters readers split or strip differently: a raw `;` (a separator to Rack's query parser and
 * others), raw spaces and control characters (Rack splits on `& *`, so `a=1& amount=9` is `amount`
 * to it and ` amount` to a reader that keeps them) and a leading `?` (URLSearchParams drops it, Rack
 * keeps it in the first name). No encoder writes any of them raw there, so refusing them costs
 * honest clients nothing.
 */
function framingDenial(body: string): Denial | undefined {
  if (body.includes(';')) return deny('body_invalid', SEMICOLON);
  if (RAW_SPACE_OR_CONTROL.test(body)) return deny('body_invalid', RAW_SPACE);
  if (body.charCodeAt(0) === 0x3f /* ? */) {
    return deny(
      'body_invalid',
      'Form data must not start with a raw "?": readers disagree on whether it is part of the first name.',
    );
  }
  return undefined;
}

function tooMany(limits: ParseLimits): Denial {
  return deny('body_invalid', `The request has more than ${limits.maxParams} parameters.`);
}

function methodOverride(): Denial {
  return deny('body_invalid', 'A _method parameter (a method override) is not accepted.');
}

function givenTwice(name: string): Denial {
  return deny(
    'body_invalid',
    `Parameter ${printableName(name)} is given more than once; it must be given once (only lists may repeat).`,
  );
}

function badName(index: number): Denial {
  return deny('body_invalid', `The name of parameter #${index} is not valid percent-encoding.`);
}

function badValue(name: string): Denial {
  return deny('body_invalid', `The value of parameter ${printableName(name)} is not valid percent-encoding.`);
}

/** `+` is a space, then percent-decoding as UTF-8; undefined when malformed or not UTF-8. */
function decode(raw: string): string | undefined {
  const spaced = raw.includes('+') ? raw.replaceAll('+', ' ') : raw;
  if (!spaced.includes('%')) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    return undefined;
  }
}

const GIVEN_TWICE =
  'it is given more than once; it must be given once (lists are written name[] or name[0]).';
const VALUE_AND_MORE = 'it is used both as a value and as a list or object.';

const MIXED_LIST = 'a list is written both with indexes ([0]) and without ([]).';

/** Places one parameter; a Denial when its name is malformed, given twice or clashes in shape. */
function place(root: Obj, name: string, value: string, limits: ParseLimits): Denial | undefined {
  const open = name.indexOf('[');
  if (open === -1) {
    // The common case, a plain name: no path to build.
    if (name === '') return deny('body_invalid', 'A parameter has an empty name.');
    if (isMethodOverride(name)) return methodOverride();
    if (name.includes(']'))
      return deny('body_invalid', `Parameter ${printableName(name)} has malformed brackets.`);
    if (FORBIDDEN.has(name))
      return deny('body_invalid', `Parameter name ${printableName(name)} is not allowed.`);
    if (!Object.hasOwn(root, name)) {
      root[name] = value;
      return undefined;
    }
    const problem = typeof root[name] === 'string' ? GIVEN_TWICE : VALUE_AND_MORE;
    return deny('body_invalid', `Parameter ${printableName(name)}: ${problem}`);
  }
  const path = splitName(name, open);
  if (typeof path === 'string') return deny('body_invalid', path);
  if (path.length - 1 > limits.maxDepth) {
    return deny(
      'body_invalid',
      `Parameter ${printableName(name)} is nested ${path.length - 1} levels deep; the limit is ${limits.maxDepth}.`,
    );
  }
  const problem = assign(root, path, value, limits);
  return problem ? deny('body_invalid', `Parameter ${printableName(name)}: ${problem}`) : undefined;
}

/** `items[0][price]` → ['items', '0', 'price']; an error message when the brackets are malformed. */
function splitName(name: string, open: number): string[] | string {
  const base = name.slice(0, open);
  if (base === '') return 'A parameter has an empty name.';
  if (isMethodOverride(base)) return 'A _method parameter (a method override) is not accepted.';
  const malformed = `Parameter ${printableName(name)} has malformed brackets.`;
  if (base.includes(']')) return malformed;
  const segments = [base];
  // One or more `[…]` groups to the end, none holding a bracket.
  for (let i = open; i < name.length; ) {
    if (name.charCodeAt(i) !== 0x5b /* [ */) return malformed;
    const close = name.indexOf(']', i + 1);
    if (close === -1) return malformed;
    const segment = name.slice(i + 1, close);
    if (segment.includes('[')) return malformed;
    segments.push(segment);
    i = close + 1;
  }
  for (const segment of segments) {
    if (FORBIDDEN.has(segment)) return `Parameter name ${printableName(name)} is not allowed.`;
  }
  return segments;
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Map);
}

function isDigits(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}

function get(c: Container, k: string | number): unknown {
  if (Array.isArray(c)) return c[k as number];
  if (c instanceof Map) return c.get(k as number);
  return Object.hasOwn(c, k) ? c[k as string] : undefined;
}

function set(c: Container, k: string | number, v: unknown): void {
  if (Array.isArray(c)) c[k as number] = v;
  else if (c instanceof Map) c.set(k as number, v);
  else c[k as string] = v;
}

/** Places one value under a bracketed name; returns why it cannot (given twice, shape clash, index). */
function assign(root: Obj, path: readonly string[], value: string, limits: ParseLimits): string | undefined {
  let container: Container = root;
  let key: string | number = path[0]!;
  for (let i = 1; i < path.length; i++) {
    const seg = path[i]!;
    let child = get(container, key);
    if (seg !== '' && !isDigits(seg)) {
      if (child === undefined) {
        child = Object.create(null);
        set(container, key, child);
      } else if (!isObj(child)) return 'it is used both as an object and as another shape.';
      container = child as Obj;
      key = seg;
      continue;
    }
    if (seg !== '') {
      if (child === undefined) {
        child = new Map();
        indexListsMade += 1;
        set(container, key, child);
      } else if (Array.isArray(child)) return MIXED_LIST;
      else if (!(child instanceof Map)) return 'it is used both as a list and as another shape.';
      if (!INDEX.test(seg) || Number(seg) >= limits.maxParams)
        return `list index ${seg} must be below ${limits.maxParams}, without leading zeros.`;
      container = child as IndexList;
      key = Number(seg);
      continue;
    }
    if (child === undefined) {
      child = [];
      set(container, key, child);
    } else if (child instanceof Map) return MIXED_LIST;
    else if (!Array.isArray(child)) return 'it is used both as a list and as another shape.';
    const list = child as unknown[];
    container = list;
    if (i === path.length - 1) {
      list.push(value);
      return undefined;
    }
    // Rack (`params_hash_has_key?`): `a[][k…]` fills the last element unless it already holds the
    // whole path `k…`; a path that itself holds a `[]` always fills it. `a[][0]` and `a[][]` have no
    // reading that Rack and Stripe's indexes agree on: refused.
    const rest = path.slice(i + 1);
    if (rest[0] === '' || isDigits(rest[0]!))
      return 'a list element must be an object here (write a[0][0], not a[][0] or a[][]).';
    const last = list[list.length - 1];
    const reuse = isObj(last) && (rest.includes('') || !holdsPath(last, rest));
    key = reuse ? list.length - 1 : list.length;
  }
  const existing = get(container, key);
  if (existing === undefined) {
    set(container, key, value);
    return undefined;
  }
  return typeof existing === 'string' ? GIVEN_TWICE : VALUE_AND_MORE;
}

/** Whether `obj` has a value at `path` through objects only (Rack's `params_hash_has_key?`). */
function holdsPath(obj: Obj, path: readonly string[]): boolean {
  let node: unknown = obj;
  for (const part of path) {
    if (!isObj(node) || !Object.hasOwn(node, part)) return false;
    node = node[part];
  }
  return true;
}

/**
 * Turns every index list into the array Stripe reads: its values in index order, the holes sparse
 * indexes leave dropped (`t[5]=x` alone → ['x']). Each list is sorted once, so the work follows
 * the entries the body wrote, not the indexes it named.
 */
function settleLists(node: Obj | unknown[]): void {
  const keys: (string | number)[] = Array.isArray(node) ? [...node.keys()] : Object.keys(node);
  for (const k of keys) {
    let v = get(node, k);
    if (v instanceof Map) {
      const list = v as IndexList;
      v = [...list.keys()].sort((a, b) => a - b).map((index) => list.get(index));
      set(node, k, v);
    }
    if (Array.isArray(v) || isObj(v)) settleLists(v);
  }
}
