import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  carriesToken,
  holdsTokenShape,
  tokenPrefixesOf,
  withoutToken,
  withoutTokenShapes,
} from './redact.ts';
import { newToken } from './token.ts';

/**
 * Thirteenth round: a vault token written with its checksum left off, or with one character changed,
 * left out, added or swapped, is the token to whoever reads it (the checksum, crc32 of prefix and
 * body, gives it back offline). Whatever the edit and whatever text stands around it, the token
 * presented is found by value, any token with a known prefix by shape, and neither leaves 12
 * characters of the body in what would be recorded.
 */

const defaults = tokenPrefixesOf(undefined);
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const RUNS = { numRuns: 300 };

const token = fc
  .uint8Array({ minLength: 24, maxLength: 24 })
  .map((bytes) => newToken('stripe', { random: () => bytes }));
const char = fc.constantFrom(...BASE62);

/** The token with one edit anywhere after its prefix, or its checksum (part or all) left off. */
const nearMiss = fc
  .tuple(
    token,
    fc.integer({ min: 10, max: 48 }),
    char,
    fc.constantFrom('change', 'drop', 'add', 'swap', 'cut'),
  )
  .map(([t, at, c, edit]) => {
    const i = Math.min(at, t.length - 2);
    const variant =
      edit === 'change'
        ? t.slice(0, i) + c + t.slice(i + 1)
        : edit === 'drop'
          ? t.slice(0, i) + t.slice(i + 1)
          : edit === 'add'
            ? t.slice(0, i) + c + t.slice(i)
            : edit === 'swap'
              ? t.slice(0, i) + t[i + 1] + t[i] + t.slice(i + 2)
              : t.slice(0, Math.max(43, i));
    return { token: t, variant };
  });
/** Text around it: path punctuation and words, letters and digits included. */
const around = fc.string({
  unit: fc.constantFrom('/', '?', '=', '&', '.', '-', 'a', 'Z', '7'),
  maxLength: 12,
});

/** Every 12-character piece of the body: none may be left in the clean text. */
function bodyPieces(t: string): string[] {
  const pieces: string[] = [];
  for (let i = 10; i + 12 <= t.length - 6; i += 6) pieces.push(t.slice(i, i + 12));
  return pieces;
}

describe('a near miss of a vault token', () => {
  it('is found by value when it is the token presented', () => {
    fc.assert(
      fc.property(nearMiss, around, around, ({ token: t, variant }, before, after) => {
        const text = `/v1/customers/${before}${variant}${after}`;
        expect(carriesToken(text, t)).toBe(true);
        const clean = withoutToken(text, t);
        for (const piece of bodyPieces(t)) expect(clean).not.toContain(piece);
      }),
      RUNS,
    );
  });

  it('is found by its shape, whoever presents what', () => {
    fc.assert(
      fc.property(nearMiss, around, around, ({ token: t, variant }, before, after) => {
        const text = `/v1/customers/${before}${variant}${after}`;
        expect(holdsTokenShape(text, defaults)).toBe(true);
        const clean = withoutTokenShapes(text, defaults);
        for (const piece of bodyPieces(t)) expect(clean).not.toContain(piece);
      }),
      RUNS,
    );
  });
});
