import { describe, expect, it } from 'vitest';
import { trimOws } from './http-whitespace.ts';

describe('trimOws', () => {
  it.each([
    ['identity', 'identity'],
    [' \tidentity \t', 'identity'],
    ['a b', 'a b'],
    ['', ''],
    [' \t ', ''],
  ])('trims spaces and tabs around %j', (value, trimmed) => {
    expect(trimOws(value)).toBe(trimmed);
  });

  it.each([
    ['a no-break space', 'identity\u00a0'],
    ['a leading no-break space', '\u00a0identity'],
    ['a byte-order mark', '\ufeffidentity'],
    ['an ideographic space', 'identity\u3000'],
    ['a vertical tab', 'identity\v'],
    ['a line feed', 'identity\n'],
  ])('keeps %s, which is not HTTP whitespace', (_, value) => {
    expect(trimOws(value)).toBe(value);
  });

  it('keeps what is inside the optional whitespace', () => {
    expect(trimOws(' \u00a0acct_1 ')).toBe('\u00a0acct_1');
  });
});
