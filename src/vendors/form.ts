import { type Denial, deny } from '../decision/reasons.ts';
import type { Params, ParseLimits } from './types.ts';

/**
 * Decodes application/x-www-form-urlencoded bodies the way Stripe (Rack-style brackets) and Twilio
 * (repeated keys) read them, for the parse stage of both adapters. Where the two readings of a body
 * could differ (a key given twice, mixed shapes), it keeps every value or refuses, never picks one:
 * a price computed from a value the vendor does not use would be a way around a cap.
 *
 * Shapes: `a=1` → { a: '1' }; `a=1&a=2` → { a: ['1','2'] }; `m[k]=v` → { m: { k: 'v' } };
 * `t[0]=x&t[1]=y` and `t[]=x&t[]=y` → { t: ['x','y'] }; `i[0][p]=1` → { i: [{ p: '1' }] }.
 * Depth counts bracket groups (`a[b][c]` is 2). Objects have no prototype, and the names
 * `__proto__`, `constructor` and `prototype` are refused.
 */

type Obj = Record<string, unknown>;
type Container = Obj | unknown[];

const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);
const BRACKETS = /^(?:\[[^[\]]*\])+$/;
const INDEX = /^(?:0|[1-9]\d{0,8})$/;
const DIGITS = /^\d+$/;

export function parseForm(body: string, limits: ParseLimits): Params | Denial {
  const root: Obj = Object.create(null);
  let count = 0;
  for (const pair of body.split('&')) {
    if (pair === '') continue;
    count += 1;
    if (count > limits.maxParams) {
      return deny('body_invalid', `The request has more than ${limits.maxParams} parameters.`);
    }
    const eq = pair.indexOf('=');
    const name = decode(eq === -1 ? pair : pair.slice(0, eq));
    if (name === undefined) {
      return deny('body_invalid', `The name of parameter #${count} is not valid percent-encoding.`);
    }
    const value = decode(eq === -1 ? '' : pair.slice(eq + 1));
    if (value === undefined) {
      return deny('body_invalid', `The value of parameter ${printable(name)} is not valid percent-encoding.`);
    }
    const path = splitName(name);
    if (typeof path === 'string') return deny('body_invalid', path);
    if (path.length - 1 > limits.maxDepth) {
      return deny(
        'body_invalid',
        `Parameter ${printable(name)} is nested ${path.length - 1} levels deep; the limit is ${limits.maxDepth}.`,
      );
    }
    const problem = assign(root, path, value, limits);
    if (problem) return deny('body_invalid', `Parameter ${printable(name)}: ${problem}`);
  }
  compact(root);
  return root;
}

/** `+` is a space, then percent-decoding as UTF-8; undefined when malformed. */
function decode(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw.replaceAll('+', ' '));
  } catch {
    return undefined;
  }
}

/** `items[0][price]` → ['items', '0', 'price']; an error message when the brackets are malformed. */
function splitName(name: string): string[] | string {
  const open = name.indexOf('[');
  const base = open === -1 ? name : name.slice(0, open);
  const rest = open === -1 ? '' : name.slice(open);
  if (base === '') return 'A parameter has an empty name.';
  if (base.includes(']') || (rest !== '' && !BRACKETS.test(rest))) {
    return `Parameter ${printable(name)} has malformed brackets.`;
  }
  const segments = [base, ...(rest === '' ? [] : rest.slice(1, -1).split(']['))];
  if (segments.some((s) => FORBIDDEN.has(s))) return `Parameter name ${printable(name)} is not allowed.`;
  return segments;
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function get(c: Container, k: string | number): unknown {
  if (Array.isArray(c)) return c[k as number];
  return Object.hasOwn(c, k) ? c[k as string] : undefined;
}

function set(c: Container, k: string | number, v: unknown): void {
  if (Array.isArray(c)) c[k as number] = v;
  else c[k as string] = v;
}

/** Places one value; returns why it cannot be placed (shape conflict, index out of range). */
function assign(root: Obj, path: readonly string[], value: string, limits: ParseLimits): string | undefined {
  let container: Container = root;
  let key: string | number = path[0]!;
  for (let i = 1; i < path.length; i++) {
    const seg = path[i]!;
    let child = get(container, key);
    if (seg !== '' && !DIGITS.test(seg)) {
      if (child === undefined) {
        child = Object.create(null);
        set(container, key, child);
      } else if (!isObj(child)) return 'it is used both as an object and as another shape.';
      container = child as Obj;
      key = seg;
      continue;
    }
    if (child === undefined) {
      child = [];
      set(container, key, child);
    } else if (!Array.isArray(child)) return 'it is used both as a list and as another shape.';
    const list = child as unknown[];
    container = list;
    if (seg !== '') {
      if (!INDEX.test(seg) || Number(seg) >= limits.maxParams)
        return `list index ${seg} must be below ${limits.maxParams}, without leading zeros.`;
      key = Number(seg);
    } else if (i === path.length - 1) {
      list.push(value);
      return undefined;
    } else {
      // Rack: `a[][k]` fills the last element until it already has `k`, then starts a new one.
      const last = list[list.length - 1];
      const next = path[i + 1]!;
      const reuse = isObj(last) && next !== '' && !DIGITS.test(next) && !Object.hasOwn(last, next);
      key = reuse ? list.length - 1 : list.length;
    }
  }
  const existing = get(container, key);
  if (existing === undefined) set(container, key, value);
  else if (typeof existing === 'string') set(container, key, [existing, value]);
  else if (Array.isArray(existing) && existing.every((e) => typeof e === 'string')) existing.push(value);
  else return 'it is used both as a value and as a list or object.';
  return undefined;
}

/** Drops the holes sparse indexes leave (`t[5]=x` alone → ['x']), keeping index order. */
function compact(node: Container): void {
  for (const k of Object.keys(node)) {
    const v = get(node, Array.isArray(node) ? Number(k) : k);
    if (Array.isArray(v)) {
      const dense = v.filter(() => true);
      if (dense.length !== v.length) set(node, Array.isArray(node) ? Number(k) : k, dense);
      compact(dense);
    } else if (isObj(v)) compact(v);
  }
}

/** A parameter name safe to echo in an error: never a value, bounded, printable ASCII only. */
function printable(name: string): string {
  const clean = name.replace(/[^\w[\].-]/g, '?');
  return `"${clean.length > 64 ? `${clean.slice(0, 64)}…` : clean}"`;
}
