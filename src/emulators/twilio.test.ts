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

describe('Twilio emulator billing (the price oracle of the e2e tests)', () => {
  const api = () => {
    const client = twilio(ACCOUNT.sid, ACCOUNT.authToken);
    client.api.baseUrl = `${emulator.url}/api`;
    return client;
  };
  const total = () => emulator.charges.reduce((sum, c) => sum + c.micros, 0);

  it('bills an SMS per segment, reports the price once sent, and totals it in Usage Records', async () => {
    const before = total();
    const message = await api().messages.create({
      to: '+14155550100',
      from: '+14155550199',
      body: 'x'.repeat(161),
    });
    expect(message.price).toBeNull();
    expect((await api().messages(message.sid).fetch()).price).toBe('-0.022600');
    expect(total() - before).toBe(2 * 11_300);
    const records = await api().usage.records.list({ category: 'totalprice' });
    expect(Number(records[0]!.price)).toBe(total() / 1_000_000);
  });

  it('bills the Engagement Suite fee once for a scheduled or link-shortened message', async () => {
    const send = async (extra: Record<string, unknown>) => {
      const before = total();
      await api().messages.create({ to: '+14155550100', from: '+14155550199', body: 'hi', ...extra });
      return total() - before;
    };
    const sendAt = new Date(Date.now() + 86_400_000);
    expect(await send({})).toBe(11_300);
    expect(await send({ scheduleType: 'fixed', sendAt })).toBe(11_300 + 15_000);
    expect(await send({ shortenUrls: true })).toBe(11_300 + 15_000);
    expect(await send({ scheduleType: 'fixed', sendAt, shortenUrls: true })).toBe(11_300 + 15_000);
  });

  it('bills a call for its TimeLimit (or 4 hours) and a <Dial> leg, reporting both once completed', async () => {
    const before = total();
    const call = await api().calls.create({
      to: '+14155550100',
      from: '+14155550199',
      timeLimit: 120,
      twiml: '<Response><Dial><Number>+33612345678</Number></Dial><Sms to="+14155550101">hi</Sms></Response>',
    });
    expect(call.price).toBeNull();
    expect((await api().calls(call.sid).fetch()).price).toBe('-0.028000');
    expect(total() - before).toBe(2 * 14_000 + 2 * 65_000 + 11_300);
    const long = await api().calls.create({ to: '+14155550100', from: '+14155550199', twiml: '<Response/>' });
    expect((await api().calls(long.sid).fetch()).price).toBe(`-${((240 * 14_000) / 1e6).toFixed(6)}`);
  });

  it('bills a number for its first month and serves the Pricing API figure for it', async () => {
    const before = total();
    await api().incomingPhoneNumbers.create({ phoneNumber: '+14155550123' });
    expect(total() - before).toBe(1_150_000);
    const res = await fetch(`${emulator.url}/pricing/v1/PhoneNumbers/Countries/US`, {
      headers: {
        authorization: `Basic ${Buffer.from(`${ACCOUNT.sid}:${ACCOUNT.authToken}`).toString('base64')}`,
      },
    });
    expect(await res.json()).toMatchObject({
      phone_number_prices: expect.arrayContaining([
        { number_type: 'local', base_price: '1.15', current_price: '1.15' },
      ]),
    });
  });

  it('bills a Conversations message once per SMS or WhatsApp participant, and each participant once a month', async () => {
    const client = twilio(ACCOUNT.sid, ACCOUNT.authToken, {
      httpClient: rewritingClient(emulator.url) as never,
    });
    const conversation = client.conversations.v1.conversations('CH00000000000000000000000000000001');
    await conversation.participants.create({ identity: 'agent' });
    await conversation.participants.create({ 'messagingBinding.address': '+14155550100' });
    await conversation.participants.create({
      'messagingBinding.address': 'whatsapp:+4915123456789',
    } as never);
    const before = total();
    await conversation.messages.create({ body: 'hello' });
    // The first message of the month also makes its three participants active users.
    expect(total() - before).toBe(11_300 + 145_000 + 3 * 50_000);
    const again = total();
    await conversation.messages.create({ body: 'hello' });
    expect(total() - again).toBe(11_300 + 145_000);
  });
});
