import { describe, expect, it } from 'vitest';
import type { UpstreamCredential } from '../snapshot/types.ts';
import { tokenPrefixesOf } from '../tokens/redact.ts';
import { newToken } from '../tokens/token.ts';
import { recordableRequestId } from './request-id.ts';

const KEY = ['sk', 'test', 'requestIdScannerNotARealKey0123'].join('_');
const STRIPE: UpstreamCredential = { kind: 'bearer', token: KEY };
/** A vault token the table knows only by shape, and a credential presented that has none. */
const VAULT = newToken('stripe', { random: () => new Uint8Array(24).fill(3) });
const BROUGHT = 'MyBroughtToken-ABCdefGHIjklMNOpqr';

const idOf = (value: string | string[] | undefined) =>
  recordableRequestId(
    { status: 200, headers: { 'request-id': value }, body: Buffer.alloc(0) },
    'request-id',
    STRIPE,
    { prefixes: tokenPrefixesOf(undefined), presented: [BROUGHT] },
  );

describe('recordableRequestId', () => {
  it.each<[string, string | string[] | undefined, string | null]>([
    ['a Stripe request id', 'req_8Xk2mQ0aBcD', 'req_8Xk2mQ0aBcD'],
    ['a Twilio request id', 'RQ0123456789abcdef0123456789abcdef', 'RQ0123456789abcdef0123456789abcdef'],
    [
      'a Resend request id (a UUID)',
      '0b6e4a1c-2f9d-4b8e-9d3a-5c7e1f2a3b4c',
      '0b6e4a1c-2f9d-4b8e-9d3a-5c7e1f2a3b4c',
    ],
    ['the first of a repeated header', ['req_1', 'req_2'], 'req_1'],
    ['no header', undefined, null],
    ['the upstream key itself', KEY, null],
    ['the upstream key inside an id', `req_${KEY}_1`, null],
    ['an empty value', '', null],
    ['a value with spaces', 'req_1 and more', null],
    ['a value longer than any id', `req_${'a'.repeat(200)}`, null],
    // Eleventh round: a vendor that takes the caller's X-Request-Id as its own.
    ['a vault token (the caller reflected)', VAULT, null],
    ['a vault token inside an id', `req-${VAULT}-1`, null],
    ['a vault token lower-cased', VAULT.toLowerCase(), null],
    ['the credential presented (no shape to find)', BROUGHT, null],
    ['the credential presented, lower-cased', `req-${BROUGHT.toLowerCase()}`, null],
  ])('%s', (_name, value, expected) => {
    expect(idOf(value)).toBe(expected);
  });
});
