import { describe, expect, it } from 'vitest';
import type { UpstreamCredential } from '../snapshot/types.ts';
import { carriesCredential, credentialNeedles, encodedBody } from './credential-scan.ts';
import type { UpstreamResponse } from './upstreams.ts';

// Built from parts so that no live-key-shaped literal sits in the tree; obviously fake all the same.
const STRIPE_KEY = ['sk', 'live', '51HxNotARealKeyForTheScanner0123456789'].join('_');
const TWILIO_SID = 'AC0123456789abcdef0123456789abcdef';
const TWILIO_TOKEN = 'f00dfeedf00dfeedf00dfeedf00dfeed';
const STRIPE: UpstreamCredential = { kind: 'bearer', token: STRIPE_KEY };
const TWILIO: UpstreamCredential = { kind: 'basic', username: TWILIO_SID, password: TWILIO_TOKEN };
const TWILIO_BASIC = Buffer.from(`${TWILIO_SID}:${TWILIO_TOKEN}`).toString('base64');

const answer = (
  body: string,
  headers: Record<string, string | string[] | undefined> = {},
): UpstreamResponse => ({
  status: 200,
  headers: { 'content-type': 'application/json', ...headers },
  body: Buffer.from(body),
});

/** Every character as a JSON \\u escape. */
function jsonEscaped(text: string): string {
  return [...text].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
}

describe('encodedBody', () => {
  it.each<[string, Record<string, string | string[]>, string | undefined]>([
    ['no Content-Encoding', {}, undefined],
    ['identity', { 'content-encoding': 'identity' }, undefined],
    ['gzip', { 'content-encoding': 'gzip' }, 'gzip'],
    ['br, in upper case', { 'content-encoding': 'BR' }, 'br'],
    ['the header twice', { 'content-encoding': ['identity', 'gzip'] }, 'identity,gzip'],
  ])('%s', (_name, headers, expected) => {
    expect(encodedBody(answer('{}', headers))).toBe(expected);
  });
});

describe('carriesCredential', () => {
  it.each<[string, UpstreamCredential, UpstreamResponse, boolean]>([
    ['a Stripe key in the body', STRIPE, answer(`{"secret":"${STRIPE_KEY}"}`), true],
    ['a Stripe key in a header', STRIPE, answer('{}', { 'x-debug': `Bearer ${STRIPE_KEY}` }), true],
    [
      'a Stripe key in one of a repeated header',
      STRIPE,
      answer('{}', { 'set-cookie': ['a=1', `k=${STRIPE_KEY}`] }),
      true,
    ],
    ['a Stripe key as a header name', STRIPE, answer('{}', { [STRIPE_KEY]: '1' }), true],
    [
      'an ordinary Stripe answer',
      STRIPE,
      answer('{"id":"cus_1","object":"customer"}', { 'request-id': 'req_1' }),
      false,
    ],
    ['a Twilio auth token in the body', TWILIO, answer(`{"auth_token":"${TWILIO_TOKEN}"}`), true],
    [
      'Twilio Basic credentials in a header',
      TWILIO,
      answer('{}', { 'www-authenticate': `Basic ${TWILIO_BASIC}` }),
      true,
    ],
    ['Twilio Basic credentials in the body', TWILIO, answer(`{"echo":"Basic ${TWILIO_BASIC}"}`), true],
    ['a Twilio answer naming the account SID only', TWILIO, answer(`{"account_sid":"${TWILIO_SID}"}`), false],
    // Found by an adversarial probe: JSON.parse turns \u escapes back into the key.
    ['a Stripe key spelt in \\u escapes', STRIPE, answer(`{"k":"${jsonEscaped(STRIPE_KEY)}"}`), true],
    [
      'a Stripe key with one character escaped',
      STRIPE,
      answer(
        `{"k":"${STRIPE_KEY.slice(0, 5)}\\u${STRIPE_KEY.charCodeAt(5).toString(16).padStart(4, '0')}${STRIPE_KEY.slice(6)}"}`,
      ),
      true,
    ],
    ['escapes that spell something else', STRIPE, answer('{"name":"caf\\u00e9"}'), false],
  ])('%s', (_name, cred, res, expected) => {
    expect(carriesCredential(res, cred)).toBe(expected);
  });

  it('finds the secret at any offset of a large body', () => {
    const body = Buffer.concat([Buffer.alloc(5_000_000, 'x'), Buffer.from(STRIPE_KEY)]);
    expect(carriesCredential({ status: 200, headers: {}, body }, STRIPE)).toBe(true);
  });

  it('ignores secrets too short to tell from chance', () => {
    const weak: UpstreamCredential = { kind: 'basic', username: 'u', password: 'p' };
    expect(credentialNeedles(weak).map((n) => n.text)).toEqual([]);
    expect(carriesCredential(answer('p and dTpw'), weak)).toBe(false);
  });

  it('computes the forms of a credential once per credential object', () => {
    expect(credentialNeedles(TWILIO)).toBe(credentialNeedles(TWILIO));
    expect(credentialNeedles(TWILIO).map((n) => n.text)).toEqual([TWILIO_TOKEN, TWILIO_BASIC]);
  });
});
