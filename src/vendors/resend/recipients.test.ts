import { describe, expect, it } from 'vitest';
import { addressList } from './recipients.ts';

describe('addressList', () => {
  it.each([
    ['a bare address, lower-cased', 'Ann@Example.COM', ['ann@example.com']],
    ['a display-name form', 'Ann Lee <ann@example.com>', ['ann@example.com']],
    ['a quoted display name with a comma', '"Lee, Ann" <Ann@Example.com>', ['ann@example.com']],
    ['a comma-separated string', 'a@x.com, B <b@y.com>', ['a@x.com', 'b@y.com']],
    ['an array', ['a@x.com', 'b@y.com'], ['a@x.com', 'b@y.com']],
    ['an IDN domain in punycode', 'bob@BÜCHER.de', ['bob@xn--bcher-kva.de']],
    ['an already-punycode domain unchanged', 'bob@xn--bcher-kva.de', ['bob@xn--bcher-kva.de']],
    ['a quoted display name holding an @', '"ann@example.com" <evil@attacker.com>', ['evil@attacker.com']],
    ['blanks around the brackets', '  Ann <  ann@example.com  >  ', ['ann@example.com']],
    ['nothing for null', null, []],
    ['nothing for an absent field', undefined, []],
    ['empty entries dropped', ['a@x.com', ''], ['a@x.com']],
  ])('reads %s', (_name, value, expected) => {
    expect(addressList(value)).toEqual(expected);
  });

  it.each([
    ['a number', 42],
    ['an object', { email: 'a@x.com' }],
    ['an array with a non-string', ['a@x.com', 1]],
    // Found by an adversarial probe: each was read as @example.com, while Resend could send to the
    // other address it names.
    ['text after the bracketed address', 'Name <evil@attacker.com> ok@example.com'],
    ['two bracketed addresses', '<evil@attacker.com> <ok@example.com>'],
    ['a semicolon between two addresses', 'evil@attacker.com;ok@example.com'],
    ['two @ in one address', 'evil@attacker.com@example.com'],
    ['a blank inside an address', 'evil@attacker.com ok@example.com'],
    ['a value without @', 'Nobody'],
    ['a quoted local part', '"a b"@example.com'],
    ['an unclosed quote in the display name', '"Ann <ann@example.com>'],
    ['brackets with nothing in them', 'Ann <>'],
    ['one bad mailbox among good ones', ['a@example.com', 'Name <evil@attacker.com> b@example.com']],
  ])('refuses %s', (_name, value) => {
    expect(addressList(value)).toBeUndefined();
  });
});
