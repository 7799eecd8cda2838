import { describe, expect, it } from 'vitest';
import { addressList } from './recipients.ts';

describe('addressList', () => {
  it.each([
    ['a bare address, lower-cased', 'Ann@Example.COM', ['ann@example.com']],
    ['a display-name form', 'Ann Lee <ann@example.com>', ['ann@example.com']],
    ['a quoted display name', '"Ann Lee" <Ann@Example.com>', ['ann@example.com']],
    ['a comma-separated string', 'a@x.com, B <b@y.com>', ['a@x.com', 'b@y.com']],
    ['an array', ['a@x.com', 'b@y.com'], ['a@x.com', 'b@y.com']],
    ['an IDN domain in punycode', 'bob@BÜCHER.de', ['bob@xn--bcher-kva.de']],
    ['an already-punycode domain unchanged', 'bob@xn--bcher-kva.de', ['bob@xn--bcher-kva.de']],
    ['a display name with dots and hyphens', 'Ann B. Lee-Smith <ann@example.com>', ['ann@example.com']],
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
    // Found by a security tester: RFC 5322 groups, headers and comments inside one display name,
    // each read as ann@example.com alone while Resend could reach the addresses hidden before it.
    ['groups in the display name', 'A: e1@attacker.com; B: e2@attacker.com; <ann@example.com>'],
    ['a group naming the sender', 'G: ceo@bank.example; <bot@support.example.com>'],
    ['a header injected through the display name', 'X\r\nBcc: evil@attacker.com <ann@example.com>'],
    ['a line feed at the end', 'ann@example.com\n'],
    ['a NUL in the address', 'ann\u0000@example.com'],
    ['a line break in a quoted display name', '"X\r\nBcc: evil@attacker.com" <ann@example.com>'],
    ['an @ in a plain display name', 'evil@attacker.com <ann@example.com>'],
    ['a comment in the display name', 'Ann (evil@attacker.com) <ann@example.com>'],
    ['a backslash in a quoted display name', '"Ann \\" <ann@example.com>'],
    // Sixth round: a reader that splits at every comma, or takes the first address it sees, reads
    // another address out of a quoted name: refused, a quoted "Lee, Ann" with them.
    ['an @ in a quoted display name', '"evil@attacker.com" <ann@example.com>'],
    ['an @ and a comma in a quoted display name', '"evil@attacker.com, " <ann@example.com>'],
    ['a comma in a quoted display name', '"Lee, Ann" <ann@example.com>'],
    // Dropped by IDNA mapping: Keybrake would check example.com while the raw domain travels on.
    ['a soft hyphen in the domain', 'ann@exa\u00ADmple.com'],
    ['a zero-width space in the domain', 'ann@exa\u200Bmple.com'],
    ['a zero-width joiner in the domain', 'ann@exa\u200Dmple.com'],
    ['a combining grapheme joiner in the domain', 'ann@exa\u034Fmple.com'],
    ['a full-width letter in the domain', 'ann@\uFF45xample.com'],
    // Sixth round: IDNA 2008 and transitional IDNA read these as two domains (xn--strae-oqa.de and
    // strasse.de; a final ς or σ); one was judged while the vendor might send to the other.
    ['a capital sharp s in the domain', 'x@STRA\u1E9EE.de'],
    ['a sharp s in the domain', 'x@stra\u00dfe.de'],
    ['a final sigma in the domain', 'x@example.\u03c3\u03af\u03c3\u03c5\u03c6\u03bf\u03c2'],
    [
      'a capital sigma that lower-cases to a final one',
      'x@example.\u03a3\u038a\u03a3\u03a5\u03a6\u039f\u03a3',
    ],
    // Fifth round: String.trim dropped these, so each was judged as ann@example.com while Resend
    // received the raw value. Only ASCII spaces are trimmed.
    ['a no-break space before the address', '\u00a0ann@example.com'],
    ['a byte-order mark after the address', 'ann@example.com\ufeff'],
    ['an ideographic space after the address', 'ann@example.com\u3000'],
    ['a no-break space inside the brackets', 'Ann <\u00a0ann@example.com>'],
    ['a no-break space before a quoted display name', '\u00a0"Ann" <ann@example.com>'],
    ['a no-break space between two listed addresses', 'a@example.com,\u00a0b@example.com'],
    ['a lone no-break space among the entries', ['a@example.com', '\u00a0']],
    // Seventh round: judged as ann@example.com alone, while a reader that folds (NFKC) reads two
    // mailboxes, or another sender before the bracketed one.
    ['a full-width at sign and comma in the display name', 'evil\uff20x.com\uff0c<ann@example.com>'],
    ['a small at sign in the display name', 'ceo\ufe6bbank.com <a@support.example.com>'],
    ['a full-width at sign in the local part', 'evil\uff20x.com@example.com'],
  ])('refuses %s', (_name, value) => {
    expect(addressList(value)).toBeUndefined();
  });
});
