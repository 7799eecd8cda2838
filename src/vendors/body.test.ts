import { describe, expect, it } from 'vitest';
import { isDenial } from '../decision/reasons.ts';
import { bodyText, codingDenial, isContentType } from './body.ts';

describe('isContentType', () => {
  it.each([
    ['application/x-www-form-urlencoded', 'form', true],
    ['Application/X-WWW-Form-URLEncoded', 'form', true],
    ['application/x-www-form-urlencoded; charset=utf-8', 'form', true],
    ['application/x-www-form-urlencoded;charset=UTF-8', 'form', true],
    ['application/x-www-form-urlencoded; charset="utf-8"', 'form', true],
    ['application/x-www-form-urlencoded;', 'form', true],
    ['application/json', 'json', true],
    ['application/json; charset=utf-8', 'json', true],
    ['application/json', 'form', false],
    ['application/x-www-form-urlencoded', 'json', false],
    ['application/x-www-form-urlencoded; charset=iso-8859-1', 'form', false],
    ['application/x-www-form-urlencoded; charset=utf8', 'form', false],
    ['application/json; charset=utf-16', 'json', false],
    ['application/json; charset=utf-8; charset=utf-8', 'json', false],
    ['application/json; boundary=x', 'json', false],
    ['application/json; charset', 'json', false],
    ['multipart/form-data; boundary=XX', 'form', false],
    ['text/plain', 'form', false],
    ['text/plain', 'json', false],
    ['application/json-patch+json', 'json', false],
    ['application/jsonx', 'json', false],
    ['', 'json', false],
    [undefined, 'json', false],
  ] as const)('%s as %s: %s', (header, type, expected) => {
    expect(isContentType(header, type)).toBe(expected);
  });

  // Spaces and tabs are HTTP's optional whitespace; a vendor reading the media type strictly (Rack:
  // ASCII whitespace only) takes no other, and would ignore a body Keybrake priced.
  it.each([
    ['spaces and tabs around the type', ' \tapplication/x-www-form-urlencoded \t', 'form', true],
    [
      'spaces and tabs around the parameter',
      'application/x-www-form-urlencoded ;\tcharset = utf-8 ',
      'form',
      true,
    ],
    ['a no-break space after the type', 'application/x-www-form-urlencoded\u00a0', 'form', false],
    ['a no-break space before the type', '\u00a0application/x-www-form-urlencoded', 'form', false],
    [
      'a no-break space after the charset',
      'application/x-www-form-urlencoded; charset=utf-8\u00a0',
      'form',
      false,
    ],
    [
      'a no-break space before the parameter',
      'application/x-www-form-urlencoded;\u00a0charset=utf-8',
      'form',
      false,
    ],
    ['a no-break space after the JSON type', 'application/json\u00a0', 'json', false],
    ['a byte-order mark before the JSON type', '\ufeffapplication/json', 'json', false],
    ['an ideographic space after the JSON type', 'application/json\u3000', 'json', false],
  ] as const)('%s: %j as %s is %s', (_, header, type, expected) => {
    expect(isContentType(header, type)).toBe(expected);
  });
});

describe('codingDenial', () => {
  it.each([
    [{}, false],
    [{ 'content-encoding': 'identity' }, false],
    [{ 'content-encoding': 'Identity ' }, false],
    [{ 'content-encoding': 'gzip' }, true],
    [{ 'content-encoding': 'deflate' }, true],
    [{ 'content-encoding': 'br' }, true],
    [{ 'content-encoding': 'identity, gzip' }, true],
    [{ 'content-encoding': '' }, true],
    [{ 'content-encoding': '\tidentity ' }, false],
    [{ 'content-encoding': 'identity\u00a0' }, true],
    [{ 'content-encoding': '\ufeffidentity' }, true],
    // Eleventh round: node undoes only chunked; any other transfer coding reached the vendor's side.
    [{ 'transfer-encoding': 'chunked' }, false],
    [{ 'transfer-encoding': 'Chunked ' }, false],
    [{ 'transfer-encoding': 'gzip, chunked' }, true],
    [{ 'transfer-encoding': 'x-anything, chunked' }, true],
    [{ 'transfer-encoding': 'chunked, chunked' }, true],
    [{ 'transfer-encoding': 'identity, chunked' }, true],
    [{ 'transfer-encoding': ', chunked' }, true],
    [{ 'transfer-encoding': 'gzip' }, true],
    [{ 'content-encoding': 'identity', 'transfer-encoding': 'deflate, chunked' }, true],
  ])('%j refused: %s', (headers, refused) => {
    const r = codingDenial(headers);
    expect(r !== undefined).toBe(refused);
    if (r) expect(r.reason).toBe('body_invalid');
  });
});

describe('bodyText', () => {
  const form = { 'content-type': 'application/x-www-form-urlencoded' };

  it('decodes UTF-8', () => {
    expect(bodyText(form, Buffer.from('d=café'), 'form')).toBe('d=café');
  });

  it.each([
    ['no content type', {}, Buffer.from('a=1'), /needs Content-Type: application\/x-www-form-urlencoded/],
    [
      'another content type',
      { 'content-type': 'application/json' },
      Buffer.from('a=1'),
      /must be application/,
    ],
    ['invalid UTF-8', form, Buffer.from([0x61, 0x3d, 0xe9]), /not valid UTF-8/],
    ['an overlong UTF-8 sequence', form, Buffer.from([0x61, 0x3d, 0xc0, 0xaf]), /not valid UTF-8/],
    ['a UTF-8 byte-order mark', form, Buffer.from([0xef, 0xbb, 0xbf, 0x61, 0x3d, 0x31]), /byte-order mark/],
  ])('refuses %s', (_name, headers, body, message) => {
    const r = bodyText(headers, body, 'form');
    expect(isDenial(r) && r.reason).toBe('body_invalid');
    expect(isDenial(r) && r.message).toMatch(message);
  });
});
