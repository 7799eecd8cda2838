import { describe, expect, it } from 'vitest';
import { isBlank, partyId, spaceTrimmed } from './parameter-spaces.ts';

describe('spaceTrimmed', () => {
  it.each([
    ['cus_1', 'cus_1'],
    ['  cus_1  ', 'cus_1'],
    ['Ann Lee', 'Ann Lee'],
    ['a\u00a0b', 'a\u00a0b'],
    ['', ''],
    ['   ', ''],
  ])('trims the ASCII spaces around %j', (value, trimmed) => {
    expect(spaceTrimmed(value)).toBe(trimmed);
  });

  it.each([
    ['a no-break space after', 'cus_1\u00a0'],
    ['a no-break space before, inside ASCII spaces', ' \u00a0cus_1 '],
    ['a byte-order mark', '\ufeffcus_1'],
    ['a line separator', '+19005550123\u2028'],
    ['an ideographic space', 'cus_1\u3000'],
    ['a zero-width space', '\u200bcus_1'],
    ['a tab', '\tcus_1'],
    ['a line feed', 'cus_1\n'],
    ['a NUL', 'cus_1\u0000'],
    ['a C1 control', '\u0085cus_1'],
    ['an astral format character', 'cus_1\u{e0001}'],
  ])('refuses a value with %s', (_, value) => {
    expect(spaceTrimmed(value)).toBeUndefined();
  });
});

describe('isBlank', () => {
  it.each([
    ['', true],
    ['   ', true],
    ['\u00a0', false],
    ['\t', false],
    [' x ', false],
  ])('%j is blank: %s', (value, blank) => {
    expect(isBlank(value)).toBe(blank);
  });
});

describe('partyId', () => {
  it.each([
    ['acct_good1', 'acct_good1'],
    ['  cus_1 ', 'cus_1'],
    ['', ''],
  ])('reads %j as %j', (value, id) => {
    expect(partyId(value)).toBe(id);
  });

  it.each([
    ['a no-break space around it', 'acct_good\u00a0'],
    ['a zero-width space inside', 'acct_good\u200b1'],
    ['a no-break space inside', 'acct_\u00a0good'],
    ['a line feed inside', 'acct_go\nod'],
    ['an ASCII space inside', 'acct_go od'],
  ])('refuses an id with %s', (_, value) => {
    expect(partyId(value)).toBeUndefined();
  });
});
