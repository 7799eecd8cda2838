import { describe, expect, it } from 'vitest';
import { isDenial } from '../../decision/reasons.ts';
import type { CompiledKey, UpstreamCredential } from '../../snapshot/types.ts';
import type { CostLookup, Operation, Params, VendorRequest } from '../types.ts';
import { classifyTwilio, monthlyNumberPrice, PRICED_TWILIO_RULES, type TwilioOperation } from './classify.ts';
import { TEMPLATE_SEGMENTS } from './costs.ts';
import { TWILIO_OPERATIONS } from './operations.ts';
import { DEFAULT_TWILIO_PRICES as P, resolveTwilioPrices } from './prices.ts';

const ACCOUNT = 'AC00000000000000000000000000000001';

function key(
  upstream: UpstreamCredential = { kind: 'basic', username: ACCOUNT, password: 'real' },
): CompiledKey {
  return {
    uid: 'agents/bot',
    namespace: 'agents',
    name: 'bot',
    vendor: 'twilio',
    tokenFingerprint: 'kb_twilio_…0000',
    upstream,
    suspended: false,
    policy: { ref: 'agents/p', limits: {}, timezone: 'UTC', readsWhenStoreDown: false },
  };
}

function req(method: string, path: string, subHost = 'api', query = ''): VendorRequest {
  return { method, path, query, subHost, headers: {} };
}

const messages = `/2010-04-01/Accounts/${ACCOUNT}/Messages.json`;
const calls = `/2010-04-01/Accounts/${ACCOUNT}/Calls.json`;

function op(result: TwilioOperation | ReturnType<typeof classifyTwilio>): TwilioOperation {
  if (isDenial(result)) throw new Error(`unexpected denial ${result.reason}`);
  return result;
}

function classify(r: VendorRequest, params: Params = {}, prices = P, k = key()) {
  return classifyTwilio(prices, r, params, k);
}

describe('Twilio messages', () => {
  it.each([
    [
      'one GSM-7 segment to the US',
      { To: '+14155550100', Body: 'x'.repeat(160) },
      P.countries.US!.smsPerSegment,
    ],
    [
      'two segments at 161 characters',
      { To: '+14155550100', Body: 'x'.repeat(161) },
      2 * P.countries.US!.smsPerSegment,
    ],
    [
      '"Hello ✓" is one UCS-2 segment',
      { To: '+14155550100', Body: 'Hello ✓' },
      P.countries.US!.smsPerSegment,
    ],
    [
      'a German number at the German rate',
      { To: '+4915123456789', Body: 'hi' },
      P.countries.DE!.smsPerSegment,
    ],
    [
      'a Guernsey number at the unknown-country rate',
      { To: '+447911123456', Body: 'hi' },
      P.unknownCountry.smsPerSegment,
    ],
    [
      'an unresolvable number at the unknown-country rate',
      { To: '+9991234567', Body: 'hi' },
      P.unknownCountry.smsPerSegment,
    ],
    [
      'MMS to the US per message',
      { To: '+14155550100', Body: 'x'.repeat(100), MediaUrl: 'https://a/1.png' },
      P.countries.US!.mmsPerMessage!,
    ],
    // Third probe round: MMS Converter sends what it cannot deliver as MMS as SMS and links.
    [
      'MMS with a long body at the SMS segments and links it may become, when dearer',
      { To: '+14155550100', Body: 'x'.repeat(400), MediaUrl: ['https://a/1.png', 'https://a/2.png'] },
      4 * P.countries.US!.smsPerSegment,
    ],
    [
      'MMS of 800 emoji to Germany as the 26 SMS segments it may become',
      { To: '+4915123456789', Body: '😀'.repeat(800), MediaUrl: 'https://example.com/a.png' },
      26 * P.countries.DE!.smsPerSegment,
    ],
    [
      'MMS where Twilio has no MMS rate at the unknown rate',
      { To: '+4915123456789', MediaUrl: 'https://a/1.png' },
      P.unknownCountry.mmsPerMessage,
    ],
    [
      'WhatsApp per message whatever the length',
      { To: 'whatsapp:+14155550100', From: 'whatsapp:+14155550199', Body: 'x'.repeat(500) },
      P.whatsappPerMessage,
    ],
    [
      'a Content template without Body at the longest body',
      { To: '+14155550100', ContentSid: 'HX1' },
      TEMPLATE_SEGMENTS * P.countries.US!.smsPerSegment,
    ],
    // Third probe round: Twilio sends the template, not the Body.
    [
      'a Content template with a one-segment Body at the longest body',
      { To: '+14155550100', Body: 'hi', ContentSid: 'HX1' },
      TEMPLATE_SEGMENTS * P.countries.US!.smsPerSegment,
    ],
    [
      'a Content template with media at the longest body and its links, when dearer than an MMS',
      { To: '+4915123456789', Body: 'hi', ContentSid: 'HX1', MediaUrl: 'https://a/1.png' },
      TEMPLATE_SEGMENTS * P.countries.DE!.smsPerSegment,
    ],
    // Thirteenth round (probe twmoney13, finding 7): a template without MediaUrl may be a media
    // template, sent as MMS or as its text with a link per item (MMS Converter); it was 25 segments.
    [
      'a Content template without MediaUrl as the dearer of an MMS and its longest text with ten links',
      { To: '+4915123456789', ContentSid: 'HX1' },
      Math.max(P.unknownCountry.mmsPerMessage, 34 * P.countries.DE!.smsPerSegment),
    ],
    ['no To at all at the unknown rate', { Body: 'hi' }, P.unknownCountry.smsPerSegment],
    [
      'two To values, each priced',
      { To: ['+14155550100', '+4915123456789'], Body: 'hi' },
      P.countries.US!.smsPerSegment + P.countries.DE!.smsPerSegment,
    ],
  ])('prices %s', (_name, params, cost) => {
    const result = op(classify(req('POST', messages), params));
    expect(result).toMatchObject({
      id: 'twilio.messages.create',
      movesMoney: true,
      costMicros: cost,
    });
  });

  it('refuses a Body over 1600 characters (Twilio refuses it) before segmenting it', () => {
    expect(
      classify(req('POST', messages), { To: '+14155550100', Body: 'x'.repeat(1600) }),
    ).not.toHaveProperty('reason');
    expect(classify(req('POST', messages), { To: '+14155550100', Body: 'x'.repeat(1601) })).toMatchObject({
      reason: 'body_invalid',
      message: /1600 characters/,
      // The refusal names the operation the catalog recognised (the audit record's `operation`).
      operation: 'twilio.messages.create',
    });
  });

  // Fifth round: 998 MediaUrl were priced as a 64 000-character text (12 s of event loop) before the
  // endpoint check refused the call.
  it('refuses more than 10 MediaUrl (Twilio refuses them) before pricing the message', () => {
    const media = (n: number) => Array.from({ length: n }, (_, i) => `https://a/${i}.png`);
    expect(classify(req('POST', messages), { To: '+14155550100', MediaUrl: media(10) })).not.toHaveProperty(
      'reason',
    );
    expect(classify(req('POST', messages), { To: '+14155550100', MediaUrl: media(11) })).toMatchObject({
      reason: 'body_invalid',
      message: /at most 10 MediaUrl/,
      operation: 'twilio.messages.create',
    });
  });

  it('names recipients in E.164 without whatsapp:, resolved countries and the sender', () => {
    const result = op(
      classify(req('POST', messages), {
        To: 'whatsapp:+447911123456',
        From: 'whatsapp:+14155550199',
        Body: 'x',
      }),
    );
    expect(result.parties).toMatchObject({
      recipients: ['+447911123456'],
      countries: ['GG'],
      senders: ['+14155550199'],
    });
  });

  it.each([
    ['an unassigned calling code', '+9991234567', ['ZZ']],
    ['a national number without +', '4155550100', ['ZZ']],
    ['a SIP URI', 'sip:bob@example.com', ['ZZ']],
    ['a Voice SDK client', 'client:alice', []],
  ])('reports %s as country %j so a country allowlist cannot be bypassed', (_name, to, countries) => {
    expect(op(classify(req('POST', calls), { To: to, TimeLimit: '60' })).parties.countries).toEqual(
      countries,
    );
  });

  // Third probe round: `+14155550100,+19005550123` kept its raw text, which `+1415555*` matched.
  it.each([
    ['a message', messages, { To: '+14155550100,+19005550123', Body: 'hi' }, 'api'],
    ['a WhatsApp message', messages, { To: 'whatsapp:+14155550100 +19005550123', Body: 'hi' }, 'api'],
    ['a call', calls, { To: '+14155550100;+19005550123' }, 'api'],
    [
      'a call whose Twiml dials a list',
      calls,
      { To: '+14155550100', Twiml: '<Response><Dial>+14155550100,+19005550123</Dial></Response>' },
      'api',
    ],
    [
      'a verification',
      '/v2/Services/VA1/Verifications',
      { To: '+14155550100,+1900', Channel: 'sms' },
      'verify',
    ],
  ])('refuses %s to a recipient that is not one number', (_name, path, params, host) => {
    expect(classify(req('POST', path, host), params)).toMatchObject({ reason: 'body_invalid' });
  });

  // Fifth round: String.trim made each of these the allowed recipient it resembles, while Twilio
  // received the raw value. Only ASCII spaces are trimmed.
  it.each([
    ['a message', messages, { To: '\u00a0+14155550100', Body: 'hi' }, 'api'],
    ['a call', calls, { To: '+14155550100\u2028' }, 'api'],
    [
      'a call whose Twiml dials a number after a no-break space',
      calls,
      { To: '+14155550100', Twiml: '<Response><Dial>\u00a0+14155550100</Dial></Response>' },
      'api',
    ],
    [
      'an SMS verification',
      '/v2/Services/VA1/Verifications',
      { To: '\ufeff+14155550100', Channel: 'sms' },
      'verify',
    ],
    [
      'an email verification',
      '/v2/Services/VA1/Verifications',
      { To: 'ann@example.com\u00a0', Channel: 'email' },
      'verify',
    ],
  ])(
    'refuses %s to a recipient with blank or invisible characters around it',
    (_name, path, params, host) => {
      expect(classify(req('POST', path, host), params)).toMatchObject({ reason: 'body_invalid' });
    },
  );

  // Sixth round: the email To was only trimmed and lower-cased, so a list, a second address after a
  // separator or a display name naming another was judged whole against `*@ok.com` (which the raw
  // text ends with) while Twilio could email every address it names.
  it.each([
    ['a comma-separated list', 'evil@x.com,alice@ok.com'],
    ['a semicolon-separated list', 'evil@x.com;alice@ok.com'],
    ['a display name and a second address', 'Evil <evil@x.com>, alice@ok.com'],
    ['a group', 'G: evil@x.com; <alice@ok.com>'],
    ['two @', 'evil@x.com@ok.com'],
    ['no address at all', 'alice'],
    ['a domain IDNA would read as another', 'alice@exa\u00admple.com'],
    // Sixth round: Verify documents no display name; each was read as bob@ok.com.
    ['a quoted display name holding an address', '"evil@x.com" <bob@ok.com>'],
    ['a quoted display name holding an address and a comma', '"evil@x.com, " <bob@ok.com>'],
    ['a plain display name', 'Bob <bob@ok.com>'],
    ['an address in brackets', '<bob@ok.com>'],
    // Seventh round: a reader that folds full-width forms (NFKC) reads evil@x.com,alice@ok.com.
    ['a full-width at sign and comma before the address', 'evil\uff20x.com\uff0calice@ok.com'],
  ])('refuses an email verification whose To is %s', (_name, To) => {
    expect(
      classify(req('POST', '/v2/Services/VA1/Verifications', 'verify'), { To, Channel: 'email' }),
    ).toMatchObject({ reason: 'body_invalid' });
  });

  it('reads an email verification to one address as it is, IDN domain in punycode', () => {
    for (const To of [' Alice@BÜCHER.de ', 'alice@xn--bcher-kva.de']) {
      expect(
        op(classify(req('POST', '/v2/Services/VA1/Verifications', 'verify'), { To, Channel: 'email' }))
          .parties.recipients,
      ).toEqual(['alice@xn--bcher-kva.de']);
    }
  });

  // Thirteenth round (probe fixother, finding 1): ChannelConfiguration's `from` picks the address a
  // Verify email leaves from, per call; nothing read it, so a key held to one sender sent the
  // merchant's verification email from any address.
  describe('a verification sender chosen in ChannelConfiguration', () => {
    const verify = req('POST', '/v2/Services/VA1/Verifications', 'verify');
    const email = (ChannelConfiguration: string) => ({
      To: 'ann@ok.example',
      Channel: 'email',
      ChannelConfiguration,
    });

    it('is a sender, read as one address, on the email channel and any other', () => {
      const config =
        '{"from":"Security@Bank-Alerts.example","from_name":"Bank","substitutions":{"from":"x"}}';
      expect(op(classify(verify, email(config))).parties).toMatchObject({
        recipients: ['ann@ok.example'],
        senders: ['security@bank-alerts.example'],
      });
      expect(
        op(classify(verify, { To: '+14155550100', Channel: 'sms', ChannelConfiguration: config })).parties,
      ).toMatchObject({ recipients: ['+14155550100'], senders: ['security@bank-alerts.example'] });
    });

    it('names no sender without from, or without ChannelConfiguration (the service sender)', () => {
      expect(op(classify(verify, email('{"from_name":"Shop"}'))).parties.senders).toEqual([]);
      expect(op(classify(verify, email('{}'))).parties.senders).toEqual([]);
      expect(op(classify(verify, { To: 'ann@ok.example', Channel: 'email' })).parties.senders).toEqual([]);
    });

    it.each([
      ['not JSON', 'from=evil@x.example'],
      ['a JSON array', '[{"from":"evil@x.example"}]'],
      ['a JSON string', '"evil@x.example"'],
      ['null', 'null'],
      ['from twice, the allowed one last', '{"from":"evil@x.example","from":"otp@ok.example"}'],
      ['from escaped and plain', '{"\\u0066rom":"evil@x.example","from":"otp@ok.example"}'],
      ['From', '{"From":"evil@x.example"}'],
      ['FROM beside from', '{"from":"otp@ok.example","FROM":"evil@x.example"}'],
      ['from_ (a separator)', '{"from_":"evil@x.example"}'],
      ['from that is not text', '{"from":["evil@x.example"]}'],
      ['an empty from', '{"from":""}'],
      ['from with a display name', '{"from":"Bank <otp@ok.example>"}'],
      ['from naming two addresses', '{"from":"evil@x.example,otp@ok.example"}'],
      ['from with a no-break space', '{"from":"otp@ok.example\u00a0"}'],
    ])('refuses %s as body_invalid', (_name, config) => {
      expect(classify(verify, email(config))).toMatchObject({ reason: 'body_invalid' });
    });
  });

  it('keeps a national number, a client and a SIP address as they are', () => {
    for (const To of ['4155550100', 'client:alice', 'sip:bob@example.com', '+9991234567']) {
      expect(classify(req('POST', calls), { To, TimeLimit: '60' })).not.toHaveProperty('reason');
    }
  });

  it('names the Messaging Service as sender when there is no From', () => {
    const result = op(
      classify(req('POST', messages), { To: '+14155550100', MessagingServiceSid: 'MG1', Body: 'x' }),
    );
    expect(result.parties.senders).toEqual(['MG1']);
  });

  it('keeps the per-segment rate of a plain SMS for settlement, not of an MMS', () => {
    expect(op(classify(req('POST', messages), { To: '+14155550100', Body: 'x' })).perSegmentMicros).toBe(
      P.countries.US!.smsPerSegment,
    );
    expect(
      op(classify(req('POST', messages), { To: '+14155550100', MediaUrl: 'https://a' })).perSegmentMicros,
    ).toBeUndefined();
  });

  it('applies price overrides, including a new country', () => {
    const prices = resolveTwilioPrices({ countries: { us: { smsPerSegment: 1 }, GG: { smsPerSegment: 7 } } });
    expect(op(classify(req('POST', messages), { To: '+14155550100', Body: 'x' }, prices)).costMicros).toBe(1);
    expect(op(classify(req('POST', messages), { To: '+447911123456', Body: 'x' }, prices)).costMicros).toBe(
      7,
    );
  });
});

describe('Twilio calls', () => {
  const usMinute = P.countries.US!.voicePerMinute;
  it.each([
    ['the default maximum without TimeLimit', { To: '+14155550100' }, P.defaultCallMinutes * usMinute],
    ['TimeLimit rounded up to whole minutes', { To: '+14155550100', TimeLimit: '61' }, 2 * usMinute],
    [
      'a malformed TimeLimit at the default',
      { To: '+14155550100', TimeLimit: 'ten' },
      P.defaultCallMinutes * usMinute,
    ],
    [
      'recording and machine detection on top',
      { To: '+14155550100', TimeLimit: '600', Record: 'true', MachineDetection: 'Enable' },
      10 * usMinute + 10 * P.recordingPerMinute + P.machineDetectionPerCall,
    ],
    [
      'a Voice SDK client at the client rate',
      { To: 'client:alice', TimeLimit: '60' },
      P.clientOrSipPerMinute,
    ],
    [
      'an unknown destination at the unknown rate',
      { To: '+9991234567', TimeLimit: '60' },
      P.unknownCountry.voicePerMinute,
    ],
    // Fifth round: a WhatsApp callee was at its country's rate here, at the unknown rate as a <Dial> leg.
    [
      'a WhatsApp callee at the unknown rate, as a <Dial><WhatsApp> leg is',
      { To: 'whatsapp:+14155550100', TimeLimit: '60' },
      P.unknownCountry.voicePerMinute,
    ],
  ])('reserves %s', (_name, params, cost) => {
    expect(op(classify(req('POST', calls), params))).toMatchObject({
      id: 'twilio.calls.create',
      costMicros: cost,
    });
  });

  // Fifth round: what turns on transcription (billed per minute) is refused in a call's parameters
  // as in its TwiML; the definition has none of these, Twilio's newer API has RecordingConfigurationId.
  it.each([
    ['Transcribe=true', { Transcribe: 'true' }],
    ['a TranscribeCallback', { TranscribeCallback: 'https://a.example/t' }],
    ['a TranscriptionConfiguration', { TranscriptionConfiguration: 'GT1' }],
    ['a RecordingConfigurationId', { RecordingConfigurationId: 'RC1' }],
    ['a recordingconfigurationid in another case', { recordingconfigurationid: 'RC1' }],
  ])('refuses a call with %s as unpriceable', (_name, extra) => {
    const params = { To: '+14155550100', TimeLimit: '60', Record: 'true', ...extra };
    expect(classify(req('POST', calls), params)).toMatchObject({ reason: 'price_unknown' });
    const participants = `/2010-04-01/Accounts/${ACCOUNT}/Conferences/CF1/Participants.json`;
    expect(classify(req('POST', participants), params)).toMatchObject({ reason: 'price_unknown' });
    const update = `/2010-04-01/Accounts/${ACCOUNT}/Calls/CA1.json`;
    expect(classify(req('POST', update), { Status: 'completed', ...extra })).toMatchObject({
      reason: 'price_unknown',
    });
  });

  it('lets Transcribe=false through', () => {
    expect(
      op(classify(req('POST', calls), { To: '+14155550100', TimeLimit: '60', Transcribe: 'false' }))
        .costMicros,
    ).toBe(usMinute);
  });

  it('prices a conference participant like a call', () => {
    const path = `/2010-04-01/Accounts/${ACCOUNT}/Conferences/CF1/Participants.json`;
    expect(op(classify(req('POST', path), { To: '+14155550100', TimeLimit: '120' })).costMicros).toBe(
      2 * usMinute,
    );
  });

  // Found by an adversarial probe: ConferenceRecord was free, while <Conference record> is counted.
  it.each([
    ['true', 1],
    ['record-from-start', 1],
    ['RECORD-FROM-START', 1],
    ['do-not-record', 0],
    ['false', 0],
  ])('counts a participant with ConferenceRecord=%s recorded', (value, recorded) => {
    const path = `/2010-04-01/Accounts/${ACCOUNT}/Conferences/CF1/Participants.json`;
    const params = { To: '+14155550100', TimeLimit: '120', ConferenceRecord: value };
    expect(op(classify(req('POST', path), params)).costMicros).toBe(
      2 * usMinute + recorded * 2 * P.recordingPerMinute,
    );
  });
});

// Fifth round: premium-rate and personal numbers inside a priced country went through at the
// country's ordinary rate (a UK 09 number for $0.05 a minute). Unconfirmed what Twilio bills: the
// unknown-destination rate, wherever a number is priced.
describe('Twilio numbers outside their country’s ordinary rates', () => {
  const unknown = P.unknownCountry;
  const special = [
    ['a UK 070 personal number', '+447011234567'],
    ['a UK 09 premium-rate number', '+449012345678'],
    ['a UK 055 UAN', '+445511234567'],
    ['a French 0899 premium-rate number', '+33899123456'],
    ['a US 900 number', '+19005550123'],
  ];

  it.each(special)(
    'prices a call, a message, a leg and a verification to %s at the unknown rate',
    (_n, to) => {
      const base = { To: '+14155550100', TimeLimit: '600' };
      const us = 10 * P.countries.US!.voicePerMinute;
      expect(op(classify(req('POST', calls), { To: to, TimeLimit: '600' })).costMicros).toBe(
        10 * unknown.voicePerMinute,
      );
      expect(op(classify(req('POST', messages), { To: to, Body: 'hi' }))).toMatchObject({
        costMicros: unknown.smsPerSegment,
        perSegmentMicros: unknown.smsPerSegment,
      });
      const dial = { ...base, Twiml: `<Response><Dial>${to}</Dial></Response>` };
      expect(op(classify(req('POST', calls), dial)).costMicros).toBe(us + 10 * unknown.voicePerMinute);
      const sms = { ...base, Twiml: `<Response><Sms to="${to}">hi</Sms></Response>` };
      expect(op(classify(req('POST', calls), sms)).costMicros).toBe(us + unknown.smsPerSegment);
      const verify = req('POST', '/v2/Services/VA1/Verifications', 'verify');
      expect(op(classify(verify, { To: to, Channel: 'call' })).costMicros).toBe(
        P.verifyPerVerification + 2 * unknown.voicePerMinute,
      );
    },
  );

  it('still names the number’s country for the allowlists', () => {
    expect(op(classify(req('POST', calls), { To: '+449012345678' })).parties.countries).toEqual(['GB']);
  });

  it.each([
    ['a French mobile (needs the full metadata to be classified)', '+33612345678', P.countries.FR!],
    ['a London landline', '+442071838750', P.countries.GB!],
    ['a US toll-free number', '+18005550100', P.countries.US!],
  ])('keeps %s at its country’s rate', (_n, to, rates) => {
    expect(op(classify(req('POST', calls), { To: to, TimeLimit: '60' })).costMicros).toBe(
      rates.voicePerMinute,
    );
  });
});

describe('Twilio query strings', () => {
  it('refuses a write that carries a query string', () => {
    expect(
      classify(req('POST', messages, 'api', 'To=%2B4915123456789'), { To: '+14155550100', Body: 'x' }),
    ).toMatchObject({
      reason: 'body_invalid',
    });
  });

  // Fifth round: `Fields[]=sim_swap` was forwarded free while `Fields=sim_swap` costs $0.15.
  it.each([
    ['v2', '/v2/PhoneNumbers/+14155550100', 'Fields%5B%5D=sim_swap'],
    ['v1', '/v1/PhoneNumbers/+14155550100', 'Type%5B0%5D=carrier'],
  ])('refuses a %s Lookup whose query holds a name the definition does not declare', (_v, path, query) => {
    expect(classify(req('GET', path, 'lookups', query))).toMatchObject({ reason: 'body_invalid' });
  });
});

describe('Twilio account scoping', () => {
  it.each([
    [
      'another account in the path',
      `/2010-04-01/Accounts/AC99999999999999999999999999999999/Messages.json`,
      key(),
    ],
    ['a read of another account', `/2010-04-01/Accounts/AC99999999999999999999999999999999.json`, key()],
    ['a key without an account SID', messages, key({ kind: 'bearer', token: 't' })],
  ])('denies %s', (_name, path, k) => {
    const method = path.endsWith('Messages.json') ? 'POST' : 'GET';
    expect(classify(req(method, path), { To: '+14155550100', Body: 'x' }, P, k)).toEqual({
      reason: 'account_not_allowed',
      message: expect.any(String),
    });
  });

  it('allows the account SID of an API-key credential', () => {
    const k = key({ kind: 'basic', username: 'SK1', password: 'secret', accountSid: ACCOUNT });
    expect(op(classify(req('POST', messages), { To: '+14155550100', Body: 'x' }, P, k)).id).toBe(
      'twilio.messages.create',
    );
  });
});

describe('Twilio operations', () => {
  const cases: [string, VendorRequest, Params, Partial<Operation>][] = [
    [
      'a message list is a catalogued free read',
      req('GET', messages),
      {},
      { id: 'twilio.api.list_message', class: 'read', movesMoney: false, costMicros: 0 },
    ],
    [
      'a message read without .json is the same read',
      req('GET', `/2010-04-01/Accounts/${ACCOUNT}/Messages/SM1`),
      {},
      { id: 'twilio.api.fetch_message', class: 'read' },
    ],
    [
      'deleting a message is free, and destructive',
      req('DELETE', `/2010-04-01/Accounts/${ACCOUNT}/Messages/SM1.json`),
      {},
      { id: 'twilio.api.delete_message', class: 'destructive', movesMoney: false },
    ],
    [
      'redacting a message is free',
      req('POST', `/2010-04-01/Accounts/${ACCOUNT}/Messages/SM1.json`),
      { Body: '' },
      { id: 'twilio.messages.update', movesMoney: false },
    ],
    [
      'hanging up a call is free',
      req('POST', `/2010-04-01/Accounts/${ACCOUNT}/Calls/CA1.json`),
      { Status: 'completed' },
      { id: 'twilio.calls.update', movesMoney: false },
    ],
    [
      'buying a number costs the purchase price',
      req('POST', `/2010-04-01/Accounts/${ACCOUNT}/IncomingPhoneNumbers/Local.json`),
      {},
      { movesMoney: true, costMicros: P.phoneNumberPurchase },
    ],
    [
      'a configuration write under the account is a catalogued write',
      req('POST', `/2010-04-01/Accounts/${ACCOUNT}/Queues.json`),
      {},
      { id: 'twilio.api.create_queue', class: 'write', movesMoney: false },
    ],
    [
      'a write under the account the definitions do not have is unknown',
      req('POST', `/2010-04-01/Accounts/${ACCOUNT}/Nonexistent.json`),
      {},
      { id: 'twilio.api.unknown', class: 'unknown', movesMoney: true, costMicros: 0 },
    ],
    [
      'a Studio execution moves money Keybrake cannot price',
      req('POST', '/v2/Flows/FW1/Executions', 'studio'),
      { To: '+14155550100', From: '+14155550199' },
      {
        id: 'twilio.studio.v2.create_execution',
        class: 'money_unpriced',
        movesMoney: true,
        costMicros: 0,
      },
    ],
    [
      'an SMS verification costs the fee and one segment',
      req('POST', '/v2/Services/VA1/Verifications', 'verify'),
      { To: '+14155550100', Channel: 'sms' },
      {
        id: 'twilio.verify.verifications.create',
        costMicros: P.verifyPerVerification + P.countries.US!.smsPerSegment,
      },
    ],
    [
      'a call verification costs the fee and two minutes',
      req('POST', '/v2/Services/VA1/Verifications', 'verify'),
      { To: '+14155550100', Channel: 'call' },
      { costMicros: P.verifyPerVerification + 2 * P.countries.US!.voicePerMinute },
    ],
    [
      'an email verification costs the fee only',
      req('POST', '/v2/Services/VA1/Verifications', 'verify'),
      { To: 'Ann@Example.com', Channel: 'email' },
      {
        costMicros: P.verifyPerVerification,
        parties: expect.objectContaining({ recipients: ['ann@example.com'] }),
      },
    ],
    [
      'an email verification trims the ASCII spaces around its address',
      req('POST', '/v2/Services/VA1/Verifications', 'verify'),
      { To: ' ann@example.com ', Channel: 'email' },
      { parties: expect.objectContaining({ recipients: ['ann@example.com'] }) },
    ],
    [
      'a verification check is free',
      req('POST', '/v2/Services/VA1/VerificationCheck', 'verify'),
      { To: '+14155550100', Code: '1234' },
      { movesMoney: false },
    ],
    [
      'a basic lookup is free',
      req('GET', '/v2/PhoneNumbers/+14155550100', 'lookups'),
      {},
      { movesMoney: false, costMicros: 0 },
    ],
    [
      'a line type lookup is paid although a GET',
      req('GET', '/v2/PhoneNumbers/+14155550100', 'lookups', 'Fields=line_type_intelligence'),
      {},
      { movesMoney: true, costMicros: P.lookupFields['line_type_intelligence'] },
    ],
    [
      'each lookup field is paid once',
      req(
        'GET',
        '/v2/PhoneNumbers/+14155550100',
        'lookups',
        'Fields=caller_name,line_type_intelligence&Fields=caller_name',
      ),
      {},
      { costMicros: P.lookupFields['caller_name']! + P.lookupFields['line_type_intelligence']! },
    ],
    [
      'an unknown lookup field is priced high, not free',
      req('GET', '/v2/PhoneNumbers/+14155550100', 'lookups', 'Fields=constructor'),
      {},
      { movesMoney: true, costMicros: P.lookupUnknown },
    ],
    [
      'a v1 carrier lookup is paid',
      req('GET', '/v1/PhoneNumbers/+14155550100', 'lookups', 'Type=carrier'),
      {},
      { costMicros: P.lookupV1Types['carrier'] },
    ],
    [
      'a read on another sub host is a catalogued free read',
      req('GET', '/v1/Services', 'messaging'),
      {},
      { id: 'twilio.messaging.v1.list_service', class: 'read', movesMoney: false },
    ],
    [
      'a configuration write on another sub host is a catalogued write',
      req('POST', '/v1/Services', 'messaging'),
      {},
      { id: 'twilio.messaging.v1.create_service', class: 'write', movesMoney: false },
    ],
    // Fourth probe round: what of Studio stays readable beside the definitions and contexts refused.
    [
      'a v1 Studio flow, which carries no definition, is a read',
      req('GET', '/v1/Flows/FW1', 'studio'),
      {},
      { id: 'twilio.studio.v1.fetch_flow', class: 'read' },
    ],
    [
      "a Studio flow's test users are a read",
      req('GET', '/v2/Flows/FW1/TestUsers', 'studio'),
      {},
      { id: 'twilio.studio.v2.fetch_test_user', class: 'read' },
    ],
    [
      'an Event Streams subscription, which names no credential, is a read',
      req('GET', '/v1/Subscriptions/DF1', 'events'),
      {},
      { id: 'twilio.events.v1.fetch_subscription', class: 'read' },
    ],
    [
      'a list of debugger alerts, which carries no request, is a read',
      req('GET', '/v1/Alerts', 'monitor'),
      {},
      { id: 'twilio.monitor.v1.list_alert', class: 'read' },
    ],
    [
      'a list of notifications, which carries no request, is a read',
      req('GET', `/2010-04-01/Accounts/${ACCOUNT}/Calls/CA1/Notifications.json`),
      {},
      { id: 'twilio.api.list_call_notification', class: 'read' },
    ],
    // Sixth probe round: beside the add-ons' configuration refused, their extensions stay reads, and
    // updating an installed add-on (its answer is the whole configuration) needs an exact entry.
    [
      "an assigned add-on's extensions are a read",
      req(
        'GET',
        `/2010-04-01/Accounts/${ACCOUNT}/IncomingPhoneNumbers/PN1/AssignedAddOns/XB1/Extensions.json`,
      ),
      {},
      { id: 'twilio.api.list_incoming_phone_number_assigned_add_on_extension', class: 'read' },
    ],
    [
      'updating an installed add-on is destructive',
      req('POST', '/v1/InstalledAddOns/XE1', 'marketplace'),
      {},
      { id: 'twilio.marketplace.v1.update_installed_add_on', class: 'destructive' },
    ],
    [
      'a write on another sub host the definitions do not have is unknown, on that host',
      req('POST', '/v1/Nonexistent', 'messaging'),
      {},
      { id: 'twilio.messaging.unknown', movesMoney: true },
    ],
    // Seventh round: recorded as twilio.unknown with the path /v2/Flows/FWabc6037/Weird, the call
    // did not say which product it was for.
    [
      'an unknown Studio call names Studio',
      req('POST', '/v2/Flows/FWabc6037/Weird', 'studio'),
      {},
      { id: 'twilio.studio.unknown', class: 'unknown', movesMoney: true },
    ],
    [
      'a call to a host Twilio does not publish is unknown, naming no host',
      req('GET', '/v1/Services', 'evil'),
      {},
      { id: 'twilio.unknown', movesMoney: true },
    ],
  ];
  it.each(cases)('%s', (_name, r, params, expected) => {
    expect(op(classify(r, params))).toMatchObject(expected);
  });
});

describe('Twilio operations refused by class', () => {
  it.each([
    ['creating a subaccount (its auth token comes back)', req('POST', '/2010-04-01/Accounts.json')],
    ['listing accounts without .json', req('GET', '/2010-04-01/Accounts')],
    ['reading its own account (the auth token)', req('GET', `/2010-04-01/Accounts/${ACCOUNT}.json`)],
    ['minting an API key', req('POST', `/2010-04-01/Accounts/${ACCOUNT}/Keys.json`)],
    [
      'a SIP credential',
      req('POST', `/2010-04-01/Accounts/${ACCOUNT}/SIP/CredentialLists/CL1/Credentials.json`),
    ],
    ['an IAM key', req('POST', '/v1/Keys', 'iam')],
    ['a secondary auth token', req('POST', '/v1/AuthTokens/Secondary', 'accounts')],
    ['a Functions variable', req('GET', '/v1/Services/ZS1/Environments/ZE1/Variables', 'serverless')],
    // Fourth probe round: reads whose answers carry what downloads an eSIM or ports a number away.
    ['reading an eSIM profile (its activation code)', req('GET', '/v1/ESimProfiles/HP1', 'supersim')],
    ['listing eSIM profiles', req('GET', '/v1/ESimProfiles', 'supersim')],
    ['creating an eSIM profile', req('POST', '/v1/ESimProfiles', 'supersim')],
    [
      "reading a port-in request (the losing carrier's account)",
      req('GET', '/v1/Porting/PortIn/KW1', 'numbers'),
    ],
    [
      'reading a number of a port-in (its port_out_pin)',
      req('GET', '/v1/Porting/PortIn/KW1/PhoneNumber/PU1', 'numbers'),
    ],
    // Fourth probe round: sets the code every agent's Flex UI loads, and billed recording of every call.
    ['updating the Flex configuration', req('POST', '/v1/Configuration', 'flex-api')],
    [
      "reading a Function version's source code",
      req('GET', '/v1/Services/ZS1/Functions/ZH1/Versions/ZN1/Content', 'serverless'),
    ],
    // Fourth probe round: a flow's definition holds its HTTP widgets' credentials, a context their answers.
    ["listing Studio flows (each one's definition)", req('GET', '/v2/Flows', 'studio')],
    ["reading a Studio flow's definition", req('GET', '/v2/Flows/FW1', 'studio')],
    ["listing a Studio flow's revisions", req('GET', '/v2/Flows/FW1/Revisions', 'studio')],
    ["reading a Studio flow's revision", req('GET', '/v2/Flows/FW1/Revisions/3', 'studio')],
    ["reading a Studio execution's context", req('GET', '/v2/Flows/FW1/Executions/FN1/Context', 'studio')],
    // The round's last probe: the execution itself, read or listed, carries its `context` too.
    ['reading a Studio execution', req('GET', '/v2/Flows/FW1/Executions/FN1', 'studio')],
    ["listing a Studio flow's executions", req('GET', '/v2/Flows/FW1/Executions', 'studio')],
    ["listing an execution's steps", req('GET', '/v2/Flows/FW1/Executions/FN1/Steps', 'studio')],
    ['reading a v1 engagement', req('GET', '/v1/Flows/FW1/Engagements/FN1', 'studio')],
    [
      "reading a Studio step's context",
      req('GET', '/v2/Flows/FW1/Executions/FN1/Steps/FT1/Context', 'studio'),
    ],
    ["reading a v1 execution's context", req('GET', '/v1/Flows/FW1/Executions/FN1/Context', 'studio')],
    [
      "reading a v1 execution step's context",
      req('GET', '/v1/Flows/FW1/Executions/FN1/Steps/FT1/Context', 'studio'),
    ],
    ["reading a v1 engagement's context", req('GET', '/v1/Flows/FW1/Engagements/FN1/Context', 'studio')],
    [
      "reading a v1 engagement step's context",
      req('GET', '/v1/Flows/FW1/Engagements/FN1/Steps/FT1/Context', 'studio'),
    ],
    // Fourth probe round: what Twilio connects to a sink with (a Segment write key, a Kinesis role).
    ['listing Event Streams sinks', req('GET', '/v1/Sinks', 'events')],
    ["reading an Event Streams sink's configuration", req('GET', '/v1/Sinks/DG1', 'events')],
    // Fourth probe round: a debugger event's request_variables replay the call that raised it.
    ["reading a debugger alert's request", req('GET', '/v1/Alerts/NO1', 'monitor')],
    [
      "reading a notification's request",
      req('GET', `/2010-04-01/Accounts/${ACCOUNT}/Notifications/NO1.json`),
    ],
    [
      "reading a call notification's request",
      req('GET', `/2010-04-01/Accounts/${ACCOUNT}/Calls/CA1/Notifications/NO1.json`),
    ],
    // Sixth probe round: free-form answers that hold what the customer configured or its code printed.
    [
      "reading a call's events (the TwiML its webhook answered: a SIP password)",
      req('GET', `/2010-04-01/Accounts/${ACCOUNT}/Calls/CA1/Events.json`),
    ],
    [
      "listing a number's add-ons (their configuration)",
      req('GET', `/2010-04-01/Accounts/${ACCOUNT}/IncomingPhoneNumbers/PN1/AssignedAddOns.json`),
    ],
    [
      "reading a number's add-on (its configuration)",
      req('GET', `/2010-04-01/Accounts/${ACCOUNT}/IncomingPhoneNumbers/PN1/AssignedAddOns/XB1.json`),
    ],
    ['listing installed add-ons', req('GET', '/v1/InstalledAddOns', 'marketplace')],
    ['reading an installed add-on', req('GET', '/v1/InstalledAddOns/XE1', 'marketplace')],
    ['reading an installed add-on (preview)', req('GET', '/marketplace/InstalledAddOns/XE1', 'preview')],
    ['reading the Flex configuration (its integrations)', req('GET', '/v1/Configuration', 'flex-api')],
    [
      "listing a Function environment's logs (its console output)",
      req('GET', '/v1/Services/ZS1/Environments/ZE1/Logs', 'serverless'),
    ],
    ['reading a Function log', req('GET', '/v1/Services/ZS1/Environments/ZE1/Logs/NO1', 'serverless')],
    ["listing AI Assistant tools (each one's webhook meta)", req('GET', '/v1/Tools', 'assistants')],
    ['reading an AI Assistant tool', req('GET', '/v1/Tools/TL1', 'assistants')],
    ["listing an assistant's tools", req('GET', '/v1/Assistants/AI1/Tools', 'assistants')],
    ['reading an assistant (with its tools)', req('GET', '/v1/Assistants/AI1', 'assistants')],
    // Sixth round: the conversation history holds the tool calls, with what their webhooks answered.
    ["listing an AI Assistant session's messages", req('GET', '/v1/Sessions/S1/Messages', 'assistants')],
    ['listing Monitor events (what each update changed)', req('GET', '/v1/Events', 'monitor')],
    ['reading a Monitor event', req('GET', '/v1/Events/AE1', 'monitor')],
  ])('refuses %s whatever the policy', (_name, r) => {
    expect(classify(r)).toMatchObject({ reason: 'credential_operation', message: /credential/ });
  });

  it('fails closed on every money operation whose rule is not implemented, and prices the others', () => {
    for (const row of TWILIO_OPERATIONS.filter((r) => r.class === 'money')) {
      const path = row.path.replace('{AccountSid}', ACCOUNT).replace(/\{[^}]+\}/g, 'XX1');
      const r = classify(req(row.method, path, row.host), { To: '+14155550100' });
      const unpriced = isDenial(r) && r.reason === 'price_unknown';
      expect({ id: row.id, unpriced }).toEqual({ id: row.id, unpriced: !PRICED_TWILIO_RULES.has(row.rule!) });
    }
  });
});

describe('Twilio calls with inline TwiML (ADR 0007 §7)', () => {
  const us = P.countries.US!.voicePerMinute;
  const unknown = P.unknownCountry.voicePerMinute;
  const base = { To: '+14155550100', From: '+14155550199', TimeLimit: '600' };
  const twiml = (inner: string) => ({ ...base, Twiml: `<Response>${inner}</Response>` });

  it.each([
    ['a <Dial> leg for the whole call at its rate', '<Dial>+447911123456</Dial>', 10 * us + 10 * unknown],
    [
      'a leg bounded by the Dial timeLimit',
      '<Dial timeLimit="90">+33612345678</Dial>',
      10 * us + 2 * P.countries.FR!.voicePerMinute,
    ],
    [
      'a timeLimit longer than the call at the call',
      '<Dial timeLimit="86400">+33612345678</Dial>',
      10 * us + 10 * P.countries.FR!.voicePerMinute,
    ],
    [
      'a recorded leg',
      '<Dial record="record-from-answer">+14155550123</Dial>',
      20 * us + 10 * P.recordingPerMinute,
    ],
    [
      'every number of a simultaneous dial',
      '<Dial><Number>+14155550123</Number><Number>+14155550124</Number></Dial>',
      30 * us,
    ],
    [
      'a SIP leg at the SIP rate',
      '<Dial><Sip>sip:a@pbx.example</Sip></Dial>',
      10 * us + 10 * P.clientOrSipPerMinute,
    ],
    [
      'a conference at the SDK/SIP rate',
      '<Dial><Conference>room</Conference></Dial>',
      10 * us + 10 * P.clientOrSipPerMinute,
    ],
    ['a SIM at the unknown rate', '<Dial><Sim>DE1</Sim></Dial>', 10 * us + 10 * unknown],
    [
      'an <Sms> at its destination rate per segment',
      `<Sms to="+33612345678">${'x'.repeat(161)}</Sms>`,
      10 * us + 2 * P.countries.FR!.smsPerSegment,
    ],
    ['an <Sms> without to at the callee rate', '<Sms>hi</Sms>', 10 * us + P.countries.US!.smsPerSegment],
    // Thirteenth round (probe fixother, finding 2): priced as SMS segments of its body before.
    [
      'a <Message> with <Media> as an MMS at its destination',
      '<Message to="+14155550123"><Body>x</Body><Media>https://example.com/a.png</Media></Message>',
      10 * us + P.countries.US!.mmsPerMessage!,
    ],
    [
      'a <Message> with <Media> where there is no MMS rate at the unknown-country MMS rate',
      '<Message to="+4915112345678"><Media>https://example.com/a.png</Media></Message>',
      10 * us + P.unknownCountry.mmsPerMessage,
    ],
    [
      'a <Message> with <Media> and a long text as the dearer SMS it may become',
      `<Message to="+4915112345678"><Body>${'x'.repeat(1600)}</Body><Media>https://example.com/a.png</Media></Message>`,
      // 1600 characters and a 64-character link: 1664 GSM-7 characters, 11 segments of 153.
      10 * us + 11 * P.countries.DE!.smsPerSegment,
    ],
    [
      'a <Message> with <Media> to WhatsApp per WhatsApp message',
      '<Message to="whatsapp:+14155550123"><Media>https://example.com/a.png</Media></Message>',
      10 * us + P.whatsappPerMessage,
    ],
    ['a recorded call', '<Record/>', 10 * us + 10 * P.recordingPerMinute],
    [
      'a streamed call',
      '<Start><Stream url="wss://s.example/x"/></Start>',
      10 * us + 10 * P.mediaStreamPerMinute,
    ],
    ['speech only', '<Say>hello</Say>', 10 * us],
  ])('prices %s', (_name, inner, cost) => {
    expect(op(classify(req('POST', calls), twiml(inner)))).toMatchObject({
      id: 'twilio.calls.create',
      costMicros: cost,
    });
  });

  it('reserves the default minutes (Twilio ends calls after 4 hours) for legs of a call without TimeLimit', () => {
    const { TimeLimit: _t, ...noLimit } = twiml('<Dial>+14155550123</Dial>');
    expect(P.defaultCallMinutes).toBe(240);
    expect(op(classify(req('POST', calls), noLimit)).costMicros).toBe(2 * 240 * us);
  });

  it('names every leg and message as a recipient with its country', () => {
    const result = op(
      classify(
        req('POST', calls),
        twiml(
          '<Dial><Number>+447911123456</Number><Sip>sip:x@pbx.example</Sip><Client>bob</Client><Queue>q</Queue></Dial><Sms to="+33612345678">x</Sms>',
        ),
      ),
    );
    expect(result.parties.recipients).toEqual([
      '+14155550100',
      '+447911123456',
      'sip:x@pbx.example',
      'client:bob',
      'queue:q',
      '+33612345678',
    ]);
    expect(result.parties.countries).toEqual(['US', 'GG', 'ZZ', 'FR']);
  });

  it('reports URLs and applications as instructions, and none for plain TwiML', () => {
    expect(op(classify(req('POST', calls), twiml('<Say>hi</Say>')))).not.toHaveProperty('instructions');
    expect(
      op(
        classify(req('POST', calls), {
          ...twiml('<Redirect>https://a.example/next</Redirect>'),
          Url: 'https://b.example/x',
          FallbackUrl: 'https://c.example/y',
          ApplicationSid: 'AP1',
          StatusCallback: 'https://d.example/status',
        }),
      ).instructions,
    ).toEqual([
      { kind: 'url', where: 'Url', url: 'https://b.example/x' },
      { kind: 'url', where: 'FallbackUrl', url: 'https://c.example/y' },
      { kind: 'opaque', where: 'ApplicationSid', what: 'a TwiML application' },
      { kind: 'url', where: 'Twiml <Redirect>', url: 'https://a.example/next' },
    ]);
  });

  it.each([
    ['malformed TwiML', '<Response><Dial>+447911123456</Response>', 'body_invalid'],
    ['TwiML over 4000 characters', `<Response><Say>${'a'.repeat(4000)}</Say></Response>`, 'body_invalid'],
    ['a DOCTYPE', '<!DOCTYPE r><Response/>', 'body_invalid'],
    ['a verb Keybrake cannot price', '<Response><Pay/></Response>', 'price_unknown'],
  ])('refuses %s', (_name, xml, reason) => {
    expect(classify(req('POST', calls), { ...base, Twiml: xml })).toMatchObject({ reason });
  });
});

describe('Twilio live-call updates (ADR 0007 §7)', () => {
  const update = `/2010-04-01/Accounts/${ACCOUNT}/Calls/CA1.json`;

  it('lets a hang-up through free', () => {
    const result = op(classify(req('POST', update), { Status: 'completed' }));
    expect(result).toMatchObject({ id: 'twilio.calls.update', movesMoney: false, costMicros: 0 });
    expect(result).not.toHaveProperty('instructions');
  });

  it('reports a redirect to remote instructions (free by itself)', () => {
    expect(
      op(classify(req('POST', update), { Url: 'https://evil.example/x', Method: 'POST' })),
    ).toMatchObject({
      movesMoney: false,
      instructions: [{ kind: 'url', where: 'Url', url: 'https://evil.example/x' }],
    });
  });

  it('prices new TwiML like a new call of the default length, naming its legs', () => {
    const result = op(
      classify(req('POST', update), { Twiml: '<Response><Dial>+33612345678</Dial></Response>' }),
    );
    expect(result).toMatchObject({
      movesMoney: true,
      costMicros: P.defaultCallMinutes * P.countries.FR!.voicePerMinute,
      parties: { recipients: ['+33612345678'], countries: ['FR'] },
    });
  });

  // A longer call lengthens what its running instructions started, which Keybrake cannot read (an
  // adversarial probe priced a $1/min dialled leg for one minute, then lengthened the call to 240).
  it('looks the call up to price a new TimeLimit at its destination rate, plus an unread leg and recording', () => {
    const result = op(classify(req('POST', update), { TimeLimit: '3600' }));
    expect(result.lookup?.path).toBe(`/2010-04-01/Accounts/${ACCOUNT}/Calls/CA1.json`);
    const unread = P.unknownCountry.voicePerMinute + P.recordingPerMinute;
    expect(result.lookup?.price({ to: '+33612345678' })).toBe(60 * (P.countries.FR!.voicePerMinute + unread));
    expect(result.lookup?.price({ to: 'client:alice' })).toBe(60 * (P.clientOrSipPerMinute + unread));
    expect(result.lookup?.price({})).toBe(60 * (P.unknownCountry.voicePerMinute + unread));
  });

  it("prices a <Message> with <Media> to the call's other party as an MMS at the looked-up party's rate", () => {
    const twiml = `<Response>${'<Message><Body>x</Body><Media>https://example.com/a.png</Media></Message>'.repeat(8)}</Response>`;
    const result = op(classify(req('POST', update), { Twiml: twiml }));
    expect(result.lookup?.price({ direction: 'inbound', from: '+14155550123', to: '+14155550000' })).toBe(
      8 * P.countries.US!.mmsPerMessage!,
    );
  });

  it('prices a new TimeLimit with new instructions by those instructions, not an unread leg', () => {
    const twiml = '<Response><Dial><Number>+14155550100</Number></Dial></Response>';
    const result = op(classify(req('POST', update), { TimeLimit: '60', Twiml: twiml }));
    const us = P.countries.US!.voicePerMinute;
    // Thirteenth round: first whether the dialled number is the account's own, then the live call.
    const live = result.lookup?.next?.({ incoming_phone_numbers: [] });
    expect(live?.price({ to: '+14155550123' })).toBe(us + us);
  });
});

// Sixteenth round (money16 finding 2): a host that builds its TwiML from the URL (a Twimlet, a TwiML
// Bin) dials what the agent wrote there; each destination is a <Dial> leg, named and priced as one.
describe('Twilio destinations written into instruction URLs', () => {
  const forward = 'https://twimlets.com/forward?PhoneNumber=%2B449098790000';

  it('names and prices them as a <Dial> leg of a new call', () => {
    const result = op(
      classify(req('POST', calls), {
        To: '+14155550100',
        From: '+14155550199',
        TimeLimit: '600',
        Url: forward,
      }),
    );
    expect(result.parties).toMatchObject({
      recipients: ['+14155550100', '+449098790000'],
      countries: ['US', 'GB'],
    });
    // +44 9 is premium rate: the unknown-country rate, for the call's ten minutes.
    expect(result.costMicros).toBe(10 * (P.countries.US!.voicePerMinute + P.unknownCountry.voicePerMinute));
  });

  it("names and prices them for a live call's redirect, as new TwiML is", () => {
    const update = `/2010-04-01/Accounts/${ACCOUNT}/Calls/CA1.json`;
    const result = op(
      classify(req('POST', update), { Url: 'https://twimlets.com/forward?PhoneNumber=+33612345678' }),
    );
    expect(result).toMatchObject({
      movesMoney: true,
      costMicros: P.defaultCallMinutes * P.countries.FR!.voicePerMinute,
      parties: { recipients: ['+33612345678'], countries: ['FR'] },
    });
  });

  it('names them on a number whose VoiceUrl forwards every call it receives', () => {
    const path = `/2010-04-01/Accounts/${ACCOUNT}/IncomingPhoneNumbers/PN1.json`;
    expect(op(classify(req('POST', path), { VoiceUrl: forward })).parties).toMatchObject({
      recipients: ['+449098790000'],
      countries: ['GB'],
    });
  });

  it('refuses an unreadable one, and a SIP address on a Twilio host, as inline legs are', () => {
    const base = { To: '+14155550100', From: '+14155550199' };
    expect(
      classify(req('POST', calls), { ...base, Url: 'https://a.example/f?To=%2B44%09909879' }),
    ).toMatchObject({
      reason: 'body_invalid',
    });
    expect(
      classify(req('POST', calls), { ...base, Url: 'https://a.example/f?To=sip:x@acme.sip.twilio.com' }),
    ).toMatchObject({ reason: 'price_unknown' });
  });
});

describe('Twilio instruction parameters of other operations (ADR 0007 §7)', () => {
  it.each([
    [
      'a conference participant WaitUrl',
      `/2010-04-01/Accounts/${ACCOUNT}/Conferences/CF1/Participants.json`,
      { To: '+14155550100', WaitUrl: 'https://w.example/x' },
      'WaitUrl',
    ],
    [
      'a number bought with a VoiceUrl',
      `/2010-04-01/Accounts/${ACCOUNT}/IncomingPhoneNumbers.json`,
      { PhoneNumber: '+14155550123', VoiceUrl: 'https://v.example/x' },
      'VoiceUrl',
    ],
    [
      'an application given an SmsUrl',
      `/2010-04-01/Accounts/${ACCOUNT}/Applications/AP1.json`,
      { SmsUrl: 'https://s.example/x' },
      'SmsUrl',
    ],
    [
      'a queue member redirected',
      `/2010-04-01/Accounts/${ACCOUNT}/Queues/QU1/Members/CA1.json`,
      { Url: 'https://q.example/x' },
      'Url',
    ],
    [
      'a number routed to an application',
      `/2010-04-01/Accounts/${ACCOUNT}/IncomingPhoneNumbers/PN1.json`,
      { VoiceApplicationSid: 'AP1' },
      'VoiceApplicationSid',
    ],
  ])('reports %s', (_name, path, params, where) => {
    expect(op(classify(req('POST', path), params)).instructions).toEqual([
      expect.objectContaining({ where }),
    ]);
  });

  it.each([
    [
      'an inbound address auto-creating into a Studio flow',
      '/v1/Configuration/Addresses',
      'conversations',
      { 'AutoCreation.StudioFlowSid': 'FW1' },
    ],
    [
      'a conversation webhook running a Studio flow',
      '/v1/Conversations/CH1/Webhooks',
      'conversations',
      { Target: 'studio', 'Configuration.FlowSid': 'FW1' },
    ],
    [
      'a Flex flow handing a channel to a Studio flow',
      '/v1/FlexFlows',
      'flex-api',
      { 'Integration.FlowSid': 'FW1' },
    ],
  ])('reports %s as instructions Keybrake cannot see', (_name, path, host, params) => {
    expect(op(classify(req('POST', path, host), params)).instructions).toEqual([
      expect.objectContaining({ kind: 'opaque', what: 'a Studio flow' }),
    ]);
  });

  // Third probe round: what sends the account's data elsewhere, or approves for the end user.
  it.each([
    ['the account-wide Conversations webhook', 'conversations', '/v1/Configuration/Webhooks'],
    ["a Conversations service's webhook", 'conversations', '/v1/Services/IS1/Configuration/Webhooks'],
    ["a Verify service's new webhook", 'verify', '/v2/Services/VA1/Webhooks'],
    ["a Verify service's webhook", 'verify', '/v2/Services/VA1/Webhooks/YW1'],
    ['approving a verification', 'verify', '/v2/Services/VA1/Verifications/VE1'],
  ])('makes setting %s destructive', (_name, host, path) => {
    expect(op(classify(req('POST', path, host), { Status: 'approved' }))).toMatchObject({
      class: 'destructive',
      movesMoney: false,
    });
  });

  // Third probe round: a standing webhook sends a service's (or conversation's, workspace's…)
  // messages or events to the URL the call names, like the account's and service's above.
  it.each([
    [
      'chat',
      '/v2/Services/IS1',
      { PostWebhookUrl: 'https://evil.example/hook', WebhookFilters: 'onMessageSent' },
    ],
    ['ip-messaging', '/v2/Services/IS1', { PreWebhookUrl: 'https://evil.example/hook' }],
    ['chat', '/v1/Services/IS1', { 'Webhooks.OnMessageSent.Url': 'https://evil.example/hook' }],
    ['ip-messaging', '/v1/Services/IS1', { 'Webhooks.OnMessageSent.Url': 'https://evil.example/hook' }],
    [
      'chat',
      '/v2/Services/IS1/Channels/CH1/Webhooks',
      { Type: 'webhook', 'Configuration.Url': 'https://evil.example' },
    ],
    [
      'ip-messaging',
      '/v2/Services/IS1/Channels/CH1/Webhooks/WH1',
      { 'Configuration.Url': 'https://evil.example' },
    ],
    [
      'conversations',
      '/v1/Conversations/CH1/Webhooks',
      { Target: 'webhook', 'Configuration.Url': 'https://evil.example' },
    ],
    ['conversations', '/v1/Conversations/CH1/Webhooks/WH1', { 'Configuration.Url': 'https://evil.example' }],
    ['conversations', '/v1/Services/IS1/Conversations/CH1/Webhooks', { Target: 'webhook' }],
    [
      'conversations',
      '/v1/Services/IS1/Conversations/CH1/Webhooks/WH1',
      { 'Configuration.Url': 'https://evil.example' },
    ],
    ['conversations', '/v1/Configuration/Addresses', { 'AutoCreation.WebhookUrl': 'https://evil.example' }],
    [
      'conversations',
      '/v1/Configuration/Addresses/IG1',
      { 'AutoCreation.WebhookUrl': 'https://evil.example' },
    ],
    ['flex-api', '/v1/FlexFlows/FO1', { 'Integration.Url': 'https://evil.example' }],
    ['messaging', '/v2/Channels/Senders/XE1', {}],
    ['messaging', '/v1/LinkShortening/Domains/DN1/Config', { CallbackUrl: 'https://evil.example' }],
    ['proxy', '/v1/Services/KS1', { InterceptCallbackUrl: 'https://evil.example' }],
    ['sync', '/v1/Services', { WebhookUrl: 'https://evil.example' }],
    ['sync', '/v1/Services/IS1', { WebhookUrl: 'https://evil.example' }],
    ['taskrouter', '/v1/Workspaces', { EventCallbackUrl: 'https://evil.example' }],
    ['taskrouter', '/v1/Workspaces/WS1', { EventCallbackUrl: 'https://evil.example' }],
    // Found by a probe of this rule: more places Twilio keeps sending content to.
    ['numbers', '/v1/Porting/Configuration/Webhook', { port_in_target_url: 'https://evil.example/in' }],
    ['video', '/v1/RecordingSettings/Default', { AwsS3Url: 'https://evil-bucket.s3.amazonaws.com/r' }],
    ['video', '/v1/CompositionSettings/Default', { AwsS3Url: 'https://evil-bucket.s3.amazonaws.com/c' }],
    ['assistants', '/v1/Tools', { name: 't', type: 'WEBHOOK', meta: { url: 'https://evil.example/tool' } }],
    ['assistants', '/v1/Assistants/aia_asst_1/Tools/aia_tool_1', {}],
    [
      'api',
      `/2010-04-01/Accounts/${ACCOUNT}/Calls/CA1/UserDefinedMessageSubscriptions.json`,
      { Callback: 'https://evil.example/udm' },
    ],
  ])('makes a standing webhook destructive: %s %s', (host, path, params) => {
    expect(op(classify(req('POST', path, host), params))).toMatchObject({
      class: 'destructive',
      movesMoney: false,
    });
  });

  it.each([
    ['a Chat channel', 'chat', '/v2/Services/IS1/Channels/CH1', { FriendlyName: 'x' }],
    ['a Sync document', 'sync', '/v1/Services/IS1/Documents/ET1', { Data: '{}' }],
    ['a TaskRouter task', 'taskrouter', '/v1/Workspaces/WS1/Tasks', { Attributes: '{}' }],
    ['a Proxy session', 'proxy', '/v1/Services/KS1/Sessions/KC1', { Status: 'closed' }],
  ])('leaves what lives under those services a write: %s', (_name, host, path, params) => {
    expect(op(classify(req('POST', path, host), params))).toMatchObject({ class: 'write' });
  });

  // Fourth probe round: a worker's contact_uri is dialled by reservations Keybrake never sees.
  it.each([
    ['creating', '/v1/Workspaces/WS1/Workers'],
    ['updating', '/v1/Workspaces/WS1/Workers/WK1'],
  ])('makes %s a TaskRouter worker destructive, naming its contact_uri', (_name, path) => {
    const result = op(
      classify(req('POST', path, 'taskrouter'), { Attributes: '{"contact_uri":"+19005550123"}' }),
    );
    expect(result).toMatchObject({ class: 'destructive', movesMoney: false });
    expect(result.parties.recipients).toEqual(['+19005550123']);
  });

  // Fourth probe round: a binding's address receives every later notification, sent outside Keybrake.
  it('makes creating a Notify binding destructive, naming its SMS address', () => {
    const params = { BindingType: 'sms', Address: '+442079460000', Identity: 'customer-42', Tag: 'all' };
    const result = op(classify(req('POST', '/v1/Services/IS1/Bindings', 'notify'), params));
    expect(result).toMatchObject({ class: 'destructive', movesMoney: false });
    expect(result.parties).toMatchObject({ recipients: ['+442079460000'], countries: ['GB'] });
  });

  it('refuses creating a Verify factor: the answer carries its TOTP seed', () => {
    const path = '/v2/Services/VA1/Entities/alice/Factors';
    expect(classify(req('POST', path, 'verify'), { FactorType: 'totp' })).toMatchObject({
      reason: 'credential_operation',
    });
    // Updating (verifying) a factor returns no seed: a write.
    expect(op(classify(req('POST', `${path}/YF1`, 'verify'), { AuthPayload: '123456' }))).toMatchObject({
      class: 'write',
    });
  });

  // Third probe round: a Chat channel is a conversation, whose messages reach its SMS participants.
  it.each([
    ['chat', '/v2'],
    ['chat', '/v1'],
    ['ip-messaging', '/v2'],
    ['ip-messaging', '/v1'],
  ])('makes a %s%s channel message money Keybrake cannot price, to recipients it cannot see', (host, v) => {
    const result = op(classify(req('POST', `${v}/Services/IS1/Channels/CH1/Messages`, host), { Body: 'hi' }));
    expect(result).toMatchObject({ class: 'money_unpriced', movesMoney: true, costMicros: 0 });
    expect(result.parties.recipients).toEqual(['(unseen recipient)']);
  });

  it.each([
    ['updating a Studio flow (it already runs for numbers routed to it)', 'destructive', '/v2/Flows/FW1'],
    // Third probe round: a new flow's definition dials anyone; its executions check only `To`.
    ['creating a Studio flow', 'destructive', '/v2/Flows'],
    ['validating a Studio flow (it runs nothing)', 'write', '/v2/Flows/Validate'],
  ])('makes %s %s', (_name, cls, path) => {
    expect(op(classify(req('POST', path, 'studio'), { Definition: '{}' }))).toMatchObject({ class: cls });
  });

  it('reports a Messaging Service inbound URL on its host', () => {
    expect(
      op(classify(req('POST', '/v1/Services/MG1', 'messaging'), { InboundRequestUrl: 'https://i.example/x' }))
        .instructions,
    ).toEqual([{ kind: 'url', where: 'InboundRequestUrl', url: 'https://i.example/x' }]);
  });

  it('ignores an empty URL (it clears the setting) and status callbacks', () => {
    expect(
      op(
        classify(req('POST', `/2010-04-01/Accounts/${ACCOUNT}/Applications/AP1.json`), {
          VoiceUrl: '',
          StatusCallback: 'https://x.example',
        }),
      ),
    ).not.toHaveProperty('instructions');
  });
});

describe('Twilio Conversations messages', () => {
  const path = '/v1/Conversations/CH00000000000000000000000000000001/Messages';
  const sms = (address: string, extra: Record<string, unknown> = {}) => ({
    messaging_binding: { type: 'sms', address, proxy_address: '+14155550199', ...extra },
  });
  const list = (participants: unknown[], next: string | null = null) => ({
    participants,
    meta: { next_page_url: next },
  });
  const notOwn = { incoming_phone_numbers: [] };
  /** The price the lookup reaches when every own-number read after the last page finds none. */
  const ownPriced = (first: CostLookup, page: unknown): number | undefined => {
    let lookup = first;
    let body = page;
    for (let reads = 0; reads < 30; reads++) {
      const next = lookup.next?.(body);
      if (next === undefined) return lookup.price(body);
      lookup = next;
      body = notOwn;
    }
    throw new Error('the chain did not end');
  };

  it('looks up the participants of the conversation, locking it', () => {
    const result = op(classify(req('POST', path, 'conversations'), { Body: 'hi' }));
    expect(result).toMatchObject({
      id: 'twilio.conversations.v1.create_conversation_message',
      movesMoney: true,
      locks: ['CH00000000000000000000000000000001'],
    });
    expect(result.lookup?.path).toBe(
      '/v1/Conversations/CH00000000000000000000000000000001/Participants?PageSize=100',
    );
    const service = op(
      classify(
        req(
          'POST',
          '/v1/Services/IS1/Conversations/CH00000000000000000000000000000002/Messages',
          'conversations',
        ),
        { Body: 'hi' },
      ),
    );
    expect(service).toMatchObject({ locks: ['CH00000000000000000000000000000002'] });
    expect(service.lookup?.path).toBe(
      '/v1/Services/IS1/Conversations/CH00000000000000000000000000000002/Participants?PageSize=100',
    );
  });

  it('prices every SMS and WhatsApp participant at messaging rates, and every participant as an active user', () => {
    const lookup = op(classify(req('POST', path, 'conversations'), { Body: 'x'.repeat(161) })).lookup!;
    const body = list([
      sms('+14155550100'),
      sms('+33612345678'),
      { messaging_binding: { type: 'whatsapp', address: 'whatsapp:+4915123456789' } },
      { identity: 'agent', messaging_binding: null },
    ]);
    expect(ownPriced(lookup, body)).toBe(
      2 * P.countries.US!.smsPerSegment +
        2 * P.countries.FR!.smsPerSegment +
        P.whatsappPerMessage +
        4 * P.conversationsActiveUser,
    );
    expect(lookup.parties?.(body)).toMatchObject({
      recipients: ['+14155550100', '+33612345678', '+4915123456789'],
      countries: ['US', 'FR', 'DE'],
    });
  });

  it('prices media and group MMS per message, a template at the longest body, an unknown binding at the dearest', () => {
    const media = op(classify(req('POST', path, 'conversations'), { MediaSid: 'ME1' })).lookup!;
    const user = P.conversationsActiveUser;
    expect(ownPriced(media, list([sms('+14155550100')]))).toBe(P.countries.US!.mmsPerMessage! + user);
    // Third probe round: media with a long body may become SMS segments and a link (MMS Converter).
    const long = op(classify(req('POST', path, 'conversations'), { MediaSid: 'ME1', Body: '😀'.repeat(800) }))
      .lookup!;
    expect(ownPriced(long, list([sms('+4915123456789')]))).toBe(26 * P.countries.DE!.smsPerSegment + user);
    const template = op(classify(req('POST', path, 'conversations'), { ContentSid: 'HX1' })).lookup!;
    expect(ownPriced(template, list([sms('+14155550100')]))).toBe(
      TEMPLATE_SEGMENTS * P.countries.US!.smsPerSegment + user,
    );
    // Third probe round: Twilio sends the template, not the Body.
    const both = op(classify(req('POST', path, 'conversations'), { Body: 'hi', ContentSid: 'HX1' })).lookup!;
    expect(ownPriced(both, list([sms('+14155550100')]))).toBe(
      TEMPLATE_SEGMENTS * P.countries.US!.smsPerSegment + user,
    );
    const group = list([
      sms('+14155550100'),
      { messaging_binding: { type: 'sms', projected_address: '+14155550199' } },
    ]);
    expect(ownPriced(template, group)).toBe(P.countries.US!.mmsPerMessage! + 2 * user);
    const other = list([{ messaging_binding: { type: 'rcs', address: '+14155550100' } }]);
    expect(ownPriced(template, other)).toBe(
      Math.max(
        TEMPLATE_SEGMENTS * P.countries.US!.smsPerSegment,
        P.countries.US!.mmsPerMessage!,
        P.whatsappPerMessage,
      ) + user,
    );
  });

  it('follows Twilio next pages on its own list only, and fails closed on anything else', () => {
    const lookup = op(classify(req('POST', path, 'conversations'), { Body: 'hi' })).lookup!;
    const first = list(
      [sms('+14155550100')],
      'https://conversations.twilio.com/v1/Conversations/CH00000000000000000000000000000001/Participants?PageSize=100&Page=1&PageToken=PT1',
    );
    const next = lookup.next!(first)!;
    expect(next.path).toBe(
      '/v1/Conversations/CH00000000000000000000000000000001/Participants?PageSize=100&Page=1&PageToken=PT1',
    );
    expect(lookup.price(first)).toBeUndefined();
    const segment = P.countries.US!.smsPerSegment;
    // After the first page a group MMS cannot be seen: an SMS participant is priced at the dearer of the two.
    expect(ownPriced(next, list([sms('+14155550101')]))).toBe(
      segment + Math.max(segment, P.countries.US!.mmsPerMessage!) + 2 * P.conversationsActiveUser,
    );
    const elsewhere = list(
      [],
      'https://evil.example/v1/Conversations/CH00000000000000000000000000000001/Participants?Page=1',
    );
    expect(lookup.next!(elsewhere)).toBeUndefined();
    expect(lookup.price(elsewhere)).toBeUndefined();
    expect(lookup.price({ participants: 'none' })).toBeUndefined();
    expect(lookup.price(list([{ messaging_binding: 'sms' }]))).toBeUndefined();
  });

  // Fourteenth round, probe fixtwre14, finding 1: the participants' numbers were priced without the
  // own-number look-up a message's To has (own-numbers.ts).
  it("looks the SMS participants' numbers up among the key's account's own numbers after the last page", () => {
    const lookup = op(classify(req('POST', path, 'conversations'), { Body: 'hi' })).lookup!;
    const first = list(
      [sms('+14155550100'), { messaging_binding: { type: 'whatsapp', address: 'whatsapp:+14155550102' } }],
      'https://conversations.twilio.com/v1/Conversations/CH00000000000000000000000000000001/Participants?Page=1',
    );
    const last = list([sms('+18885550100'), sms('+14155550100')]);
    const page2 = lookup.next!(first)!;
    expect(page2.price(last)).toBeUndefined();
    const read1 = page2.next!(last)!;
    expect(read1).toMatchObject({
      subHost: 'api',
      path: `/2010-04-01/Accounts/${ACCOUNT}/IncomingPhoneNumbers.json?PhoneNumber=%2B14155550100&PageSize=1`,
    });
    const read2 = read1.next!(notOwn)!;
    expect(read2.path).toContain('PhoneNumber=%2B18885550100');
    // The account's own number: unpriced, so refused.
    const own = { incoming_phone_numbers: [{ sid: 'PN1', phone_number: '+18885550100' }] };
    expect(read2.next?.(own)).toBeUndefined();
    expect(read2.price(own)).toBeUndefined();
    expect(read2.price(notOwn)).toBe(ownPriced(page2, last));
    // Only WhatsApp or chat participants: nothing to look up, priced from the list.
    const chat = list([{ identity: 'agent', messaging_binding: null }]);
    expect(lookup.next!(chat)).toBeUndefined();
    expect(lookup.price(chat)).toBe(P.conversationsActiveUser);
    // A key whose account cannot be told is not priced when there is a number to look up.
    const bearer = key({ kind: 'bearer', token: 'x' });
    const unknown = op(classify(req('POST', path, 'conversations'), { Body: 'hi' }, P, bearer)).lookup!;
    expect(unknown.next!(last)).toBeUndefined();
    expect(unknown.price(last)).toBeUndefined();
  });

  it('stops after ten pages', () => {
    let lookup = op(classify(req('POST', path, 'conversations'), { Body: 'hi' })).lookup!;
    const page = list(
      [sms('+14155550100')],
      'https://conversations.twilio.com/v1/Conversations/CH00000000000000000000000000000001/Participants?Page=n',
    );
    for (let i = 1; i < 10; i++) lookup = lookup.next!(page)!;
    expect(lookup.next!(page)).toBeUndefined();
    expect(lookup.price(page)).toBeUndefined();
  });

  it('locks the conversation while its participants change', () => {
    for (const p of [
      '/v1/Conversations/CH00000000000000000000000000000001/Participants',
      '/v1/Conversations/CH00000000000000000000000000000001/Participants/MB1',
      '/v1/Services/IS1/Conversations/CH00000000000000000000000000000001/Participants',
    ]) {
      expect(
        op(classify(req('POST', p, 'conversations'), { 'MessagingBinding.Address': '+14155550100' })),
      ).toMatchObject({ locks: ['CH00000000000000000000000000000001'] });
    }
  });

  // Sixth round: by unique name the participant add leased another name than the message by SID.
  it('refuses to lease a conversation its call names by unique name, unpriced and unread', () => {
    for (const [p, params] of [
      ['/v1/Conversations/support-room-1/Messages', { Body: 'hi' }],
      ['/v1/Conversations/support-room-1/Participants', { 'MessagingBinding.Address': '+14155550100' }],
    ] as const) {
      expect(classify(req('POST', p, 'conversations'), params)).toMatchObject({
        reason: 'path_invalid',
        message: expect.stringMatching(/address it by its SID/),
      });
    }
  });
});

describe('buying a phone number', () => {
  const body = (prices: { number_type: string; current_price: string }[], unit = 'USD') => ({
    price_unit: unit,
    phone_number_prices: prices.map((p) => ({ ...p, base_price: p.current_price })),
  });
  const US = body([
    { number_type: 'local', current_price: '1.15' },
    { number_type: 'toll free', current_price: '2.15' },
  ]);

  it.each([
    ['a local number', 'local', US, 1_150_000],
    ['a toll-free number', 'tollfree', US, 2_150_000],
    ['a number of unsaid type, at the dearest type', undefined, US, 2_150_000],
    ['a type the country does not sell', 'mobile', US, undefined],
    [
      'prices in another currency',
      'local',
      body([{ number_type: 'local', current_price: '1' }], 'EUR'),
      undefined,
    ],
    ['an answer that is no price list', 'local', { error: 'x' }, undefined],
  ])('prices %s from the Pricing API', (_name, type, answer, micros) => {
    expect(monthlyNumberPrice(answer, type)).toBe(micros);
  });
});

describe('buying a phone number reads its price from pricing.twilio.com', () => {
  it.each([
    [
      'a number given in full',
      '/IncomingPhoneNumbers.json',
      { PhoneNumber: '+447911123456' },
      '/v1/PhoneNumbers/Countries/GG',
    ],
    [
      'a North American area code',
      '/IncomingPhoneNumbers/Local.json',
      { AreaCode: '415' },
      '/v1/PhoneNumbers/Countries/US',
    ],
  ])('%s', (_name, path, params, lookupPath) => {
    const op = classify(req('POST', `/2010-04-01/Accounts/${ACCOUNT}${path}`), params) as TwilioOperation;
    expect(op.lookup).toMatchObject({ subHost: 'pricing', path: lookupPath });
  });

  it('reserves the flat price when the country cannot be read', () => {
    const op = classify(req('POST', `/2010-04-01/Accounts/${ACCOUNT}/IncomingPhoneNumbers.json`), {
      PhoneNumber: '12345',
    }) as TwilioOperation;
    expect(op).toMatchObject({ costMicros: P.phoneNumberPurchase });
    expect(op.lookup).toBeUndefined();
  });
});

// Twelfth round: an <Sms> without `to` in a live call's update texts the call's other party, and one
// without `from` leaves from the call's own number; the call is read for both, by its direction.
describe("a live call's update with an implicit party", () => {
  const update = `/2010-04-01/Accounts/${ACCOUNT}/Calls/CA1.json`;
  const sms = { Twiml: '<Response><Sms>Reply STOP</Sms></Response>' };
  const lookup = () => {
    const found = op(classify(req('POST', update), sms)).lookup;
    if (!found) throw new Error('no lookup');
    return found;
  };
  it.each([
    ['inbound', '+19005550100', '+14155550001', '+19005550100', '+14155550001'],
    ['outbound-api', '+14155550001', '+19005550100', '+19005550100', '+14155550001'],
    ['outbound-dial', '+14155550001', '+19005550100', '+19005550100', '+14155550001'],
  ])(
    'on an %s call texts %s→%s: the other party is the recipient, the own number the sender',
    (direction, from, to, recipient, sender) => {
      const body = { direction, from, to };
      expect(lookup().parties?.(body)).toMatchObject({ recipients: [recipient], senders: [sender] });
      expect(lookup().price(body)).toBeGreaterThan(0);
    },
  );
  it.each([
    ['no direction', { from: '+14155550001', to: '+14155550100' }],
    ['an undocumented direction', { direction: 'sideways', from: '+14155550001', to: '+14155550100' }],
    ['no from on an inbound call', { direction: 'inbound', to: '+14155550100' }],
    ['an unreadable caller', { direction: 'inbound', from: '+1415555,+1900', to: '+14155550100' }],
  ])('is not priced (denied) when the answer gives %s', (_name, body) => {
    expect(lookup().price(body)).toBeUndefined();
  });
  it('reads no call for an <Sms> that names both ends', () => {
    const named = { Twiml: '<Response><Sms to="+14155550100" from="+14155550001">hi</Sms></Response>' };
    // Only whether the texted number is the account's own (thirteenth round), never the live call.
    const lookup = op(classify(req('POST', update), named)).lookup;
    expect(lookup?.path).toMatch(/\/IncomingPhoneNumbers\.json\?PhoneNumber=%2B14155550100&PageSize=1$/);
    expect(lookup?.next?.({ incoming_phone_numbers: [] })).toBeUndefined();
    expect(lookup?.confirms).toBe(true);
  });
});
