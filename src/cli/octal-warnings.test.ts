import { describe, expect, it } from 'vitest';
import { octalWarnings } from './octal-warnings.ts';

describe('octalWarnings', () => {
  it.each([
    ['0120', '80', '120'],
    ['010', '8', '10'],
    ['-0_10', '-8', '-10'],
  ])('warns of %s, read as %s', (written, octal, decimal) => {
    expect(octalWarnings(`kind: SpendPolicy\na: ${written}\n`, 'p.yaml')).toEqual([
      `warning: p.yaml line 2: ${written} has a leading 0, so it reads as the octal number ${octal}, as kubectl reads it; write ${octal} if that is meant, or ${decimal} for the decimal`,
    ]);
  });

  it.each([
    ['a quoted one', 'a: "0120"'],
    ['one read the same either way', 'a: [07, 00]'],
    ['an explicit base', 'a: [0o17, 0x1F]'],
    ['one that is not octal (decimal)', 'a: 09'],
    ['a date', 'a: 2026-01-01'],
    ['a key', '0120: a'],
    ['a document with a syntax error', 'a: 0120\nb: [\n'],
  ])('says nothing of %s', (_, text) => {
    expect(octalWarnings(`kind: VaultKey\n${text}\n`, 'p.yaml')).toEqual([]);
  });

  // Seventh round: a Secret's unquoted PIN or underscore-separated token was quoted in the warning,
  // as written, as octal and as decimal, into a CI log ("no secrets").
  it.each([
    ['stringData', 'kind: Secret\nstringData:\n  recoveryPin: 0457312\n'],
    ['data', 'kind: Secret\ndata:\n  pin: 0457312\n'],
    ['a List', 'kind: List\nitems:\n  - kind: Secret\n    stringData: { token: 0123_4567_0123 }\n'],
    ['a document of no kind', 'pin: 0457312\n'],
  ])('never quotes a value of %s', (_, text) => {
    expect(octalWarnings(`kind: SpendPolicy\nspec: { a: 1 }\n---\n${text}`, 'p.yaml')).toEqual([]);
  });
});
