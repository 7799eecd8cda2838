import { describe, expect, it } from 'vitest';
import { twilioCredential, twilioUpstreamAuthorization, upstreamAccountSid } from './credentials.ts';

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('twilioCredential', () => {
  it('takes the vault token from the Basic password and the SID as user name', () => {
    expect(twilioCredential({ authorization: basic('AC123', 'kb_twilio_abc:def') })).toEqual({
      token: 'kb_twilio_abc:def',
      username: 'AC123',
    });
  });

  it.each([
    ['no Authorization header', undefined],
    ['a Bearer token', 'Bearer kb_twilio_abc'],
    ['an empty password', basic('AC123', '')],
    ['no user name', basic('', 'kb_twilio_abc')],
    ['no colon at all', `Basic ${Buffer.from('AC123').toString('base64')}`],
  ])('refuses %s', (_name, authorization) => {
    expect(twilioCredential(authorization === undefined ? {} : { authorization })).toBeUndefined();
  });
});

describe('twilioUpstreamAuthorization', () => {
  it('sends the real SID and secret as Basic auth', () => {
    const header = twilioUpstreamAuthorization({
      kind: 'basic',
      username: 'SK1',
      password: 's3cret',
      accountSid: 'AC9',
    });
    expect(header).toBe(basic('SK1', 's3cret'));
  });

  it.each([
    [
      'the account SID when an API key is used',
      { kind: 'basic', username: 'SK1', password: 'x', accountSid: 'AC9' },
      'AC9',
    ],
    ['the user name when it is the account SID', { kind: 'basic', username: 'AC7', password: 'x' }, 'AC7'],
    ['nothing for a bearer credential', { kind: 'bearer', token: 'x' }, undefined],
  ] as const)('the key acts on %s', (_name, credential, expected) => {
    expect(upstreamAccountSid(credential)).toBe(expected);
  });
});
