import { describe, expect, it } from 'vitest';
import { escapedRegions, jsonUnescaped, latin1Narrowed, percentUnescaped } from './escapes.ts';

const text = (bytes: Buffer) => bytes.toString('latin1');

describe('escapes', () => {
  it('decodes JSON \\u and \\/ escapes, and leaves the rest as it is', () => {
    expect(text(jsonUnescaped(Buffer.from('a\\u0041\\u004a\\/\\n\\u00e9\\u0141\\u12\\')))).toBe(
      'aAJ/\\n\u00e9\u0000\\u12\\',
    );
  });

  it('decodes percent-escapes in either case, and leaves a broken one as it is', () => {
    expect(text(percentUnescaped(Buffer.from('%41%4a%4A%%2541%e9%4')))).toBe('AJJ%%41\u00e9%4');
  });

  it('reads a text as Latin-1, a character past U+00FF as NUL', () => {
    expect([...latin1Narrowed('A\u00e9\u0141')]).toEqual([0x41, 0xe9, 0]);
  });

  it('finds the stretches around the escapes of relevant characters only, merged', () => {
    const relevant = new Uint8Array(128);
    relevant[0x41] = 1;
    const body = Buffer.from(
      `${'x'.repeat(100)}%41%20${'x'.repeat(100)}\\u0041 %20\\u00e9${'x'.repeat(100)}`,
    );
    expect(escapedRegions(body, relevant, 10)).toEqual([
      [92, 122],
      [201, 231],
    ]);
    expect(escapedRegions(body, relevant, 60)).toEqual([[42, body.length]]);
    expect(escapedRegions(Buffer.from('%20\\u00e9 %4 \\u41'), relevant, 10)).toEqual([]);
  });
});
