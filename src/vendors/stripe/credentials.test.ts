import { describe, expect, it } from 'vitest';
import { stripeCredential, stripeUpstreamAuthorization } from './credentials.ts';

const basic = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;

describe('stripeCredential', () => {
  it.each([
    ['a Bearer token', 'Bearer kb_stripe_abc123', 'kb_stripe_abc123'],
    ['a lower-case scheme', 'bearer kb_stripe_abc123', 'kb_stripe_abc123'],
    ['extra spaces', 'Bearer   kb_stripe_abc123  ', 'kb_stripe_abc123'],
    [
      'Basic with the key as user and an empty password (curl -u key:)',
      basic('kb_stripe_abc123:'),
      'kb_stripe_abc123',
    ],
  ])('reads %s', (_name, header, token) => {
    expect(stripeCredential({ authorization: header })).toEqual({ token });
  });

  it.each([
    ['a missing header', undefined],
    ['an empty header', ''],
    ['a scheme without a token', 'Bearer '],
    ['a token with spaces', 'Bearer kb_stripe abc'],
    ['an unknown scheme', 'Token kb_stripe_abc'],
    ['Basic without a colon', basic('kb_stripe_abc123')],
    ['Basic with a password', basic('kb_stripe_abc123:secret')],
    ['Basic with an empty user', basic(':kb_stripe_abc123')],
    ['Basic that is not base64', 'Basic !!!'],
    ['Basic with a control character in the user', basic('kb_\u0001:')],
  ])('refuses %s', (_name, header) => {
    expect(stripeCredential(header === undefined ? {} : { authorization: header })).toBeUndefined();
  });
});

describe('stripeUpstreamAuthorization', () => {
  it('sends the real key as a Bearer token', () => {
    expect(stripeUpstreamAuthorization({ kind: 'bearer', token: 'sk_live_real' })).toBe(
      'Bearer sk_live_real',
    );
  });
});
