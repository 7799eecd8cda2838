/**
 * JSON and URL escapes in an answer's bytes, found and decoded for the credential scan
 * (credential-scan.ts): JSON's `\uXXXX` and `\/`, which JSON.parse in the client turns back, and a
 * URL's or form's `%XX`. Each function is one pass over its input, a few comparisons a byte and
 * no string or callback per escape: an agent chooses how many escapes a read of its own free writes
 * holds (ninth round: a 2.5 MB list of `%41%41…` took 720 ms of event loop to decode with a regex
 * callback per escape, 100 times a plain answer's scan). Text is Latin-1 bytes, as the scan's forms
 * are: a `\u` escape of a character past U+00FF decodes to NUL, which no form holds.
 */

import { AFTER_BACKSLASH, BEFORE_HEX, Candidates } from './candidates.ts';

const PERCENT = 0x25;
const BACKSLASH = 0x5c;
const SLASH = 0x2f;
const U = 0x75;

/** What may begin an escape: `%` before a hex digit, the `u` of `\u`, and the `/` of `\/` where `/` is relevant. */
const WITHOUT_SLASH = [
  [PERCENT, BEFORE_HEX],
  [U, AFTER_BACKSLASH],
] as const;
const WITH_SLASH = [...WITHOUT_SLASH, [SLASH, AFTER_BACKSLASH]] as const;

/**
 * The stretches of `bytes` within `radius` of an escape of a character `relevant` marks (by code,
 * below 128), merged, in order: escapes of anything else (`%20`, `\u00e9`) cannot spell a form.
 * Past a relevant escape the next `radius` bytes are not looked at: the stretch around it already
 * covers whatever a form spelt through one of theirs could reach (`radius` bytes either side).
 *
 * Only the bytes that can begin a valid escape of a relevant character are looked at: a `%` before
 * a hex digit, the `u` of `\u` and, when `/` is relevant, the `/` of `\/` (the byte after a
 * backslash, not the backslash: a run of them, JSON's `\\` for each backslash of a metadata value,
 * then costs one native search).
 */
export function escapedRegions(bytes: Buffer, relevant: Uint8Array, radius: number): [number, number][] {
  const regions: [number, number][] = [];
  const n = bytes.length;
  const candidates = new Candidates(bytes, relevant[SLASH] === 1 ? WITH_SLASH : WITHOUT_SLASH);
  for (let at = candidates.from(0); at !== -1; at = candidates.from(at + 1)) {
    let code: number;
    let last: number;
    if (bytes[at] === PERCENT) {
      code = hex2At(bytes, at + 1);
      last = at + 2;
    } else {
      code = bytes[at] === U ? hex4At(bytes, at + 1) : SLASH;
      last = bytes[at] === U ? at + 4 : at;
    }
    // An escape's digits begin none (no `%`, `u` or `/` among them): the walk need not skip them.
    if (code < 0 || code >= 128 || relevant[code] !== 1) continue;
    pushRegion(regions, last, last, radius, n);
    at = last + radius - 1;
  }
  return regions;
}

/**
 * Adds to `regions` (in order, merged) the stretch from `radius` before `from` to twice `radius` past
 * `at`, within `n` bytes: the caller skips the next `radius` bytes past `at`, which this stretch
 * already covers. `from` is where what was found begins (a run of line breaks of any length), `at`
 * where it ends.
 */
export function pushRegion(
  regions: [number, number][],
  from: number,
  at: number,
  radius: number,
  n: number,
): void {
  const start = Math.max(0, from - radius);
  const end = Math.min(n, at + 2 * radius);
  const last = regions.at(-1);
  if (last !== undefined && start <= last[1]) last[1] = Math.max(last[1], end);
  else regions.push([start, end]);
}

/** Two lists of regions (each in order, merged) as one, in order, merged: each byte in one region at most. */
export function mergedRegions(a: [number, number][], b: [number, number][]): [number, number][] {
  if (b.length === 0) return a;
  if (a.length === 0) return b;
  const out: [number, number][] = [];
  for (let i = 0, j = 0; i < a.length || j < b.length; ) {
    const next = j >= b.length || (i < a.length && a[i]![0] <= b[j]![0]) ? a[i++]! : b[j++]!;
    const last = out.at(-1);
    if (last !== undefined && next[0] <= last[1]) last[1] = Math.max(last[1], next[1]);
    else out.push([next[0], next[1]]);
  }
  return out;
}

/** `bytes` with every JSON `\uXXXX` and `\/` decoded, in a new buffer (never longer). */
export function jsonUnescaped(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(bytes.length);
  let n = 0;
  for (let at = 0; at < bytes.length; at++) {
    const b = bytes[at]!;
    if (b === BACKSLASH) {
      const next = bytes[at + 1];
      if (next === U) {
        const code = hex4At(bytes, at + 2);
        if (code >= 0) {
          out[n++] = code < 0x100 ? code : 0;
          at += 5;
          continue;
        }
      } else if (next === SLASH) {
        out[n++] = SLASH;
        at += 1;
        continue;
      }
    }
    out[n++] = b;
  }
  return out.subarray(0, n);
}

/** `bytes` with every `%XX` decoded to the byte it names, in a new buffer (never longer). */
export function percentUnescaped(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(bytes.length);
  let n = 0;
  for (let at = 0; at < bytes.length; at++) {
    const b = bytes[at]!;
    if (b === PERCENT) {
      const code = hex2At(bytes, at + 1);
      if (code >= 0) {
        out[n++] = code;
        at += 2;
        continue;
      }
    }
    out[n++] = b;
  }
  return out.subarray(0, n);
}

/** By byte: the hex digit it is, or -1. A table: one load a digit, no branches. */
const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[0x30 + i] = i;
for (let i = 0; i < 6; i++) HEX[0x41 + i] = HEX[0x61 + i] = 10 + i;

/** The number the two hex digits at `at` spell, or -1 (past the end too). */
function hex2At(bytes: Uint8Array, at: number): number {
  if (at + 2 > bytes.length) return -1;
  const high = HEX[bytes[at]!]!;
  const low = HEX[bytes[at + 1]!]!;
  return (high | low) < 0 ? -1 : (high << 4) | low;
}

/** The number the four hex digits at `at` spell, or -1 (past the end too). */
function hex4At(bytes: Uint8Array, at: number): number {
  if (at + 4 > bytes.length) return -1;
  const a = HEX[bytes[at]!]!;
  const b = HEX[bytes[at + 1]!]!;
  const c = HEX[bytes[at + 2]!]!;
  const d = HEX[bytes[at + 3]!]!;
  return (a | b | c | d) < 0 ? -1 : (a << 12) | (b << 8) | (c << 4) | d;
}

/**
 * A text as Latin-1 bytes, a character past U+00FF as NUL (no form holds one): how the scan reads an
 * answer's head.
 */
export function latin1Narrowed(text: string): Buffer {
  const out = Buffer.allocUnsafe(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    out[i] = c < 0x100 ? c : 0;
  }
  return out;
}

/**
 * `bytes` without their NUL bytes, in a new buffer: how the scan reads a body's UTF-16 text. ASCII
 * text in UTF-16, LE or BE, from any byte, is its characters with a NUL after or before each; once
 * the NULs are out it is those characters, so one reading, searched and decoded as any text, serves
 * all four (a character past U+00FF leaves its two bytes, which spell nothing in an ASCII form).
 */
export function nulsRemoved(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(bytes.length);
  let n = 0;
  for (let at = 0; at < bytes.length; at++) {
    const b = bytes[at]!;
    if (b !== 0) out[n++] = b;
  }
  return out.subarray(0, n);
}
