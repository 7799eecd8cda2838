import { createRequire } from 'node:module';
import twilio from 'twilio';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { TWILIO_EMULATOR_ACCOUNT as ACCOUNT, startTwilioEmulator, type TwilioEmulator } from './twilio.ts';

const require = createRequire(import.meta.url);
const RequestClient = require('twilio/lib/base/RequestClient') as new () => {
  request(opts: { uri: string }): Promise<unknown>;
};

/** What the docs tell users to do: send every `https://<sub>.twilio.com/…` to a base URL instead. */
function rewritingClient(base: string) {
  const client = new RequestClient();
  const request = client.request.bind(client);
  client.request = (opts) =>
    request({ ...opts, uri: opts.uri.replace(/^https:\/\/([a-z-]+)\.twilio\.com/, `${base}/$1`) });
  return client;
}

let emulator: TwilioEmulator;
beforeAll(async () => {
  emulator = await startTwilioEmulator({
    apiKeys: [{ sid: 'SK00000000000000000000000000000001', secret: 'key-secret', accountSid: ACCOUNT.sid }],
  });
});
afterAll(() => emulator.close());
beforeEach(() => emulator.reset());

describe('Twilio emulator with twilio-node', () => {
  it('creates and fetches a message through api.baseUrl, reporting segments and no price yet', async () => {
    const client = twilio(ACCOUNT.sid, ACCOUNT.authToken);
    client.api.baseUrl = `${emulator.url}/api`;
    const message = await client.messages.create({
      to: '+14155550100',
      from: '+14155550199',
      body: 'x'.repeat(161),
    });
    expect(message).toMatchObject({ status: 'queued', numSegments: '2', price: null });
    expect(message.sid).toMatch(/^SM[0-9a-f]{32}$/);
    expect((await client.messages(message.sid).fetch()).body).toBe('x'.repeat(161));
    expect(emulator.requests[0]).toMatchObject({
      method: 'POST',
      path: `/api/2010-04-01/Accounts/${ACCOUNT.sid}/Messages.json`,
    });
    expect(emulator.requests[0]!.body).toContain('To=%2B14155550100');
  });

  it('serves Verify and Lookups on their sub hosts and accepts an API key', async () => {
    const client = twilio('SK00000000000000000000000000000001', 'key-secret', {
      accountSid: ACCOUNT.sid,
      httpClient: rewritingClient(emulator.url) as never,
    });
    const verification = await client.verify.v2
      .services('VA1')
      .verifications.create({ to: '+14155550100', channel: 'sms' });
    expect(verification.status).toBe('pending');
    const lookup = await client.lookups.v2
      .phoneNumbers('+14155550100')
      .fetch({ fields: 'line_type_intelligence' });
    expect(lookup.lineTypeIntelligence).toEqual({ type: 'mobile' });
    expect(emulator.requests.map((r) => r.path)).toEqual([
      '/verify/v2/Services/VA1/Verifications',
      '/lookups/v2/PhoneNumbers/+14155550100?Fields=line_type_intelligence',
    ]);
  });

  it.each([
    ['a wrong auth token', ACCOUNT.sid, 'wrong', 401, 20003],
    [
      'an account that is not the caller’s',
      'AC00000000000000000000000000000009',
      ACCOUNT.authToken,
      401,
      20003,
    ],
  ])('answers %s with RestException %i/%i', async (_name, sid, token, status, code) => {
    const client = twilio(sid, token);
    client.api.baseUrl = `${emulator.url}/api`;
    await expect(client.messages.create({ to: '+14155550100', from: '+1', body: 'x' })).rejects.toMatchObject(
      { status, code },
    );
  });

  it('answers a path for another account with 20404', async () => {
    const client = twilio(ACCOUNT.sid, ACCOUNT.authToken);
    client.api.baseUrl = `${emulator.url}/api`;
    await expect(
      client.api.v2010.accounts('AC00000000000000000000000000000009').messages.list(),
    ).rejects.toMatchObject({
      status: 404,
      code: 20404,
    });
  });

  it('sets twilio-request-id on every response', async () => {
    const res = await fetch(`${emulator.url}/api/2010-04-01/Accounts/${ACCOUNT.sid}/Calls.json`, {
      method: 'POST',
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('twilio-request-id')).toMatch(/^RQ[0-9a-f]{32}$/);
  });
});
