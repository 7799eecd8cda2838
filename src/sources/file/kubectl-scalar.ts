import { YAML_FALSE_WORDS, YAML_TRUE_WORDS } from '../../api/yaml-booleans.ts';

/**
 * Plain (unquoted) YAML scalars as kubectl reads them: `kubectl apply` turns each document into JSON
 * with sigs.k8s.io/yaml, whose go-yaml v2 fork resolves plain scalars by YAML 1.1's rules
 * (go.yaml.in/yaml/v2 resolve.go), and the API server validates that JSON. A manifest must mean the same
 * to `serve` (DESIGN §1/§2: the same YAML you would kubectl apply), so `suspended: yes` suspends and
 * `017` is 15. `test/env/kubectl-yaml` runs the real conversion as the tests' oracle.
 *
 * go-yaml v2, for a plain scalar, by its first character:
 * - `y Y n N t T f F o O ~` (and the empty scalar): a fixed table of booleans and nulls, else a string;
 * - `.`: the table (`.inf`, `.nan`), else Go's ParseFloat, else a string;
 * - a digit, `+` or `-`: the table (`-.inf`), then, with every `_` removed: Go's ParseInt with base
 *   prefixes (`0x`, `0o`, `0b`, and a leading `0` for octal), ParseUint, a decimal float, `0b` again
 *   with a sign after it; else a string. Timestamps resolve first but stay strings (go-yaml v2 hands
 *   them to untyped targets as their text), and none of them reads as a number, so they need no rule;
 *   sexagesimal numbers (`12:30`) are strings in go-yaml v2.
 * Anything else is a string.
 */

/** A resolved plain scalar: an integer (int64 or uint64, exact) is a bigint, a float a number. */
export type Typed = null | boolean | bigint | number | string;

const TABLE = new Map<string, null | boolean | number>();
for (const s of YAML_TRUE_WORDS) TABLE.set(s, true);
for (const s of YAML_FALSE_WORDS) TABLE.set(s, false);
for (const s of ['', '~', 'null', 'Null', 'NULL']) TABLE.set(s, null);
for (const s of ['.nan', '.NaN', '.NAN']) TABLE.set(s, Number.NaN);
for (const s of ['.inf', '.Inf', '.INF', '+.inf', '+.Inf', '+.INF']) TABLE.set(s, Number.POSITIVE_INFINITY);
for (const s of ['-.inf', '-.Inf', '-.INF']) TABLE.set(s, Number.NEGATIVE_INFINITY);

/** Characters go-yaml v2 tries anything but a string for (its resolveTable). */
const HINTED = /^[-+0-9yYnNtTfFoO~.]/;
/** The common case, read without a BigInt: a small unsigned decimal (a `0` before digits is octal). */
const SMALL_DECIMAL = /^(?:0|[1-9][0-9]{0,14})$/;
/** go-yaml v2's yamlStyleFloat, tested on the text without its `_`. */
const YAML_STYLE_FLOAT = /^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/;
/** Go's ParseFloat on a text starting with `.`: `_` only between digits. */
const DOT_FLOAT = /^\.[0-9](?:_?[0-9])*(?:[eE][-+]?[0-9](?:_?[0-9])*)?$/;

const MAX_UINT64 = (1n << 64n) - 1n;
const INT64_LIMIT = 1n << 63n;

/** The JSON value kubectl sends for a plain scalar (numbers as JSON.parse reads them; NaN and ±Infinity it refuses). */
export function resolvePlain(raw: string): null | boolean | number | string {
  if (SMALL_DECIMAL.test(raw)) return Number.parseInt(raw, 10);
  const typed = resolveTyped(raw);
  return typeof typed === 'bigint' ? Number(typed) : typed;
}

/** A plain scalar as go-yaml v2 resolves it, integers exact. */
export function resolveTyped(raw: string): Typed {
  if (raw !== '' && !HINTED.test(raw)) return raw;
  const fixed = TABLE.get(raw);
  if (fixed !== undefined) return fixed;
  const c = raw.charCodeAt(0);
  if (c === 0x2e)
    return DOT_FLOAT.test(raw) ? finiteOr(Number.parseFloat(raw.replaceAll('_', '')), raw) : raw;
  if (!(c === 0x2b || c === 0x2d || (c >= 0x30 && c <= 0x39))) return raw; // y, n, o …: the table only
  return resolveNumber(raw);
}

function resolveNumber(raw: string): Typed {
  const plain = raw.includes('_') ? raw.replaceAll('_', '') : raw;
  const int = parseGoInt(plain, 0) ?? parseGoUint(plain, 0);
  if (int !== undefined) return int;
  if (YAML_STYLE_FLOAT.test(plain)) {
    const float = Number.parseFloat(plain);
    if (Number.isFinite(float)) return float; // Go's ParseFloat fails where it overflows
  }
  // go-yaml v2 tries `0b` once more in base 2, where a sign may follow the prefix (`0b-101` is -5).
  if (plain.startsWith('0b')) return parseGoInt(plain.slice(2), 2) ?? parseGoUint(plain.slice(2), 2) ?? raw;
  if (plain.startsWith('-0b')) return parseGoInt(`-${plain.slice(3)}`, 2) ?? raw;
  return raw;
}

function finiteOr(value: number, raw: string): number | string {
  return Number.isFinite(value) ? value : raw;
}

/** Go's strconv.ParseInt(s, base, 64) for base 0 or 2: undefined where it fails. */
function parseGoInt(s: string, base: 0 | 2): bigint | undefined {
  const sign = s.charCodeAt(0);
  const negative = sign === 0x2d;
  const magnitude = parseGoUint(negative || sign === 0x2b ? s.slice(1) : s, base);
  if (magnitude === undefined) return undefined;
  if (negative ? magnitude > INT64_LIMIT : magnitude >= INT64_LIMIT) return undefined;
  return negative ? -magnitude : magnitude;
}

const DIGITS: Record<number, RegExp> = { 2: /^[01]+$/, 8: /^[0-7]*$/, 10: /^[0-9]+$/, 16: /^[0-9a-fA-F]+$/ };
const PREFIX: Record<number, string> = { 2: '0b', 8: '0o', 10: '', 16: '0x' };

/** Go's strconv.ParseUint(s, base, 64) for base 0 or 2 (no sign; base 0 reads the prefixes). */
function parseGoUint(s: string, base: 0 | 2): bigint | undefined {
  if (s === '') return undefined;
  let radix = base === 2 ? 2 : 10;
  let digits = s;
  if (base === 0 && s.charCodeAt(0) === 0x30) {
    // A prefix needs a digit after it (Go looks for one only in texts of 3 or more); else octal.
    const p = s.length >= 3 ? s[1]!.toLowerCase() : '';
    radix = p === 'b' ? 2 : p === 'x' ? 16 : 8;
    digits = p === 'b' || p === 'o' || p === 'x' ? s.slice(2) : s.slice(1);
  }
  if (!DIGITS[radix]!.test(digits)) return undefined;
  const value = digits === '' ? 0n : BigInt(PREFIX[radix] + digits);
  return value <= MAX_UINT64 ? value : undefined;
}

/**
 * The JSON field name kubectl makes of a plain key, and what go-yaml v2 held it as (two keys that are
 * one field name but different Go values, `1` and `"1"`, land in kubectl's map in random order).
 * A key kubectl refuses (null), or that we do not convert as it does (a float), gets `error`.
 */
export function plainKeyName(raw: string): { name: string; id: string } | { error: string } {
  const typed = resolveTyped(raw);
  if (typeof typed === 'string') return { name: typed, id: `s${typed}` };
  if (typeof typed === 'boolean') return { name: String(typed), id: `b${typed}` };
  if (typeof typed === 'bigint') {
    // sigs.k8s.io/yaml names int keys; a uint64 beyond int64 it refuses.
    if (typed >= INT64_LIMIT)
      return { error: `the key ${raw} is a number kubectl cannot use as a field name` };
    return { name: typed.toString(), id: `i${typed}` };
  }
  if (typed === null)
    return { error: `the key ${raw === '' ? '(empty)' : raw} is null, which kubectl refuses` };
  return { error: `the key ${raw} is a number that is not an integer: quote it` };
}
