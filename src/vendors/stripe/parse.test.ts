import { describe, expect, it } from 'vitest';
import type { VendorRequest } from '../types.ts';
import { parseStripe } from './parse.ts';

const limits = { maxBytes: 100, maxDepth: 3, maxParams: 20 };
const form = { 'content-type': 'application/x-www-form-urlencoded' };
const req = (method: string, query = '', headers: Record<string, string> = form): VendorRequest => ({
  method,
  path: '/v1/charges',
  query,
  headers,
});

describe('parseStripe', () => {
  it.each([
    ['a form POST body', req('POST'), 'amount=1&metadata[a]=b', { amount: '1', metadata: { a: 'b' } }],
    ['an empty POST', req('POST'), '', {}],
    ['a POST without a content type', req('POST', '', {}), 'amount=1', { amount: '1' }],
    [
      'a charset parameter',
      req('POST', '', { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }),
      'a=1',
      { a: '1' },
    ],
    ['the query of a GET', req('GET', 'customer=cus_1&limit=3'), '', { customer: 'cus_1', limit: '3' }],
  ])('reads %s', (_name, r, body, expected) => {
    expect(JSON.parse(JSON.stringify(parseStripe(r, Buffer.from(body), limits)))).toEqual(expected);
  });

  it.each([
    ['a body over maxBytes', req('POST'), 'a='.padEnd(101, 'x'), 'body_too_large'],
    ['a POST with query parameters', req('POST', 'confirm=true'), 'amount=1', 'body_invalid'],
    ['a JSON body', req('POST', '', { 'content-type': 'application/json' }), '{"amount":1}', 'body_invalid'],
    ['invalid UTF-8', req('POST'), '\xff', 'body_invalid'],
    ['a malformed query', req('GET', 'a=%zz'), '', 'body_invalid'],
  ])('refuses %s', (_name, r, body, reason) => {
    const buf = body === '\xff' ? Buffer.from([0x61, 0x3d, 0xff]) : Buffer.from(body);
    expect(parseStripe(r, buf, limits)).toMatchObject({ reason });
  });
});
