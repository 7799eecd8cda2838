import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Denial, isDenial } from '../decision/reasons.ts';
import { parseFlatForm, parseForm } from './form.ts';
import { foldName } from './names.ts';
import type { Params } from './types.ts';

/**
 * Properties of the form parsers (ADR 0007 §2), with URLSearchParams — the WHATWG reading every HTTP
 * stack shares — as the independent oracle: nothing escapes as an exception; every input is params
 * or a named Denial; a name given twice is always refused; and where Keybrake accepts a body, it
 * reads every scalar exactly as URLSearchParams does.
 */

const limits = { maxBytes: 1 << 20, maxDepth: 5, maxParams: 1000 };
const RUNS = { numRuns: 500 };

const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);
const nameChar = fc.constantFrom(..."abcAZz09_-. é€😀+&=%#/?:,!*'()~".match(/./gu)!);
/** A name segment: no brackets (they would change the structure), not all digits (a list index). */
const segment = fc
  .string({ unit: nameChar, minLength: 1, maxLength: 6 })
  .filter((s) => !/^\d+$/.test(s) && !FORBIDDEN.has(s) && foldName(s) !== '_method');
const value = fc.oneof(
  fc.string({ unit: nameChar, maxLength: 8 }),
  fc.string({ unit: 'grapheme', maxLength: 8 }),
  fc.constant(''),
);

/** Three ways a client encodes: encodeURIComponent, the same with `+` for spaces, or as little as it must. */
type Encoder = (s: string) => string;
const pct = (c: string) =>
  [...Buffer.from(c, 'utf8')].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
const ENCODERS: Encoder[] = [
  encodeURIComponent,
  (s) => encodeURIComponent(s).replaceAll('%20', '+'),
  (s) => s.replace(/[%&=+;[\]#]/g, pct).replaceAll(' ', '+'),
];
const encoder = fc.constantFrom(...ENCODERS);

/** A Stripe parameter name: a base and up to two object keys, `a[b][c]`; its path and how it is written. */
const nestedName = fc
  .tuple(segment, fc.array(segment, { maxLength: 2 }))
  .map(([base, keys]) => ({ path: [base, ...keys], text: base + keys.map((k) => `[${k}]`).join('') }));

/** Writes a name with its brackets left as they are (stripe-node does) or encoded (qs does). */
function writeName(path: readonly string[], enc: Encoder, encodeBrackets: boolean): string {
  const [base, ...keys] = path;
  const open = encodeBrackets ? '%5B' : '[';
  const close = encodeBrackets ? '%5D' : ']';
  return enc(base!) + keys.map((k) => open + enc(k) + close).join('');
}

function readPath(params: Params, path: readonly string[]): unknown {
  let node: unknown = params;
  for (const key of path) {
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

const nestedPairs = fc.uniqueArray(fc.tuple(nestedName, value, encoder, fc.boolean()), {
  selector: ([name]) => name.text,
  maxLength: 12,
});

function formOf(pairs: readonly (readonly [{ path: string[] }, string, Encoder, boolean])[]): string[] {
  return pairs.map(([name, v, enc, brackets]) => `${writeName(name.path, enc, brackets)}=${enc(v)}`);
}

describe('parseForm (Stripe) properties', () => {
  it('never throws: any text is params or a named Denial', () => {
    const formish = fc.string({ unit: fc.constantFrom(...'a_[]0=&%2B5D+;é'.match(/./gu)!), maxLength: 40 });
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 60 }), formish), (text) => {
        const r = parseForm(text, limits);
        if (isDenial(r)) {
          expect(r).toBeInstanceOf(Denial);
          expect(r.reason).toBe('body_invalid');
          expect(r.message).toMatch(/\S/);
        } else expect(typeof r).toBe('object');
      }),
      { numRuns: 2000 },
    );
  });

  it('reads every accepted parameter as URLSearchParams does, and accepts every flat body without repeats', () => {
    fc.assert(
      fc.property(nestedPairs, (pairs) => {
        const body = formOf(pairs).join('&');
        const r = parseForm(body, limits);
        const flat = pairs.every(([name]) => name.path.length === 1);
        // A leading raw `?` is refused on purpose: URLSearchParams drops it, Rack keeps it.
        if (flat && !body.startsWith('?')) expect(isDenial(r)).toBe(false);
        if (isDenial(r)) return;
        const oracle = new URLSearchParams(body);
        for (const [name] of pairs) {
          expect(oracle.getAll(name.text)).toHaveLength(1);
          expect(readPath(r, name.path)).toBe(oracle.get(name.text));
        }
      }),
      RUNS,
    );
  });

  it('refuses every body that gives a name twice, however the copy is encoded and wherever it sits', () => {
    fc.assert(
      fc.property(
        nestedPairs.filter((p) => p.length > 0),
        fc.nat(),
        fc.nat(),
        value,
        encoder,
        fc.boolean(),
        (pairs, pick, at, again, enc, brackets) => {
          const parts = formOf(pairs);
          const [name] = pairs[pick % pairs.length]!;
          parts.splice(at % (parts.length + 1), 0, `${writeName(name.path, enc, brackets)}=${enc(again)}`);
          const r = parseForm(parts.join('&'), limits);
          expect(isDenial(r) && r.reason).toBe('body_invalid');
        },
      ),
      RUNS,
    );
  });

  it('reads lists written with [] in order, as URLSearchParams lists them', () => {
    fc.assert(
      fc.property(segment, fc.array(value, { minLength: 1, maxLength: 6 }), encoder, (base, values, enc) => {
        const body = values.map((v) => `${enc(base)}[]=${enc(v)}`).join('&');
        const r = parseForm(body, limits);
        if (body.startsWith('?')) return void expect(r).toMatchObject({ reason: 'body_invalid' });
        if (isDenial(r)) throw new Error(r.message);
        expect(r[base]).toEqual(new URLSearchParams(body).getAll(`${base}[]`));
      }),
      RUNS,
    );
  });
});

describe('parseFlatForm (Twilio) properties', () => {
  const LISTS = new Set(['MediaUrl', 'StatusCallbackEvent']);
  const flatName = fc.oneof(
    segment,
    fc.constantFrom('To', 'From', 'Body', 'MediaUrl', 'StatusCallbackEvent'),
  );
  const flatPairs = fc.uniqueArray(fc.tuple(flatName, value, encoder), {
    selector: ([n]) => foldName(n),
    maxLength: 12,
  });
  const write = (pairs: readonly (readonly [string, string, Encoder])[]) =>
    pairs.map(([n, v, enc]) => `${enc(n)}=${enc(v)}`);

  it('never throws', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (text) => {
        const r = parseFlatForm(text, limits, { lists: LISTS });
        expect(isDenial(r) ? r.reason : typeof r).toBe(isDenial(r) ? 'body_invalid' : 'object');
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts every body without repeats and reads it as URLSearchParams does', () => {
    fc.assert(
      fc.property(flatPairs, (pairs) => {
        const body = write(pairs).join('&');
        const r = parseFlatForm(body, limits, { lists: LISTS });
        if (body.startsWith('?')) return void expect(r).toMatchObject({ reason: 'body_invalid' });
        if (isDenial(r)) throw new Error(r.message);
        const oracle = new URLSearchParams(body);
        for (const [name] of pairs) expect(r[name]).toBe(oracle.get(name));
        expect(Object.keys(r)).toHaveLength(pairs.length);
      }),
      RUNS,
    );
  });

  it('refuses a repeated name unless it is a list, and then reads every copy in order', () => {
    fc.assert(
      fc.property(
        flatPairs.filter((p) => p.length > 0),
        fc.nat(),
        fc.nat(),
        value,
        encoder,
        (pairs, pick, at, again, enc) => {
          const parts = write(pairs);
          const [name] = pairs[pick % pairs.length]!;
          parts.splice(at % (parts.length + 1), 0, `${enc(name)}=${enc(again)}`);
          const body = parts.join('&');
          const r = parseFlatForm(body, limits, { lists: LISTS });
          if (!LISTS.has(name) || body.startsWith('?')) {
            expect(isDenial(r) && r.reason).toBe('body_invalid');
            return;
          }
          if (isDenial(r)) throw new Error(r.message);
          expect(r[name]).toEqual(new URLSearchParams(body).getAll(name));
        },
      ),
      RUNS,
    );
  });

  it('refuses a name that differs only in case from a declared one or from another name', () => {
    const declared = new Map([
      ['to', 'To'],
      ['body', 'Body'],
    ]);
    const variant = fc
      .tuple(fc.constantFrom('To', 'Body'), fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }))
      .map(([n, flips]) => [...n].map((c, i) => (flips[i] ? c.toUpperCase() : c.toLowerCase())).join(''))
      .filter((n) => n !== 'To' && n !== 'Body');
    fc.assert(
      fc.property(variant, fc.boolean(), value, (name, beside, v) => {
        const canonical = declared.get(foldName(name))!;
        const body = `${beside ? `${canonical}=x&` : ''}${encodeURIComponent(name)}=${encodeURIComponent(v)}`;
        expect(parseFlatForm(body, limits, { declared })).toMatchObject({ reason: 'body_invalid' });
        // Without declared names, the pair alone is still two spellings of one name.
        if (beside) expect(parseFlatForm(body, limits)).toMatchObject({ reason: 'body_invalid' });
      }),
      RUNS,
    );
  });
});
