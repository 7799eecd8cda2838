import { describe, expect, it } from 'vitest';
import { lineBreaksRemoved, wrappedRegions } from './line-breaks.ts';

const relevant = new Uint8Array(128);
for (const c of 'ABCabc') relevant[c.charCodeAt(0)] = 1;

describe('line breaks', () => {
  it('takes out raw CR and LF and JSON \\r and \\n escapes, nothing else', () => {
    expect(lineBreaksRemoved(Buffer.from('AB\r\nCD\\r\\nEF\nG\\nH\\tI\\u000a')).toString('latin1')).toBe(
      'ABCDEFGH\\tI\\u000a',
    );
  });

  it('finds the stretches around runs of breaks between relevant characters only, merged', () => {
    const x = 'x'.repeat(100);
    const body = Buffer.from(`${x}A\\r\\nB${x},\n  "c"${x}a\n${x}c\\nb`);
    expect(wrappedRegions(body, relevant, 10)).toEqual([
      [95, 125],
      [body.length - 11, body.length],
    ]);
    expect(wrappedRegions(body, relevant, 300)).toEqual([[0, body.length]]);
    expect(wrappedRegions(Buffer.from('A,\nB "\\n" \\\\nA'), relevant, 10)).toEqual([]);
  });
});
