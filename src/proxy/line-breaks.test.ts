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
    // From `radius` before the run's first break to twice `radius` past its last.
    expect(wrappedRegions(body, relevant, relevant, 10)).toEqual([
      [91, 125],
      [body.length - 13, body.length],
    ]);
    expect(wrappedRegions(body, relevant, relevant, 300)).toEqual([[0, body.length]]);
    expect(wrappedRegions(Buffer.from('A,\nB "\\n" \\\\nA'), relevant, relevant, 10)).toEqual([]);
  });

  // Tenth round: the stretch was measured from the run's end, so a run of 1000 `\n` escapes put the
  // part of a form before it out of reach; a MIME decoder skips any number of breaks.
  it('reaches past a run of any length, and along a run that goes on past the bytes it skips', () => {
    const x = 'x'.repeat(100);
    const escaped = '\\n'.repeat(5000);
    const body = Buffer.from(`${x}A${escaped}B${x}`);
    expect(wrappedRegions(body, relevant, relevant, 10)).toEqual([[91, 101 + escaped.length + 20]]);
    // A second run begins among the 10 bytes skipped past the first and goes on past them: the
    // stretch follows it to its end, whether its breaks are raw or escaped.
    for (const br of ['\n', '\r\n', '\\n', '\\r\\n']) {
      const long = br.repeat(3000);
      const twice = Buffer.from(`${x}A${br}Bc${long}a${x}`);
      const end = 101 + br.length + 2 + long.length;
      expect(wrappedRegions(twice, relevant, relevant, 10)).toEqual([[91, end + 20]]);
    }
  });
});
