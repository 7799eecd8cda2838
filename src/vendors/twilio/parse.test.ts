import { describe, expect, it } from 'vitest';
import { isDenial } from '../../decision/reasons.ts';
import type { VendorRequest } from '../types.ts';
import { parseTwilio } from './parse.ts';

const limits = { maxBytes: 65_536, maxDepth: 4, maxParams: 50 };
const ACCOUNT = 'AC00000000000000000000000000000001';
const form = { 'content-type': 'application/x-www-form-urlencoded' };
const messages = `/2010-04-01/Accounts/${ACCOUNT}/Messages.json`;
const req = (
  method: string,
  path = messages,
  opts: { query?: string; subHost?: string; headers?: Record<string, string> } = {},
): VendorRequest => ({
  method,
  path,
  query: opts.query ?? '',
  subHost: opts.subHost ?? 'api',
  headers: opts.headers ?? form,
});
const parse = (r: VendorRequest, body: string) => parseTwilio(r, Buffer.from(body), limits);
const plain = (v: unknown) => JSON.parse(JSON.stringify(v));

describe('parseTwilio', () => {
  it('reads a form body with PascalCase keys and repeated list keys (twilio-node)', () => {
    const r = parse(req('POST'), 'To=%2B14155550100&Body=caf%C3%A9+ok&MediaUrl=a&MediaUrl=b');
    expect(plain(r)).toEqual({ To: '+14155550100', Body: 'café ok', MediaUrl: ['a', 'b'] });
  });

  it.each([
    [
      'a message without .json',
      req('POST', `/2010-04-01/Accounts/${ACCOUNT}/Messages`),
      'MediaUrl=a&MediaUrl=b',
    ],
    [
      'a call with repeated StatusCallbackEvent',
      req('POST', `/2010-04-01/Accounts/${ACCOUNT}/Calls.json`),
      'To=%2B1&StatusCallbackEvent=initiated&StatusCallbackEvent=answered',
    ],
    [
      'a form with charset=utf-8',
      req('POST', messages, {
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      }),
      'To=%2B1',
    ],
    ['an empty POST without a content type', req('POST', messages, { headers: {} }), ''],
    [
      'a Lookup with repeated Type',
      req('GET', `/v1/PhoneNumbers/%2B14155550100`, {
        subHost: 'lookups',
        query: 'Type=carrier&Type=caller-name',
      }),
      '',
    ],
    ['a list read with its query', req('GET', messages, { query: 'To=%2B1&PageSize=20' }), ''],
  ])('accepts %s', (_name, r, body) => {
    expect(isDenial(parse(r, body))).toBe(false);
  });

  it.each([
    ['To given twice', req('POST'), 'To=%2B14155550100&To=%2B33612345678', /"To" is given more than once/],
    ['Body given twice', req('POST'), 'To=%2B1&Body=a&Body=b', /given more than once/],
    [
      'a Verify Channel given twice',
      req('POST', '/v2/Services/VA00000000000000000000000000000001/Verifications', { subHost: 'verify' }),
      'To=%2B1&Channel=sms&Channel=call',
      /"Channel" is given more than once/,
    ],
    [
      'a call TimeLimit given twice',
      req('POST', `/2010-04-01/Accounts/${ACCOUNT}/Calls.json`),
      'To=%2B1&TimeLimit=60&TimeLimit=86400',
      /given more than once/,
    ],
    ['a lower-case to beside To', req('POST'), 'To=%2B1&to=%2B33', /differs only in case from "To"/],
    ['an upper-case TO alone', req('POST'), 'TO=%2B33&Body=hi', /differs only in case from "To"/],
    ['a lower-case body', req('POST'), 'To=%2B1&body=x', /differs only in case from "Body"/],
    [
      'timelimit beside TimeLimit',
      req('POST', `/2010-04-01/Accounts/${ACCOUNT}/Calls.json`),
      'TimeLimit=60&timelimit=86400',
      /differs only in case/,
    ],
    [
      'a repeat of a parameter of an unknown operation',
      req('POST', '/2010-04-01/Nothing', {}),
      'A=1&A=2',
      /given more than once/,
    ],
    ['a _method parameter', req('POST'), '_method=DELETE', /_method/],
    [
      'a JSON body on a form operation',
      req('POST', messages, { headers: { 'content-type': 'application/json' } }),
      '{"To":"+1"}',
      /application\/x-www-form-urlencoded/,
    ],
    [
      'a body without a content type',
      req('POST', messages, { headers: {} }),
      'To=%2B1',
      /needs Content-Type/,
    ],
    [
      'a multipart body',
      req('POST', messages, { headers: { 'content-type': 'multipart/form-data; boundary=XX' } }),
      '--XX--',
      /must be/,
    ],
    [
      'a gzip Content-Encoding',
      req('POST', messages, { headers: { ...form, 'content-encoding': 'gzip' } }),
      'To=%2B1',
      /Content-Encoding/,
    ],
    [
      'a destination in the query string of a write',
      req('POST', messages, { query: 'To=%2B33' }),
      'To=%2B1',
      /not in the query string/,
    ],
    ['a malformed escape', req('POST'), 'To=%ZZ', /percent-encoding/],
    ['a raw ;', req('POST'), 'Body=a;To=%2B33', /raw ";"/],
    ['a body on a GET', req('GET', messages, { query: 'PageSize=1' }), 'To=%2B1', /carries no body/],
    [
      'a repeated scalar in the query of a read',
      req('GET', messages, { query: 'To=%2B1&To=%2B2' }),
      '',
      /given more than once/,
    ],
    [
      'a lower-case Lookup fields in the query',
      req('GET', '/v2/PhoneNumbers/%2B14155550100', {
        subHost: 'lookups',
        query: 'fields=line_type_intelligence',
      }),
      '',
      /differs only in case from "Fields"/,
    ],
    ['a _method in the query of a read', req('GET', messages, { query: '_method=DELETE' }), '', /_method/],
  ])('refuses %s', (_name, r, body, message) => {
    const out = parse(r, body);
    expect(isDenial(out) && out.reason).toBe('body_invalid');
    expect(isDenial(out) && out.message).toMatch(message);
  });

  it('refuses invalid UTF-8', () => {
    const out = parseTwilio(req('POST'), Buffer.from([0x42, 0x6f, 0x64, 0x79, 0x3d, 0xe9]), limits);
    expect(out).toMatchObject({ reason: 'body_invalid' });
  });

  it('refuses a body over the size limit', () => {
    expect(parseTwilio(req('POST'), Buffer.alloc(limits.maxBytes + 1, 0x61), limits)).toMatchObject({
      reason: 'body_too_large',
    });
  });
});
