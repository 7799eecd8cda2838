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
    ['a value without @ kept, lower-cased, so no domain pattern matches it', 'Nobody', ['nobody']],
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
  ])('refuses %s', (_name, value) => {
    expect(addressList(value)).toBeUndefined();
  });
});
