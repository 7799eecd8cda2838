import { describe, expect, it } from 'vitest';
import { DEFAULT_TWILIO_PRICES, resolveTwilioPrices, type TwilioPriceOverrides } from './prices.ts';

// From a new-user walkthrough: a zero SMS price made every cap unreachable, a string "0.0118" failed
// every later SMS as a counter-store error, and misspelt fields were dropped without a word.
describe('resolveTwilioPrices', () => {
  it('merges valid overrides per field', () => {
    const p = resolveTwilioPrices({
      countries: { us: { smsPerSegment: 9_000 }, NZ: { voicePerMinute: 80_000 } },
    });
    expect(p.countries['US']).toEqual({ ...DEFAULT_TWILIO_PRICES.countries['US'], smsPerSegment: 9_000 });
    expect(p.countries['NZ']).toEqual({ ...DEFAULT_TWILIO_PRICES.unknownCountry, voicePerMinute: 80_000 });
    expect(resolveTwilioPrices({ lookupFields: { validation: 0 } }).lookupFields['validation']).toBe(0);
  });

  it.each<[string, unknown, RegExp]>([
    [
      'a zero SMS price',
      { countries: { US: { smsPerSegment: 0 } } },
      /countries\.US\.smsPerSegment: .* at least 1/,
    ],
    [
      'a price as a string',
      { countries: { US: { smsPerSegment: '0.0118' } } },
      /expected a whole number.*"0.0118"/,
    ],
    ['a fraction of a micro-USD', { whatsappPerMessage: 1.5 }, /whatsappPerMessage/],
    ['a negative price', { unknownCountry: { voicePerMinute: -5 } }, /unknownCountry\.voicePerMinute/],
    [
      'a misspelt country field',
      { countries: { US: { smsPerSegmnt: 1 } } },
      /countries\.US: unknown field "smsPerSegmnt"/,
    ],
    ['a field at the wrong level', { smsPerSegment: 1 }, /unknown field "smsPerSegment"/],
    ['a country that is no code', { countries: { USA: { smsPerSegment: 1 } } }, /alpha-2/],
    // Twelfth round (probe12-newuser finding 1): each of these was accepted. A code no number resolves
    // to never applied (GB numbers kept the table's rate), and of two spellings of one country the
    // later silently won, so the order of two lines chose between rates 900 000x apart.
    [
      'UK, which is no ISO code (GB is)',
      { countries: { UK: { smsPerSegment: 900_000 } } },
      /"UK" is no country a phone number resolves to .*would never apply; the code for that country is GB/,
    ],
    ['a code that is no country', { countries: { XX: { smsPerSegment: 1 } } }, /"XX" is no country/],
    [
      'a country given twice in different letter case',
      { countries: { US: { smsPerSegment: 900_000 }, us: { smsPerSegment: 1 } } },
      /country US is given twice \("US" and "us"\); country codes are case-insensitive, keep one/,
    ],
    [
      'a country given twice, lower case first',
      { countries: { gb: { smsPerSegment: 1 }, Gb: { voicePerMinute: 1 } } },
      /country GB is given twice \("gb" and "Gb"\)/,
    ],
    ['calls longer than Twilio allows', { defaultCallMinutes: 10_000 }, /at most 1440/],
    // Sixteenth round (probe newuser16 finding 2): a scalar where a mapping goes was merged as a
    // mapping of nothing, so the table's rate priced every call; a null failed with a bare TypeError.
    ['countries as a number', { countries: 5 }, /^twilio price countries: expected a mapping, got 5$/],
    [
      "a country's rates as a number",
      { countries: { GB: 900_000 } },
      /countries\.GB: expected a mapping, got 900000/,
    ],
    [
      "a country's rates left empty",
      { countries: { GB: null } },
      /countries\.GB: expected a mapping, got nothing/,
    ],
    ['countries left empty', { countries: null }, /countries: expected a mapping, got nothing/],
    ['unknownCountry as a number', { unknownCountry: 1_000_000 }, /unknownCountry: expected a mapping/],
    ['lookupFields as a number', { lookupFields: 5 }, /lookupFields: expected a mapping/],
    ['lookupV1Types as a list', { lookupV1Types: [5] }, /lookupV1Types: expected a mapping, got a list/],
    ['the section as a number', 5, /^twilio price: expected a mapping, got 5$/],
  ])('refuses %s', (_name, overrides, message) => {
    expect(() => resolveTwilioPrices(overrides as TwilioPriceOverrides)).toThrow(message);
  });
});

describe('resolveTwilioPrices messages', () => {
  it('names the section and the fields it holds for a misspelt top-level field', () => {
    // It read `twilio price : unknown field "verifyPerVerificatio"`, an empty place before the colon.
    expect(() => resolveTwilioPrices({ verifyPerVerificatio: 60_000 } as TwilioPriceOverrides)).toThrow(
      /^twilio price: unknown field "verifyPerVerificatio" \(expected countries, unknownCountry, .*verifyPerVerification, /,
    );
  });
});
