/**
 * Line breaks inside base64, found and taken out for the credential scan (credential-scan.ts): a
 * MIME or PEM encoder wraps base64 every 64 or 76 characters, so the encoding of a request head
 * that a vendor dumps in an answer holds the key's base64 form in pieces (ninth round: a JSON
 * string of base64 wrapped with `\r\n` was relayed). A break is a raw CR or LF, or JSON's `\r` or
 * `\n` escape, which JSON.parse turns into one; a run of them counts as one.
 */

import { AFTER_BACKSLASH, ALONE, Candidates } from './candidates.ts';
import { pushRegion } from './escapes.ts';

const LF = 0x0a;
const CR = 0x0d;
const BACKSLASH = 0x5c;
const N = 0x6e;
const R = 0x72;

/** The length of the break at `at` (1 raw, 2 escaped), or 0. */
function breakAt(bytes: Uint8Array, at: number): number {
  const b = bytes[at];
  if (b === LF || b === CR) return 1;
  if (b === BACKSLASH) {
    const next = bytes[at + 1];
    if (next === N || next === R) return 2;
  }
  return 0;
}

/** What may begin a line break: LF and CR themselves, the `n` of `\n` and the `r` of `\r`. */
const BREAKS = [
  [LF, ALONE],
  [CR, ALONE],
  [N, AFTER_BACKSLASH],
  [R, AFTER_BACKSLASH],
] as const;

/**
 * The stretches of `bytes` within `radius` of a run of line breaks after a character `ends` marks
 * and before one `begins` marks (by code, below 128), merged, in order: a break next to anything
 * else (`,\n ` in pretty-printed JSON, `.\n` in prose) splits no form. A stretch reaches `radius` before the
 * run's first break and past its last, however long the run: a MIME decoder skips any number of
 * breaks (tenth round: a run of 1000 `\n` escapes put the part of a form before it out of reach).
 * As escapedRegions, the `radius` bytes past a relevant run are not looked at, but a run that goes
 * on past them is followed to its end, where the stretch then reaches.
 */
export function wrappedRegions(
  bytes: Buffer,
  ends: Uint8Array,
  begins: Uint8Array,
  radius: number,
): [number, number][] {
  const regions: [number, number][] = [];
  const n = bytes.length;
  const candidates = new Candidates(bytes, BREAKS);
  for (let at = candidates.from(0); at !== -1; at = candidates.from(at + 1)) {
    // An escaped break is found by its letter (a run of backslashes then costs no look at each).
    if (bytes[at] === N || bytes[at] === R) at--;
    const start = at;
    at = runEnd(bytes, at);
    const before = start > 0 ? bytes[start - 1]! : 0x80;
    const after = at < n ? bytes[at]! : 0x80;
    if (before < 128 && after < 128 && ends[before] === 1 && begins[after] === 1) {
      pushRegion(regions, start, at, radius, n);
      // Past the skipped bytes: inside a run that began among them, its end is where a form goes on.
      let next = at + radius;
      for (let from = runAround(bytes, next); from !== -1; from = runAround(bytes, next)) {
        const end = runEnd(bytes, from);
        pushRegion(regions, from, end, radius, n);
        next = end + radius;
      }
      at = next - 1;
    }
    // Otherwise the walk goes on past the byte after the run (`at`), which begins no break.
  }
  return regions;
}

/** Where the run of breaks starting at `at` ends (the first byte past it). */
function runEnd(bytes: Uint8Array, at: number): number {
  for (let length = breakAt(bytes, at); length > 0; length = breakAt(bytes, at)) at += length;
  return at;
}

/**
 * Where a break that holds byte `at` begins, or -1: `at` itself, or the backslash before the `n` or
 * `r` of an escaped break.
 */
function runAround(bytes: Uint8Array, at: number): number {
  if (at >= bytes.length) return -1;
  if (breakAt(bytes, at) > 0) return at;
  const b = bytes[at];
  return (b === N || b === R) && at > 0 && bytes[at - 1] === BACKSLASH ? at - 1 : -1;
}

/** `bytes` without its line breaks, in a new buffer (never longer). */
export function lineBreaksRemoved(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(bytes.length);
  let n = 0;
  for (let at = 0; at < bytes.length; ) {
    const b = bytes[at]!;
    // Most bytes begin no break: one comparison for them.
    const length = b > BACKSLASH ? 0 : breakAt(bytes, at);
    if (length > 0) at += length;
    else {
      out[n++] = b;
      at++;
    }
  }
  return out.subarray(0, n);
}
