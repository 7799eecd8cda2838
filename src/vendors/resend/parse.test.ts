import { describe, expect, it } from 'vitest';
import type { VendorRequest } from '../types.ts';
import { ITEMS, parseResend } from './parse.ts';

const limits = { maxBytes: 1000, maxDepth: 3, maxParams: 5 };
const json = { 'content-type': 'application/json' };
const req = (method = 'POST', query = '', headers: Record<string, string> = json): VendorRequest => ({
  method,
  path: '/emails',
  query,
  headers,
});
const parse = (text: string, r = req()) => parseResend(r, Buffer.from(text), limits);

describe('parseResend', () => {
  it.each([
    ['an object as is', '{"to":"a@x.com"}', { to: 'a@x.com' }],
    ['an empty body as an empty object', '', {}],
    ['a top-level array wrapped', '[{"to":"a"}]', { [ITEMS]: [{ to: 'a' }] }],
    ['depth at the limit', '{"a":{"b":{"c":1}}}', { a: { b: { c: 1 } } }],
    [
      'other upper-case names, read by no allowlist',
      '{"headers":{"X-To":"1"}}',
      { headers: { 'X-To': '1' } },
    ],
    ['null headers', '{"headers":null}', { headers: null }],
    ['a tab in a header value', '{"headers":{"X-A":"a\\tb"}}', { headers: { 'X-A': 'a\tb' } }],
  ])('accepts %s', (_name, text, expected) => {
    expect(parse(text)).toEqual(expected);
  });

  it.each([
    ['charset=utf-8', req('POST', '', { 'content-type': 'application/json; charset=utf-8' }), '{"to":"a"}'],
    ['a DELETE with a JSON body (resend-node)', req('DELETE'), '{"id":"x"}'],
    ['a GET with a JSON content type and no body (resend-node)', req('GET', 'limit=10&after=x'), ''],
  ])('accepts %s', (_name, r, text) => {
    expect(parse(text, r)).not.toMatchObject({ reason: expect.any(String) });
  });

  it.each([
    ['invalid JSON', '{"to":', 'body_invalid'],
    ['a scalar', '"hello"', 'body_invalid'],
    ['null', 'null', 'body_invalid'],
    ['whitespace only', '  ', 'body_invalid'],
    ['nesting beyond the limit', '{"a":{"b":{"c":{"d":1}}}}', 'body_invalid'],
    ['arrays nesting beyond the limit', '[[[[1]]]]', 'body_invalid'],
    ['too many values', '{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6}', 'body_invalid'],
    ['more bytes than allowed', `{"a":"${'x'.repeat(1000)}"}`, 'body_too_large'],
    ['a duplicated to', '{"to":"a@x.com","to":"evil@x.com"}', 'body_invalid'],
    ['to and To', '{"to":"a@x.com","To":"evil@x.com"}', 'body_invalid'],
    ['an escaped duplicate of to', '{"to":"a@x.com","\\u0074o":"evil@x.com"}', 'body_invalid'],
    ['a repeated key in a batch element', '[{"bcc":"a","bcc":"b"}]', 'body_invalid'],
    ['a repeated key in nested headers', '{"headers":{"X":"1","X":"2"}}', 'body_invalid'],
    ['a top-level _method', '{"_method":"DELETE"}', 'body_invalid'],
    // Found by an adversarial probe: alone, a case variant named a recipient no allowlist saw.
    ['To alone', '{"To":"evil@x.com","from":"a@x.com"}', 'body_invalid'],
    ['Bcc beside to', '{"to":"a@x.com","Bcc":["evil@x.com"]}', 'body_invalid'],
    ['TO in a batch element', '[{"TO":"evil@x.com"}]', 'body_invalid'],
    ['From', '{"to":"a@x.com","From":"evil@x.com"}', 'body_invalid'],
    ['Reply_To', '{"to":"a@x.com","Reply_To":"evil@x.com"}', 'body_invalid'],
    ['To spelt with a \\u escape', '{"\\u0054o":"evil@x.com","from":"a@x.com"}', 'body_invalid'],
    // Seventh round: an invisible or full-width character passed the case check, and the field was
    // forwarded unread.
    ['bcc ending in a NUL', '{"to":"a@x.com","bcc\\u0000":"evil@x.com"}', 'body_invalid'],
    ['bcc ending in a byte-order mark', '{"to":"a@x.com","bcc\\ufeff":"evil@x.com"}', 'body_invalid'],
    ['bcc in full-width letters', '{"to":"a@x.com","\\uff42\\uff43\\uff43":"evil@x.com"}', 'body_invalid'],
    ['cc with a zero-width space inside', '{"to":"a@x.com","c\\u200bc":"evil@x.com"}', 'body_invalid'],
    ['from ending in a space', '{"to":"a@x.com","from ":"evil@x.com"}', 'body_invalid'],
    ['To in full-width capitals in a batch element', '[{"\\uff34\\uff2f":"evil@x.com"}]', 'body_invalid'],
    // Second probe: recipients named in custom headers, read by no allowlist.
    ['a Bcc custom header', '{"to":"a@x.com","headers":{"Bcc":"evil@x.com"}}', 'body_invalid'],
    ['a reply-to custom header in a batch', '[{"to":"a","headers":{" REPLY-TO":"e"}}]', 'body_invalid'],
    // Found by a security tester: a header that starts another header, or names recipients as well.
    ['a line break in a header value', '{"headers":{"X-A":"v\\r\\nBcc: evil@x.com"}}', 'body_invalid'],
    ['a NUL in a header value', '{"headers":{"X-A":"v\\u0000"}}', 'body_invalid'],
    ['a line break in a header name', '{"headers":{"X-A\\r\\nBcc":"evil@x.com"}}', 'body_invalid'],
    ['a header name ending in a colon', '{"headers":{"Bcc:":"evil@x.com"}}', 'body_invalid'],
    ['headers given as an array', '{"headers":[{"name":"Bcc","value":"evil@x.com"}]}', 'body_invalid'],
    ['headers given as a string', '{"headers":"Bcc: evil@x.com"}', 'body_invalid'],
    ['a header value that is not a string', '{"headers":{"X-A":{"b":1}}}', 'body_invalid'],
    [
      'a Disposition-Notification-To header',
      '{"headers":{"Disposition-Notification-To":"e@x.com"}}',
      'body_invalid',
    ],
    ['a Mail-Followup-To header', '{"headers":{"Mail-Followup-To":"e@x.com"}}', 'body_invalid'],
    ['an Apparently-To header', '{"headers":{"Apparently-To":"e@x.com"}}', 'body_invalid'],
    ['a Resent-Reply-To header', '{"headers":{"Resent-Reply-To":"e@x.com"}}', 'body_invalid'],
    ['a __proto__ member', '{"to":"a@x.com","__proto__":{"bcc":"evil@x.com"}}', 'body_invalid'],
    [
      'a Bcc in custom Headers spelt with a capital',
      '{"to":"a@x.com","Headers":{"Bcc":"evil@x.com"}}',
      'body_invalid',
    ],
  ])('refuses %s', (_name, text, reason) => {
    expect(parse(text)).toMatchObject({ reason });
  });

  it.each([
    ['a form body', req('POST', '', { 'content-type': 'application/x-www-form-urlencoded' }), 'to=a'],
    ['JSON without a content type', req('POST', '', {}), '{"to":"a"}'],
    ['JSON as text/plain', req('POST', '', { 'content-type': 'text/plain' }), '{"to":"a"}'],
    [
      'JSON in another charset',
      req('POST', '', { 'content-type': 'application/json; charset=utf-16' }),
      '{"to":"a"}',
    ],
    ['a gzip Content-Encoding', req('POST', '', { ...json, 'content-encoding': 'gzip' }), '{"to":"a"}'],
    ['a recipient in the query string of a send', req('POST', 'to=evil@x.com'), '{"to":"a"}'],
    ['a repeated query parameter of a read', req('GET', 'limit=1&limit=100'), ''],
    ['a _method in the query of a read', req('GET', '_method=DELETE'), ''],
  ])('refuses %s', (_name, r, text) => {
    expect(parse(text, r)).toMatchObject({ reason: 'body_invalid' });
  });

  it('refuses invalid UTF-8', () => {
    expect(
      parseResend(req(), Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xe9, 0x22, 0x7d]), limits),
    ).toMatchObject({
      reason: 'body_invalid',
    });
  });

  it('measures a very deep body without overflowing the stack', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    expect(parseResend(req(), Buffer.from(deep), { ...limits, maxBytes: 1_000_000 })).toMatchObject({
      reason: 'body_invalid',
    });
  });
});

describe('a contact import (multipart/form-data, as resend-node sends it)', () => {
  const boundary = 'x-kb-boundary';
  const importBody = () =>
    Buffer.from(
      [
        `--${boundary}`,
        'Content-Disposition: form-data; name="file"; filename="contacts.csv"',
        'Content-Type: text/csv',
        '',
        'email\r\nann@example.com',
        `--${boundary}`,
        'Content-Disposition: form-data; name="segments"',
        '',
        '["seg_1"]',
        `--${boundary}--`,
        '',
      ].join('\r\n'),
    );
  const importReq = (path = '/contacts/imports'): VendorRequest => ({
    method: 'POST',
    path,
    query: '',
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
  });

  it('reads the text fields and keeps the file out of the parameters', () => {
    expect(parseResend(importReq(), importBody(), { ...limits, maxBytes: 10_000 })).toEqual({
      segments: '["seg_1"]',
    });
  });

  it('refuses multipart anywhere else', () => {
    expect(parseResend(importReq('/contacts'), importBody(), { ...limits, maxBytes: 10_000 })).toMatchObject({
      reason: 'body_invalid',
    });
  });
});
