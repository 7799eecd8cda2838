import { describe, expect, it } from 'vitest';
import { isDenial } from '../../decision/reasons.ts';
import { NO_PARTIES, type Operation, WITHHELD } from '../types.ts';
import { withholdMessageBodies } from './message-bodies.ts';

const op = (id: string): Operation => ({
  id,
  class: 'read',
  movesMoney: false,
  costMicros: 0,
  parties: NO_PARTIES,
});
const answer = (v: unknown) => Buffer.from(JSON.stringify(v, null, 1));
const text = (out: Buffer | ReturnType<typeof withholdMessageBodies>) => {
  expect(isDenial(out)).toBe(false);
  return (out as Buffer).toString('utf8');
};

const CODE = 'Your Acme sign-in code is 982451';
const REPLY = 'yes please, cancel my order';
const MB = `MB${'0'.repeat(31)}1`;

describe('withholdMessageBodies', () => {
  it.each(['outbound-api', 'outbound-reply', 'outbound-call', 'OUTBOUND-API', 'Inbound', '', null])(
    'withholds the text of an SMS the account sent (direction %j), keeping who, when and how',
    (direction) => {
      const message = {
        sid: 'SM1',
        direction,
        to: '+14155550100',
        from: '+14155550199',
        body: CODE,
        status: 'delivered',
        num_segments: '1',
      };
      const out = text(withholdMessageBodies(answer(message), op('twilio.api.fetch_message')));
      expect(out).not.toContain('982451');
      expect(JSON.parse(out)).toEqual({ ...message, body: WITHHELD });
    },
  );

  it('withholds a message with no direction at all (fail closed)', () => {
    const out = text(
      withholdMessageBodies(answer({ sid: 'SM1', body: CODE }), op('twilio.api.fetch_message')),
    );
    expect(out).not.toContain('982451');
  });

  it('keeps the text of an SMS texted to the account (a customer reply)', () => {
    const body = answer({ sid: 'SM2', direction: 'inbound', body: REPLY });
    expect(withholdMessageBodies(body, op('twilio.api.fetch_message'))).toBe(body);
  });

  it('judges every message of a list by its own direction, and an update answer too', () => {
    const list = {
      messages: [
        { sid: 'SM1', direction: 'outbound-api', body: CODE, subresource_uris: { media: '/M.json' } },
        { sid: 'SM2', direction: 'inbound', body: REPLY },
        { sid: 'SM3', body: 'https://acme.example.com/magic?token=mlt_7Hq2', direction: 'outbound-reply' },
      ],
      page: 0,
    };
    for (const id of ['twilio.api.list_message', 'twilio.messages.update']) {
      const out = JSON.parse(text(withholdMessageBodies(answer(list), op(id))));
      expect(out.messages.map((m: { body: string }) => m.body)).toEqual([WITHHELD, REPLY, WITHHELD]);
      expect(out.messages[0].subresource_uris).toEqual({ media: '/M.json' });
    }
  });

  it('takes a direction given twice as the account’s unless both say inbound', () => {
    const raw = `{"sid":"SM1","direction":"inbound","body":"${CODE}","direction":"outbound-api"}`;
    const out = text(withholdMessageBodies(Buffer.from(raw), op('twilio.api.fetch_message')));
    expect(out).toBe(`{"sid":"SM1","direction":"inbound","body":"${WITHHELD}","direction":"outbound-api"}`);
  });

  it('finds a body and a direction spelt with escapes, and keeps every other byte', () => {
    const raw =
      '{ "sid" : "SM1",\n "\\u0062ody" : "code \\"982451\\"" , "direction":"outbound\\u002dapi", "n": 1.10 }';
    const out = text(withholdMessageBodies(Buffer.from(raw), op('twilio.api.fetch_message')));
    expect(out).toBe(
      `{ "sid" : "SM1",\n "\\u0062ody" : "${WITHHELD}" , "direction":"outbound\\u002dapi", "n": 1.10 }`,
    );
  });

  it('withholds an answer that is not JSON whole (the XML of a path without .json)', () => {
    const xml = `<?xml version='1.0' encoding='UTF-8'?>\n<TwilioResponse><Message><Body>${CODE}</Body><Direction>outbound-api</Direction></Message></TwilioResponse>`;
    const out = withholdMessageBodies(Buffer.from(xml), op('twilio.api.list_message'));
    expect(isDenial(out) && out.reason).toBe('credential_in_response');
    expect(JSON.stringify(out)).not.toContain('982451');
  });

  it('withholds whole an answer whose body of the account’s is no string', () => {
    const out = withholdMessageBodies(
      answer({ direction: 'outbound-api', body: { text: CODE } }),
      op('twilio.api.fetch_message'),
    );
    expect(isDenial(out) && out.reason).toBe('credential_in_response');
    const nulled = answer({ direction: 'outbound-api', body: null });
    expect(withholdMessageBodies(nulled, op('twilio.api.fetch_message'))).toBe(nulled);
  });

  it.each([
    'twilio.conversations.v1.list_conversation_message',
    'twilio.conversations.v1.fetch_service_conversation_message',
    'twilio.conversations.v1.update_conversation_message',
  ])('%s: withholds what the account posted as system, keeps what a participant wrote', (id) => {
    const list = {
      messages: [
        { sid: 'IM1', author: 'system', participant_sid: null, body: CODE, attributes: '{}' },
        { sid: 'IM2', author: '+14155550100', participant_sid: MB, body: REPLY },
        { sid: 'IM3', author: 'notifier', body: CODE },
        { sid: 'IM4', author: 'x', participant_sid: 'MBnot-a-sid', body: CODE },
      ],
      meta: { page: 0 },
    };
    const out = JSON.parse(text(withholdMessageBodies(answer(list), op(id))));
    expect(out.messages.map((m: { body: string }) => m.body)).toEqual([WITHHELD, REPLY, WITHHELD, WITHHELD]);
  });

  // Probe fixes13t finding 1: `from` is no proof of who wrote a Chat message (a conversation's bot
  // author reads as one, and Chat's update_message rewrites it), so no Chat body is kept.
  it.each([
    'twilio.chat.v2.list_message',
    'twilio.chat.v2.update_message',
    'twilio.ip_messaging.v1.fetch_message',
    'twilio.ip_messaging.v2.list_message',
  ])('%s: withholds every message, whatever its from says', (id) => {
    const list = {
      messages: [
        { sid: 'IM1', from: 'system', body: CODE },
        { sid: 'IM2', from: 'customer-42', body: REPLY },
        { sid: 'IM3', body: CODE },
        { sid: 'IM4', from: 'acme-notify-bot', body: CODE, attributes: '{}' },
      ],
    };
    const out = JSON.parse(text(withholdMessageBodies(answer(list), op(id))));
    expect(out.messages.map((m: { body: string }) => m.body)).toEqual([
      WITHHELD,
      WITHHELD,
      WITHHELD,
      WITHHELD,
    ]);
    expect(out.messages.map((m: { from?: string }) => m.from)).toEqual([
      'system',
      'customer-42',
      undefined,
      'acme-notify-bot',
    ]);
  });

  // Probe fixes13t finding 3: what the account texts its SIMs ("the message body of the Command").
  it.each([
    ['twilio.wireless.v1.list_command', 'command'],
    ['twilio.wireless.v1.fetch_command', 'command'],
    ['twilio.preview.list_wireless_command', 'command'],
    ['twilio.preview.fetch_wireless_command', 'command'],
    ['twilio.supersim.v1.list_sms_command', 'payload'],
    ['twilio.supersim.v1.fetch_sms_command', 'payload'],
    ['twilio.supersim.v1.list_ip_command', 'payload'],
    ['twilio.supersim.v1.fetch_ip_command', 'payload'],
  ])('%s: withholds the %s the account sent a SIM, keeps what a SIM sent', (id, field) => {
    const secret = 'PROVISION wifi=AcmeHQ psk=Xk9-2f7Q-secret; otp=551904';
    const list = {
      commands: [
        { sid: 'DC1', [field]: secret, direction: 'to_sim', status: 'delivered' },
        { sid: 'DC2', [field]: 'STATUS ok', direction: 'from_sim' },
        { sid: 'DC3', [field]: secret },
        { sid: 'DC4', [field]: secret, direction: 'FROM_SIM' },
        { sid: 'DC5', [field]: secret, direction: 'from_sim', body: 'not this API’s text field' },
      ],
    };
    const out = JSON.parse(text(withholdMessageBodies(answer(list), op(id))));
    expect(out.commands.map((c: Record<string, string>) => c[field])).toEqual([
      WITHHELD,
      'STATUS ok',
      WITHHELD,
      WITHHELD,
      secret,
    ]);
    expect(out.commands[0]).toEqual({ ...list.commands[0], [field]: WITHHELD });
    expect(out.commands[4].body).toBe('not this API’s text field');
  });

  it('leaves every other answer alone: a send (the agent wrote it), a call, an empty answer', () => {
    const sent = answer({ sid: 'SM1', direction: 'outbound-api', body: CODE });
    expect(withholdMessageBodies(sent, op('twilio.messages.create'))).toBe(sent);
    expect(withholdMessageBodies(sent, op('twilio.api.fetch_call'))).toBe(sent);
    expect(withholdMessageBodies(sent, null)).toBe(sent);
    const empty = Buffer.alloc(0);
    expect(withholdMessageBodies(empty, op('twilio.api.fetch_message'))).toBe(empty);
  });
});
