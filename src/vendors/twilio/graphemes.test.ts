import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import GraphemeSplitter from 'grapheme-splitter';
import { describe, expect, it } from 'vitest';
import { CR, graphemeClass, L, LF, LV, LVT, T, V } from './grapheme-classes.ts';
import { graphemeLengths } from './graphemes.ts';

// ---- the oracle: grapheme-splitter 1.0.4 itself, the splitter sms-segments-calculator uses ----------
const splitter = new GraphemeSplitter();
const SOURCE = readFileSync(createRequire(import.meta.url).resolve('grapheme-splitter'), 'utf8');

/**
 * grapheme-splitter's own class of a code point. Its `getGraphemeBreakProperty` is private: it is
 * taken from the package's source with the class numbers declared before it.
 */
const oracleClass = ((): ((code: number) => number) => {
  const classes = SOURCE.slice(SOURCE.indexOf('var CR = 0'), SOURCE.indexOf('// BreakTypes'));
  const start = SOURCE.indexOf('function getGraphemeBreakProperty(code){');
  const body = SOURCE.slice(start, SOURCE.lastIndexOf('return this;'));
  return new Function(`${classes}${body}; return getGraphemeBreakProperty;`)();
})();

describe('graphemeClass', () => {
  // grapheme-splitter tests ranges (`0x300 <= code && code <= 0x36F`) and code points (`0x200D ==
  // code`), so its answer can change only at a literal or just after one; so can the table's, at a
  // range's ends. Comparing at all of these compares at every code point (each 1.1 million calls of
  // grapheme-splitter's chain of comparisons would take seconds).
  it("is grapheme-splitter's class at every code point", () => {
    const literals = (
      SOURCE.slice(SOURCE.indexOf('function getGraphemeBreakProperty')).match(/0x[0-9a-f]+/gi) ?? []
    ).map(Number);
    expect(literals.length).toBeGreaterThan(1000);
    const probes = new Set([0, 0x10ffff]);
    for (const literal of literals) probes.add(literal).add(literal + 1);
    for (let cp = 1; cp <= 0x10ffff; cp++) {
      if (graphemeClass(cp) !== graphemeClass(cp - 1)) probes.add(cp);
    }
    const differing = [...probes]
      .filter((cp) => cp <= 0x10ffff && graphemeClass(cp) !== oracleClass(cp))
      .map((cp) => cp.toString(16));
    expect(differing).toEqual([]);
  });
});

/** Code points of every class grapheme-splitter knows, by its numbering (checked below). */
const BY_CLASS: readonly (readonly number[])[] = [
  [0x0d], // CR
  [0x0a], // LF
  [0x00, 0x1f, 0x200b, 0xd800, 0xdbff, 0xdc00, 0xdfff, 0xe0001], // Control (lone surrogates too)
  [0x0301, 0x0308, 0x200c, 0xfe0f, 0xe0067, 0xe007f, 0x20e3], // Extend
  [0x1f1eb, 0x1f1f7, 0x1f1fa], // Regional_Indicator
  [0x0903, 0x093e, 0x0e33], // SpacingMark
  [0x1100, 0x115f], // L
  [0x1161, 0x11a2], // V
  [0x11a8, 0x11c2], // T
  [0xac00, 0xac1c], // LV
  [0xac01, 0xd7a3], // LVT
  [0x61, 0xe9, 0x436, 0x4e2d, 0x7b, 0x20ac, 0x1f600, 0x1d11e], // Other
  [0x0600, 0x06dd, 0x110bd], // Prepend
  [0x261d, 0x1f44d, 0x1f6b4], // E_Base
  [0x1f3fb, 0x1f3fd, 0x1f3ff], // E_Modifier
  [0x200d], // ZWJ
  [0x2764, 0x1f48b, 0x1f5e8], // Glue_After_Zwj
  [0x1f466, 0x1f469], // E_Base_GAZ
];

describe('graphemeLengths', () => {
  it('draws from every class', () => {
    BY_CLASS.forEach((codePoints, cls) => {
      for (const cp of codePoints) expect([cp.toString(16), oracleClass(cp)]).toEqual([cp.toString(16), cls]);
    });
  });

  const oracle = (text: string) => splitter.splitGraphemes(text).map((g) => g.length);

  it.each([
    ['CR LF is one cluster, CR CR two', '\r\n\r\r\n'],
    ['a letter and its accents', `e${'\u0301'.repeat(30)}x`],
    ['flags pair regional indicators two by two', '🇫🇷🇫🇷🇫'],
    ['a skin tone joins its base, not a letter', '👍🏽a🏽'],
    ['a ZWJ family', '👨‍👩‍👧‍👦 👩‍❤️‍💋‍👨'],
    ['a tag-sequence flag', '🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}'],
    ['Hangul jamo and syllables', '\u1100\u1161\u11a8\uac00\u11a8\uac01\u11c2'],
    // An E_Base joined after a ZWJ, a spacing mark after it: the Extend before them keeps the modifier out.
    ['GB10 looks back over one Extend only', `x\u0301\u200d👩\u0903🏽 👩\u0903🏽`],
    ['a prepended sign', '\u0600a\u0600\u0600b'],
    ['lone surrogates', '\ud800a\udc00\u0301\ud83d'],
  ])('splits as grapheme-splitter does: %s', (_name, text) => {
    expect(graphemeLengths(text)).toEqual(oracle(text));
  });

  /** The texts of exactly `length` code points drawn from `alphabet`, every one of them. */
  function* texts(alphabet: readonly number[], length: number): Generator<string> {
    if (length === 0) {
      yield '';
      return;
    }
    for (const head of texts(alphabet, length - 1)) {
      for (const cp of alphabet) yield head + String.fromCodePoint(cp);
    }
  }

  function mismatches(alphabet: readonly number[], lengths: readonly number[]): string[] {
    const found: string[] = [];
    for (const length of lengths) {
      for (const text of texts(alphabet, length)) {
        if (graphemeLengths(text).join() !== oracle(text).join()) found.push(text);
      }
    }
    return found.slice(0, 5);
  }

  // A split depends on the classes of the code points only (the table is checked above), so one code
  // point of each class stands for all of it.
  const first = BY_CLASS.map((cps) => cps[0]!);

  it('splits every text of up to four code points as grapheme-splitter does', () => {
    expect(mismatches(first, [1, 2, 3, 4])).toEqual([]);
  });

  // The rules that look back over a cluster (GB10, GB12, GB13 and the Regional_Indicator lookahead)
  // decide only after particular classes in a row: Prepend Prepend RI Extend Extend, Extend ZWJ
  // E_Base_GAZ SpacingMark E_Modifier. Hangul and line breaks take no part in them.
  it('splits every text of five code points, Hangul and line breaks aside, as grapheme-splitter does', () => {
    const lookingBack = first.filter((_, cls) => ![CR, LF, L, V, T, LV, LVT].includes(cls));
    expect(lookingBack).toHaveLength(11);
    expect(mismatches(lookingBack, [5])).toEqual([]);
  });

  it('splits any text as grapheme-splitter does', () => {
    const codePoint = fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...BY_CLASS.flat()) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 0x10ffff }) },
    );
    // Runs of one code point: long clusters, long flag and modifier sequences.
    const piece = fc.oneof(
      { weight: 8, arbitrary: codePoint.map((cp) => [cp]) },
      {
        weight: 1,
        arbitrary: fc.tuple(codePoint, fc.integer({ min: 2, max: 40 })).map(([cp, n]) => Array(n).fill(cp)),
      },
    );
    const text = fc.array(piece, { maxLength: 40 }).map((pieces) => String.fromCodePoint(...pieces.flat()));
    fc.assert(
      fc.property(text, (t) => {
        expect(graphemeLengths(t)).toEqual(oracle(t));
      }),
      { numRuns: 5_000 },
    );
  });
});
