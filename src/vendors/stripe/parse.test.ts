import { describe, expect, it } from 'vitest';
import type { VendorRequest } from '../types.ts';
import { parseStripe } from './parse.ts';

const limits = { maxBytes: 100, maxDepth: 3, maxParams: 20 };
const form = { 'content-type': 'application/x-www-form-urlencoded' };
const json = { 'content-type': 'application/json' };
const req = (
  method: string,
  query = '',
  headers: Record<string, string> = form,
  path = '/v1/charges',
): VendorRequest => ({ method, path, query, headers });

describe('parseStripe', () => {
  it.each([
    ['a form POST body', req('POST'), 'amount=1&metadata[a]=b', { amount: '1', metadata: { a: 'b' } }],
    ['an empty POST', req('POST'), '', {}],
    ['an empty POST without a content type', req('POST', '', {}), '', {}],
    [
      'a charset parameter',
      req('POST', '', { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }),
      'a=1',
      { a: '1' },
    ],
    [
      'an identity Content-Encoding',
      req('POST', '', { ...form, 'content-encoding': 'identity' }),
      'a=1',
      { a: '1' },
    ],
    ['a list written with []', req('POST'), 'expand[]=a&expand[]=b', { expand: ['a', 'b'] }],
    ['the query of a GET', req('GET', 'customer=cus_1&limit=3'), '', { customer: 'cus_1', limit: '3' }],
    ['the query of a DELETE', req('DELETE', 'expand[]=a'), '', { expand: ['a'] }],
    [
      'a GET with a JSON content type and no body (stripe-node)',
      req('GET', 'limit=3', json),
      '',
      { limit: '3' },
    ],
    ['a v2 JSON body', req('POST', '', json, '/v2/core/accounts'), '{"a":{"b":1}}', { a: { b: 1 } }],
  ])('reads %s', (_name, r, body, expected) => {
    expect(JSON.parse(JSON.stringify(parseStripe(r, Buffer.from(body), limits)))).toEqual(expected);
  });

  it.each([
    ['a body over maxBytes', req('POST'), 'a='.padEnd(101, 'x'), 'body_too_large'],
    ['a POST with query parameters', req('POST', 'confirm=true'), 'amount=1', 'body_invalid'],
    ['a JSON body', req('POST', '', json), '{"amount":1}', 'body_invalid'],
    ['a POST body without a content type', req('POST', '', {}), 'amount=1', 'body_invalid'],
    [
      'a multipart body',
      req('POST', '', { 'content-type': 'multipart/form-data; boundary=XX' }),
      '--XX--',
      'body_invalid',
    ],
    ['a text/plain body', req('POST', '', { 'content-type': 'text/plain' }), 'amount=1', 'body_invalid'],
    [
      'a form body in another charset',
      req('POST', '', { 'content-type': 'application/x-www-form-urlencoded; charset=iso-8859-1' }),
      'amount=1',
      'body_invalid',
    ],
    [
      'a gzip Content-Encoding',
      req('POST', '', { ...form, 'content-encoding': 'gzip' }),
      'amount=1',
      'body_invalid',
    ],
    ['a gzip Content-Encoding on a GET', req('GET', '', { 'content-encoding': 'gzip' }), '', 'body_invalid'],
    ['invalid UTF-8', req('POST'), '\xff', 'body_invalid'],
    ['a percent-encoded byte that is not UTF-8', req('POST'), 'description=caf%E9', 'body_invalid'],
    ['a malformed query', req('GET', 'a=%zz'), '', 'body_invalid'],
    ['amount given twice', req('POST'), 'amount=1&amount=2000', 'body_invalid'],
    [
      'transfer_data[destination] given twice',
      req('POST'),
      'transfer_data[destination]=a&transfer_data[destination]=b',
      'body_invalid',
    ],
    ['metadata[k] given twice', req('POST'), 'metadata[k]=1&metadata[k]=2', 'body_invalid'],
    [
      'customer given twice in the query of a GET',
      req('GET', 'customer=cus_a&customer=cus_b'),
      '',
      'body_invalid',
    ],
    ['a _method in the body', req('POST'), '_method=DELETE', 'body_invalid'],
    ['a _method in the query of a GET', req('GET', '_method=DELETE'), '', 'body_invalid'],
    ['a raw ; in the query of a GET', req('GET', 'limit=3;customer=cus_b'), '', 'body_invalid'],
    ['a body on a GET', req('GET', 'limit=3'), 'customer=cus_b', 'body_invalid'],
    ['a body on a DELETE', req('DELETE'), 'customer=cus_b', 'body_invalid'],
    ['a form body on a v2 path', req('POST', '', form, '/v2/core/accounts'), 'a=1', 'body_invalid'],
    [
      'a v2 JSON key given twice',
      req('POST', '', json, '/v2/core/accounts'),
      '{"a":1,"a":2}',
      'body_invalid',
    ],
    ['a v2 JSON array', req('POST', '', json, '/v2/core/accounts'), '[1]', 'body_invalid'],
  ])('refuses %s', (_name, r, body, reason) => {
    const buf = body === '\xff' ? Buffer.from([0x61, 0x3d, 0xff]) : Buffer.from(body);
    expect(parseStripe(r, buf, limits)).toMatchObject({ reason });
  });
});
