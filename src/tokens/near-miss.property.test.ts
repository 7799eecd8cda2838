import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { CompiledKey, Snapshot } from '../snapshot/types.ts';
import {
  carriesToken,
  holdsTokenShape,
  tokenPrefixesFor,
  tokenPrefixesOf,
  withoutToken,
  withoutTokenShapes,
} from './redact.ts';
import { newToken, tokenDigest } from './token.ts';

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

/**
 * Fourteenth round (fixops14 finding 2): near misses past one edit, and another key's near misses,
 * went through: the token upper-cased, its checksum and one body character left out (the public
 * fingerprint's last 4 characters then single it out), another key's token with a `-` in its body or
 * its prefix mistyped. By value the presented token's body is found with up to three edits in any
 * case; by shape any token's with up to two edits in all (its prefix's one included), in any case.
 */
const edited = (t: string, at: number, c: string, edit: 'change' | 'drop' | 'add' | 'dash'): string =>
  edit === 'change'
    ? t.slice(0, at) + c + t.slice(at + 1)
    : edit === 'drop'
      ? t.slice(0, at) + t.slice(at + 1)
      : t.slice(0, at) + (edit === 'dash' ? '-' : c) + t.slice(at);
const edit = fc.constantFrom('change' as const, 'drop' as const, 'add' as const, 'dash' as const);
const bodyAt = fc.integer({ min: 11, max: 41 });

/** The token with up to three edits in its body, its checksum perhaps left off, in some letter case. */
const farMiss = fc
  .tuple(token, fc.array(fc.tuple(bodyAt, char, edit), { minLength: 2, maxLength: 3 }), fc.boolean())
  .chain(([t, edits, cut]) =>
    fc.constantFrom('as is', 'upper', 'lower').map((cased) => {
      let v = cut ? t.slice(0, -6) : t;
      for (const [at, c, e] of edits) v = edited(v, Math.min(at, v.length - 1), c, e);
      return {
        token: t,
        variant: cased === 'upper' ? v.toUpperCase() : cased === 'lower' ? v.toLowerCase() : v,
      };
    }),
  );

/** Another key's token with one edit in its prefix and one in its body (or its checksum left off), in some case. */
const otherMiss = fc
  .tuple(
    token,
    fc.integer({ min: 0, max: 9 }),
    fc.constantFrom('change' as const, 'drop' as const, 'add' as const),
    bodyAt,
    char,
    edit,
    fc.constantFrom('as is', 'upper', 'cut'),
  )
  .map(([t, pAt, pEdit, bAt, c, bEdit, how]) => {
    let v = edited(t, bAt, c, bEdit);
    if (how === 'cut') v = v.slice(0, -6);
    v = edited(v, pAt, pEdit === 'change' && t[pAt] === '-' ? '.' : '-', pEdit);
    return { token: t, variant: how === 'upper' ? v.toUpperCase() : v };
  });

/** Every 12-character piece of the body, in any case: none may be left in the clean text. */
function foldedPieces(t: string): string[] {
  return bodyPieces(t).map((p) => p.toLowerCase());
}

describe('a near miss past one edit (fourteenth round)', () => {
  it('is found by value when it is the token presented: up to three edits, any case', () => {
    fc.assert(
      fc.property(farMiss, around, around, ({ token: t, variant }, before, after) => {
        const text = `/v1/customers/${before}${variant}${after}`;
        expect(carriesToken(text, t)).toBe(true);
        const clean = withoutToken(text, t).toLowerCase();
        for (const piece of foldedPieces(t)) expect(clean).not.toContain(piece);
      }),
      RUNS,
    );
  });

  it("is found by shape when it is another key's: a prefix edit and a body edit, any case", () => {
    fc.assert(
      fc.property(otherMiss, around, around, ({ token: t, variant }, before, after) => {
        const text = `/v1/customers/${before}${variant}${after}`;
        expect(holdsTokenShape(text, defaults)).toBe(true);
        const clean = withoutTokenShapes(text, defaults).toLowerCase();
        for (const piece of foldedPieces(t)) expect(clean).not.toContain(piece);
      }),
      RUNS,
    );
  });

  it('leaves the ids vendors put in paths alone', () => {
    const id = (prefix: string, length: number) =>
      fc.string({ unit: char, minLength: length, maxLength: length }).map((s) => prefix + s);
    const ids = fc.oneof(
      id('cus_', 14),
      id('pi_', 24),
      id('cs_live_', 58),
      id('cs_test_', 58),
      id('AC', 32),
      fc.uuid(),
      id('', 39),
    );
    fc.assert(
      fc.property(ids, ids, (a, b) => {
        const text = `/v1/customers/${a}/sessions/${b}?expand[]=data.${a}`;
        expect(holdsTokenShape(text, defaults)).toBe(false);
      }),
      RUNS,
    );
  });
});

/**
 * Fourteenth round, probe fixes14b. (1) Another key's token written as its body, the checksum left
 * off and the prefix changed past the shape's budget or left off, went through: the table's digests
 * now decide. (2) A token in fullwidth letters went through: NFKC gives it back. (3) Honest base64
 * over about 2 KB was taken whole as a key by a bound of 64 places looked at, whatever its content.
 */
const wide = (text: string) =>
  text.replace(/[!-~]/g, (c) => String.fromCodePoint(c.codePointAt(0)! + 0xfee0));

/** A table serving `tokens` (by digest) and a custom prefix `acme_`. */
function servingTable(tokens: readonly string[]) {
  return tokenPrefixesOf({
    version: 1,
    compiledAt: 0,
    keys: new Map(
      tokens.map((t) => [tokenDigest(t), { tokenPrefix: t.slice(0, -39) } as CompiledKey] as const),
    ),
  } as Snapshot);
}

/** Words that may stand before a body: a prefix mangled past the shape's budget, or other text. */
const mangled = fc.constantFrom('', 'kb-stripe-', 'stripe:', 'KB.STRIPE.', 'key=', 'x/', 'stripe_');

describe('a served token past the shape (fourteenth round, fixes14b)', () => {
  it('is found by its body alone when the table serves it, whatever the prefix and checksum became', () => {
    fc.assert(
      fc.property(
        token,
        mangled,
        fc.integer({ min: 0, max: 6 }),
        around,
        fc.constantFrom('/', '?', '.', '-', ''),
        (t, before, checksum, more, after) => {
          const table = servingTable([t]);
          const variant = before + t.slice(10, 43 + checksum);
          const text = `/v1/customers/${more}/${variant}${after}x`;
          expect(holdsTokenShape(text, table)).toBe(true);
          const clean = withoutTokenShapes(text, table);
          for (const piece of bodyPieces(t)) expect(clean).not.toContain(piece);
        },
      ),
      RUNS,
    );
  });

  it('is found with its prefix glued to its body', () => {
    fc.assert(
      fc.property(token, fc.constantFrom('stripe', 'kbstripe', 'kb', ''), (t, glued) => {
        const text = `/v1/customers/${glued}${t.slice(10, 43)}`;
        expect(holdsTokenShape(text, servingTable([t]))).toBe(true);
      }),
      RUNS,
    );
  });

  it('is found in fullwidth letters, as it is or percent-encoded, presented or not', () => {
    fc.assert(
      fc.property(token, token, fc.boolean(), around, (presented, other, encoded, before) => {
        const table = servingTable([presented, other]);
        const form = (t: string) => (encoded ? encodeURIComponent(wide(t)) : wide(t));
        expect(carriesToken(`/v1/customers/${before}${form(presented)}`, presented)).toBe(true);
        const text = `/v1/customers/${before}${form(other)}`;
        expect(holdsTokenShape(text, table)).toBe(true);
        const clean = withoutTokenShapes(text, table);
        for (const piece of bodyPieces(other)) expect(clean.normalize('NFKC')).not.toContain(piece);
        expect(withoutToken(`/v1/x/${form(presented)}`, presented).normalize('NFKC')).not.toContain(
          presented.slice(10, 43),
        );
      }),
      RUNS,
    );
  });
});

/** Random bytes as the long honest texts that carry them: base64, base64url, a JWT, PEM, UUIDs. */
const honestLong = fc
  .tuple(
    fc.integer({ min: 0, max: 12_000 }),
    fc.integer(),
    fc.constantFrom('base64', 'base64url', 'jwt', 'pem', 'uuids'),
  )
  .map(([length, seed, how]) => {
    // Bytes of a seeded xorshift: fast-check's own arrays stay short unless asked for their size.
    const b = Buffer.alloc(length);
    let x = seed | 1;
    for (let i = 0; i < length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      b[i] = x & 0xff;
    }
    switch (how) {
      case 'base64':
        return b.toString('base64');
      case 'base64url':
        return b.toString('base64url');
      case 'jwt':
        return `eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.${b.toString('base64url')}.${b.subarray(0, 256).toString('base64url')}`;
      case 'pem':
        return `-----BEGIN PRIVATE KEY-----\n${(b.toString('base64').match(/.{1,64}/g) ?? []).join('\n')}\n-----END PRIVATE KEY-----\n`;
      default:
        return (b.toString('hex').match(/.{32}/g) ?? [])
          .map(
            (h) => `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`,
          )
          .join(',');
    }
  });

describe('long honest text (fourteenth round, fixes14b finding 3)', () => {
  // Served tokens the texts do not hold: their digests are looked up, and never match.
  const table = servingTable([
    newToken('stripe', { random: () => new Uint8Array(24).fill(1) }),
    newToken('twilio', { random: () => new Uint8Array(24).fill(2), prefix: 'acme_' }),
  ]);
  const presented = newToken('stripe', { random: () => new Uint8Array(24).fill(5) });
  it('of base64, a JWT, PEM or UUIDs up to 16 KB is never taken as a key unless it holds one', () => {
    fc.assert(
      fc.property(honestLong, (text) => {
        expect(holdsTokenShape(text, defaults)).toBe(false);
        expect(holdsTokenShape(text, table)).toBe(false);
        expect(holdsTokenShape(text, tokenPrefixesFor(['acme_live_']))).toBe(false);
        expect(carriesToken(text, presented)).toBe(false);
      }),
      { numRuns: 60 },
    );
  });

  it('a hostile text past the bound, which grows with its length, is still taken whole as a key', () => {
    // Each piece sets a prefix half beside 33 letters and digits: one search with edits each, so a
    // text of them costs a search per 40 characters, past one per 64 (and 64 more).
    const piece = 'kb_stXabcdefghijklmnopqrstuvwxyz0123456-';
    expect(holdsTokenShape(`/v1/x/${piece.repeat(3)}`, defaults)).toBe(false);
    expect(withoutTokenShapes(`/v1/x/${piece.repeat(400)}`, defaults)).toBe('kb_stripe_…');
    // Bodies under ten prefixes a table serves: ten digests per 34 characters, past one per 8.
    const many = servingTable(
      Array.from({ length: 10 }, (_, i) =>
        newToken('stripe', { prefix: `acme${i}_`, random: () => new Uint8Array(24) }),
      ),
    );
    const bodies = Array.from({ length: 300 }, (_, i) => `${'x'.repeat(29)}${String(1000 + i)}`).join('-');
    expect(holdsTokenShape(bodies.slice(0, 340), many)).toBe(false);
    expect(holdsTokenShape(bodies, many)).toBe(true);
  });

  it('still holds a key written in it', () => {
    fc.assert(
      fc.property(honestLong, token, fc.nat(), (text, t, at) => {
        const i = text.length === 0 ? 0 : at % text.length;
        const withKey = `${text.slice(0, i)}.${t.slice(0, -6)}.${text.slice(i)}`;
        expect(holdsTokenShape(withKey, defaults)).toBe(true);
      }),
      { numRuns: 30 },
    );
  });
});
