/**
 * Line breaks inside base64, found and taken out for the credential scan (credential-scan.ts): a
 * MIME or PEM encoder wraps base64 every 64 or 76 characters, so the encoding of a request head
 * that a vendor dumps in an answer holds the key's base64 form in pieces (ninth round: a JSON
 * string of base64 wrapped with `\r\n` was relayed). A break is a raw CR or LF, or JSON's `\r` or
 * `\n` escape, which JSON.parse turns into one; a run of them counts as one.
 */

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

/**
 * The stretches of `bytes` within `radius` of a run of line breaks between two characters
 * `relevant` marks (by code, below 128), merged, in order: a break next to anything else (`,\n `
 * in pretty-printed JSON, `.\n` in prose) splits no form. As escapedRegions, the `radius` bytes past
 * a relevant run are not looked at.
 */
export function wrappedRegions(bytes: Buffer, relevant: Uint8Array, radius: number): [number, number][] {
  const regions: [number, number][] = [];
  const n = bytes.length;
  for (let at = firstBreak(bytes); at !== -1 && at < n; at++) {
    const start = at;
    for (let len = breakAt(bytes, at); len > 0; len = breakAt(bytes, at)) at += len;
    if (at === start) continue;
    const before = start > 0 ? bytes[start - 1]! : 0x80;
    const after = at < n ? bytes[at]! : 0x80;
    if (before < 128 && after < 128 && relevant[before] === 1 && relevant[after] === 1) {
      pushRegion(regions, at, radius, n);
      at += radius - 1;
    } else at--;
  }
  return regions;
}

/**
 * Where the first line break of `bytes` may be, or -1: native searches, so a text without one costs
 * no loop. One byte each: a search for the two bytes `\n` costs 20 times as much in a text of
 * backslashes (each is a partial match), which an agent can have an answer hold.
 */
function firstBreak(bytes: Buffer): number {
  let first = -1;
  for (const needle of [LF, CR, BACKSLASH]) {
    const at = bytes.indexOf(needle);
    if (at !== -1 && (first === -1 || at < first)) first = at;
  }
  return first;
}

/** `bytes` without its line breaks, in a new buffer (never longer). */
export function lineBreaksRemoved(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(bytes.length);
  let n = 0;
  for (let at = 0; at < bytes.length; ) {
    const len = breakAt(bytes, at);
    if (len > 0) at += len;
    else out[n++] = bytes[at++]!;
  }
  return out.subarray(0, n);
}
