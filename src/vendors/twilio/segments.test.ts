import { createRequire } from 'node:module';
import fc from 'fast-check';
import { SegmentedMessage } from 'sms-segments-calculator';
import { describe, expect, it } from 'vitest';
import {
  calculatorSegments,
  MAX_BODY_LENGTH,
  MAX_SEGMENTS,
  maxSegments,
  smsSegments,
  smsSegmentsAppended,
} from './segments.ts';

describe('smsSegments', () => {
  it.each([
    ['160 GSM-7 characters fit one segment', 'x'.repeat(160), 'GSM-7', 1],
    ['161 GSM-7 characters need two', 'x'.repeat(161), 'GSM-7', 2],
    ['306 GSM-7 characters fit two 153-character parts', 'x'.repeat(306), 'GSM-7', 2],
    ['307 GSM-7 characters need three', 'x'.repeat(307), 'GSM-7', 3],
    ['a check mark forces UCS-2 but stays one segment', 'Hello ✓', 'UCS-2', 1],
    ['70 UCS-2 characters fit one segment', '✓'.repeat(70), 'UCS-2', 1],
    ['71 UCS-2 characters need two', '✓'.repeat(71), 'UCS-2', 2],
    ['GSM-7 extension characters count twice', '€'.repeat(81), 'GSM-7', 2],
    ['an empty body is still one segment', '', 'GSM-7', 1],
  ])('%s', (_name, body, encoding, segments) => {
    expect(smsSegments(body)).toEqual({ encoding, segments });
  });

  // Third probe round: the bound was 24 (1600 / 67), but a part never splits a surrogate pair.
  it.each([
    ['800 emoji', '😀'.repeat(800)],
    ['one UCS-2 character before 799 emoji', `✓${'😀'.repeat(799)}`],
    ['1600 UCS-2 characters', '✓'.repeat(1600)],
    ['1600 GSM-7 extension characters', '€'.repeat(1600)],
  ])('MAX_SEGMENTS bounds %s, the longest body Twilio accepts', (_name, body) => {
    expect(body.length).toBeLessThanOrEqual(MAX_BODY_LENGTH);
    expect(smsSegments(body).segments).toBeLessThanOrEqual(MAX_SEGMENTS);
  });

  // Fourth probe round: sms-segments-calculator never splits a grapheme cluster, so one cluster longer
  // than a part counted as one part; a segment carries 140 octets whatever the characters mean.
  it.each([
    ["the tester's body: a and 1599 combining accents (one cluster)", `a${'\u0301'.repeat(1599)}`, 24],
    ['a and 1599 zero-width joiners', `a${'\u200d'.repeat(1599)}`, 24],
    // Each part: an emoji, 21 joiner-and-emoji pairs and a joiner (66 units); the next emoji does not fit.
    ['a ZWJ chain of 533 emoji (1598 units)', `👩${'\u200d👩'.repeat(532)}`, 25],
    // A black flag and 799 tag characters: 800 surrogate pairs, 33 to a part.
    ['a tag-sequence flag of 800 code points', `🏴${'\u{E0067}'.repeat(798)}\u{E007F}`, 25],
    // One accented letter written as a long combining sequence makes the whole text UCS-2: 401 units.
    ['GSM-7 text with one long combining sequence', `${'x'.repeat(100)}e${'\u0301'.repeat(300)}`, 6],
  ])('counts by code units: %s', (_name, body, segments) => {
    expect(smsSegments(body)).toEqual({ encoding: 'UCS-2', segments });
  });

  it('bounds every body by maxSegments of its length', () => {
    for (let bmp = 0; bmp < 140; bmp++) {
      const body = `${'✓'.repeat(bmp)}${'😀'.repeat(700)}`;
      expect(smsSegments(body).segments).toBeLessThanOrEqual(maxSegments(body.length));
    }
    expect(MAX_SEGMENTS).toBe(25);
  });

  // Fifth round: the package splits graphemes in quadratic time (a 4000-character <Sms> took 35 ms).
  it('bounds a body longer than Twilio takes by maxSegments, without counting it', () => {
    expect(smsSegments('x'.repeat(MAX_BODY_LENGTH + 1))).toEqual({
      encoding: 'GSM-7',
      segments: maxSegments(MAX_BODY_LENGTH + 1),
    });
    expect(smsSegments('é'.repeat(4000)).segments).toBe(maxSegments(4000));
    expect(smsSegmentsAppended('✓'.repeat(4000), 640)).toEqual({
      alone: maxSegments(4000),
      appended: maxSegments(4640),
    });
  });
});

describe('smsSegmentsAppended', () => {
  it.each([
    ['96 GSM-7 characters and a 64-character link fit one segment', 'x'.repeat(96), 64, 1, 1],
    ['97 GSM-7 characters and a link need two', 'x'.repeat(97), 64, 1, 2],
    ['a UCS-2 text: the link counts 64 UTF-16 units', '✓'.repeat(10), 64, 1, 2],
    ['ten links after a full UCS-2 part', '✓'.repeat(67), 640, 1, 11],
    ['no body: the links alone', '', 640, 1, 5],
    ['nothing appended', 'x'.repeat(161), 0, 2, 2],
  ])('%s', (_name, body, appended, alone, withAppended) => {
    expect(smsSegmentsAppended(body, appended)).toEqual({ alone, appended: withAppended });
  });

  // The package keeps the first character after a prepended sign in its cluster: with 1136 GSM-7
  // characters and three signs, the joined cluster moves whole to a 20th part, and the text needs 21.
  it.each([
    ['a prepended sign', `${'x'.repeat(1136)}${'\u0600'.repeat(3)}`, 199],
    ['a prepended sign beyond the BMP', `${'x'.repeat(1001)}${'\u{110BD}'.repeat(2)}`, 64],
  ])('counts the first appended character in the cluster of %s', (_name, body, appended) => {
    const written = `${body}${'x'.repeat(appended)}`;
    expect(smsSegmentsAppended(body, appended).appended).toBeGreaterThanOrEqual(
      new SegmentedMessage(written).segmentsCount,
    );
  });

  // Fifth round: 998 MediaUrl were counted as a 64 000-character text (15.6 s of event loop).
  it('counts what is appended without writing it out', () => {
    // 640 million characters are more than a string can hold: building them would throw.
    expect(smsSegmentsAppended('hi', 640_000_000).appended).toBe(1 + Math.ceil((640_000_000 - 151) / 153));
  });
});

// Fifth round: the package took 3 to 11 ms for a 1600-character body (its grapheme split is
// quadratic), so its count is computed without it; it stays the oracle here.
describe('calculatorSegments', () => {
  const packageCount = (body: string) => new SegmentedMessage(body).segmentsCount;
  // 68 UCS-2 characters (1088 bits): the first part is all but full.
  const nearlyFull = '✓'.repeat(68);

  it.each([
    ['nothing', ''],
    ['160 septets, one part', 'x'.repeat(160)],
    ['161: the first part takes its header and its last septets move on', 'x'.repeat(161)],
    ['an extension character moves whole', `${'x'.repeat(152)}€${'x'.repeat(160)}`],
    ['CR LF is two characters, not one cluster', `${'\r\n'.repeat(80)}x`],
    ['a GSM-7 character in a UCS-2 text takes 16 bits', `✓${'x'.repeat(69)}`],
    ['a cluster longer than a part leaves the first part empty', `a${'\u0301'.repeat(1599)}`],
    [
      'clusters moved on with the header, then one that overfills their part',
      `${nearlyFull}a${'\u0301'.repeat(66)}x`,
    ],
    ['800 emoji', '😀'.repeat(800)],
    ['skin tones, flags and a ZWJ family', `${'👍🏽🇫🇷👨‍👩‍👧‍👦'.repeat(90)}`],
  ])('counts as the package does: %s', (_name, body) => {
    expect(calculatorSegments(body)).toBe(packageCount(body));
  });

  it("reads GSM-7 as the package's table does, for every UTF-16 unit", () => {
    const require = createRequire(import.meta.url);
    const table: Readonly<Record<number, readonly number[]>> =
      require('sms-segments-calculator/dist/libs/UnicodeToGSM.js').default;
    // 81 of one character: one part in GSM-7, two in UCS-2 or as extension characters (162 septets);
    // 80 extension characters fit one part. The encoding Keybrake reads from the same table.
    const differing: string[] = [];
    for (let unit = 0; unit <= 0xffff; unit++) {
      const char = String.fromCharCode(unit);
      const septets = table[unit]?.length ?? 0;
      const parts = [
        calculatorSegments(char.repeat(81)),
        septets === 2 ? calculatorSegments(char.repeat(80)) : 1,
      ];
      const gsm = smsSegments(char).encoding === 'GSM-7';
      if (parts.join() !== (septets === 1 ? '1,1' : '2,1') || gsm !== septets > 0)
        differing.push(unit.toString(16));
    }
    expect(differing).toEqual([]);
  });

  it('counts any text as the package does', () => {
    const character = fc.constantFrom(
      ...'@£$¥èéÇ\nØ\rΔ_ÆÉ !"#%&()*+-./09:;<=>?¡AZÄÖÑÜ§¿azäöñüà', // GSM-7
      ...'\f^{}\\[~]|€', // GSM-7 extension
      ...'áçÿ`ЖжЯ中文字한', // Latin-1 outside GSM-7, Cyrillic, CJK, Hangul
      '\r\n',
      '\u0301', // a combining accent
      '\u0903', // a spacing mark
      '\u0600', // a prepended sign
      '\u200d', // a zero-width joiner
      '\ud83d', // a lone surrogate
      '😀',
      '👍',
      '🏽', // a skin tone
      '👩',
      '❤',
      '🇫',
      '🇷',
      '🏴\u{E0067}\u{E0062}\u{E007F}', // a tag sequence
      '👨‍👩‍👧‍👦',
    );
    // Runs of one character too: long clusters, long sequences of flags or tones.
    const piece = fc.oneof(
      { weight: 6, arbitrary: character },
      {
        weight: 1,
        arbitrary: fc.tuple(character, fc.integer({ min: 2, max: 400 })).map(([c, n]) => c.repeat(n)),
      },
    );
    const body = fc
      .array(piece, { maxLength: 400 })
      .map((pieces) => pieces.join('').slice(0, MAX_BODY_LENGTH));
    fc.assert(
      fc.property(body, (b) => {
        expect(calculatorSegments(b)).toBe(packageCount(b));
      }),
      { numRuns: 1000 },
    );
  });
});

// ---- an independent reference: the text encoded as it travels (septets or UTF-16), cut into parts --
const ESCAPE = 0x1b;
const GSM_DEFAULT =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u001bÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM_SHIFTED: Readonly<Record<string, number>> = {
  '\f': 0x0a,
  '^': 0x14,
  '{': 0x28,
  '}': 0x29,
  '\\': 0x2f,
  '[': 0x3c,
  '~': 0x3d,
  ']': 0x3e,
  '|': 0x40,
  '€': 0x65,
};

/** The GSM 03.38 septets of `body`, or undefined when a character has none. */
function gsmSeptets(body: string): number[] | undefined {
  const septets: number[] = [];
  for (let i = 0; i < body.length; i++) {
    const char = body[i]!;
    const code = GSM_DEFAULT.indexOf(char);
    if (code >= 0 && code !== ESCAPE) septets.push(code);
    else if (char in GSM_SHIFTED) septets.push(ESCAPE, GSM_SHIFTED[char]!);
    else return undefined;
  }
  return septets;
}

/**
 * Cuts `units` into parts of at most `part` (after checking `single`), pulling a cut back by one where
 * it would fall inside an escape sequence or a surrogate pair.
 */
function cut(
  units: readonly number[],
  single: number,
  part: number,
  inside: (at: number) => boolean,
): number {
  if (units.length <= single) return 1;
  let parts = 0;
  for (let start = 0; start < units.length; parts++) {
    let end = Math.min(start + part, units.length);
    if (end < units.length && inside(end)) end--;
    start = end;
  }
  return parts;
}

function referenceSegments(body: string): number {
  const septets = gsmSeptets(body);
  if (septets !== undefined) {
    return cut(septets, 160, 153, (at) => septets[at - 1] === ESCAPE);
  }
  const units = Array.from({ length: body.length }, (_, i) => body.charCodeAt(i));
  const high = (u: number | undefined) => u !== undefined && u >= 0xd800 && u <= 0xdbff;
  const low = (u: number | undefined) => u !== undefined && u >= 0xdc00 && u <= 0xdfff;
  return cut(units, 70, 67, (at) => high(units[at - 1]) && low(units[at]));
}

describe('smsSegments against the reference', () => {
  const gsm = fc.constantFrom(...'@£$¥èéÇ\nØ\rΔ_ÆÉ !"#%&()*+-./09:;<=>?¡AZÄÖÑÜ§¿azäöñüà');
  const extension = fc.constantFrom(...'\f^{}\\[~]|€');
  const ucs = fc.constantFrom('ą', 'Ж', '中', '’', '😀', '𝄞', '🇫🇷', '👍🏽', '👨‍👩‍👧‍👦', '\u0600');
  // What sticks to the character before it in one grapheme cluster, whatever its length.
  const glue = fc.constantFrom('\u0301', '\u0308', '\u200d', '\u200d😀', '\u{E0067}', '\uFE0F', '\u{1F3FD}');
  const piece = fc.oneof(
    { weight: 6, arbitrary: gsm },
    { weight: 2, arbitrary: extension },
    { weight: 1, arbitrary: ucs },
    { weight: 3, arbitrary: fc.tuple(glue, fc.integer({ min: 1, max: 400 })).map(([g, n]) => g.repeat(n)) },
  );
  const body = fc
    .oneof(
      fc.array(piece, { maxLength: 200 }).map((p) => p.join('')),
      fc.array(fc.oneof(gsm, extension), { maxLength: 1600 }).map((p) => p.join('')),
    )
    .map((b) => b.slice(0, MAX_BODY_LENGTH));

  it('never counts fewer segments than the text needs on the wire', () => {
    // The reference itself, on cases worked out by hand.
    expect(referenceSegments(`a${'\u0301'.repeat(1599)}`)).toBe(24);
    expect(referenceSegments('😀'.repeat(67))).toBe(3);
    expect(referenceSegments(`${'x'.repeat(152)}€${'x'.repeat(152)}`)).toBe(3);
    expect(referenceSegments('x'.repeat(160))).toBe(1);
    expect(referenceSegments('€'.repeat(81))).toBe(2);
    fc.assert(
      fc.property(body, (b) => {
        expect(smsSegments(b).segments).toBeGreaterThanOrEqual(referenceSegments(b));
      }),
      { numRuns: 2000 },
    );
  });

  it('counts a text with links appended at least as the wire and the package count it written out', () => {
    fc.assert(
      fc.property(body, fc.integer({ min: 0, max: 640 }), (b, appended) => {
        const written = `${b}${'x'.repeat(appended)}`;
        const counted = smsSegmentsAppended(b, appended);
        expect(counted.alone).toBe(smsSegments(b).segments);
        expect(counted.appended).toBeGreaterThanOrEqual(referenceSegments(written));
        expect(counted.appended).toBeGreaterThanOrEqual(new SegmentedMessage(written).segmentsCount);
      }),
      // Each run segments a text of up to 2240 characters three times.
      { numRuns: 300 },
    );
  });
});
