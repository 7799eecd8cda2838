import { type Denial, deny } from '../decision/reasons.ts';
import { foldName, isMethodOverride, printableName } from './names.ts';
import type { ParseLimits } from './types.ts';

/**
 * Reads a JSON request body (Resend; Twilio's JSON operations; Stripe v2) for the parse stage with one
 * reading (ADR 0007 §2). `JSON.parse` silently keeps the last of two equal keys while another reader
 * may keep the first, and a vendor may match keys ignoring case; so before parsing, one linear pass
 * over the text refuses any object whose keys repeat, exactly or ignoring case, after decoding their
 * escapes (`"\u0074o"` is `to`), and enforces the depth and size limits without recursion.
 */
export function parseJson(text: string, limits: ParseLimits): unknown | Denial {
  const problem = scanJson(text, limits);
  if (problem) return problem;
  try {
    return JSON.parse(text);
  } catch {
    return invalid();
  }
}

/**
 * The duplicate-key and limits scan: undefined when the text has no repeated key, no `_method` key at
 * the top level, nesting within `maxDepth` (a flat object is 1) and at most `maxParams` values
 * (members and elements, the root excluded). It trusts `JSON.parse` to validate the rest.
 */
export function scanJson(
  text: string,
  limits: Pick<ParseLimits, 'maxDepth' | 'maxParams'>,
): Denial | undefined {
  // One entry per open container: the folded keys of an object, null for an array.
  const frames: (Set<string> | null)[] = [];
  let expectKey = false;
  let expectElement = false;
  let values = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
    if (expectElement) {
      expectElement = false;
      if (c !== 0x5d /* ] */ && ++values > limits.maxParams) return tooMany();
    }
    switch (c) {
      case 0x7b /* { */:
      case 0x5b /* [ */:
        if (frames.length >= limits.maxDepth) {
          return deny('body_invalid', `The request body is nested deeper than ${limits.maxDepth} levels.`);
        }
        frames.push(c === 0x7b ? new Set() : null);
        expectKey = c === 0x7b;
        expectElement = c === 0x5b;
        break;
      case 0x7d /* } */:
      case 0x5d /* ] */:
        frames.pop();
        expectKey = false;
        break;
      case 0x2c /* , */:
        {
          const top = frames[frames.length - 1];
          if (top === null) expectElement = true;
          else if (top !== undefined) expectKey = true;
          break;
        }
      case 0x22 /* " */:
        {
          const end = stringEnd(text, i);
          if (end < 0) return invalid();
          if (expectKey) {
            expectKey = false;
            const keys = frames[frames.length - 1]!;
            const key = keyOf(text, i, end);
            if (key === undefined) return invalid();
            if (++values > limits.maxParams) return tooMany();
            const folded = foldName(key);
            if (keys.has(folded)) {
              return deny(
                'body_invalid',
                `Key ${printableName(key)} appears more than once in one object (keys are compared ignoring case).`,
              );
            }
            keys.add(folded);
            if (FORBIDDEN_KEYS.has(key) || !key.isWellFormed()) {
              // Readers that merge into plain objects or repair lone surrogates read these otherwise.
              return deny('body_invalid', `Key ${printableName(key)} is not allowed.`);
            }
            if (frames.length === 1 && isMethodOverride(key)) {
              return deny('body_invalid', 'A _method key (a method override) is not accepted.');
            }
          }
          i = end;
          break;
        }
      default:
        // `:`, numbers and literals: JSON.parse checks them.
        break;
    }
  }
  return undefined;
}

const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** The index of the quote closing the string that opens at `start`; -1 when it is not closed. */
function stringEnd(text: string, start: number): number {
  let from = start + 1;
  for (;;) {
    const quote = text.indexOf('"', from);
    if (quote < 0) return -1;
    let b = quote - 1;
    while (b > start && text.charCodeAt(b) === 0x5c /* \ */) b--;
    // An even run of backslashes escapes itself, not the quote.
    if ((quote - 1 - b) % 2 === 0) return quote;
    from = quote + 1;
  }
}

/** A key with its escapes decoded; undefined when an escape is malformed. */
function keyOf(text: string, start: number, end: number): string | undefined {
  const raw = text.slice(start + 1, end);
  if (!raw.includes('\\')) return raw;
  try {
    return JSON.parse(text.slice(start, end + 1)) as string;
  } catch {
    return undefined;
  }
}

function invalid(): Denial {
  return deny('body_invalid', 'The request body is not valid JSON.');
}

function tooMany(): Denial {
  return deny('body_invalid', 'The request body has too many values.');
}
