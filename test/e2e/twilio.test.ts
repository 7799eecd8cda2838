// twilio-node 6.2.0, unmodified, against the real `keybrake serve` CLI and the Twilio emulator: the
// two documented ways in (`client.api.baseUrl` and a rewriting RequestClient), the real credential
// swapped in upstream, every denial raised by the SDK as its own RestException with our message, and
// the counted cost matching what the emulator reports.
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startTwilioEmulator,
  TWILIO_EMULATOR_ACCOUNT,
  type TwilioEmulator,
} from '../../src/emulators/twilio.ts';
import { formatUsd, parseUsd } from '../../src/money/micro-usd.ts';
import { newToken } from '../../src/tokens/token.ts';
import { TEMPLATE_SEGMENTS } from '../../src/vendors/twilio/costs.ts';
import { destination } from '../../src/vendors/twilio/destinations.ts';
import { DEFAULT_TWILIO_PRICES, TWILIO_ERROR_CODES } from '../../src/vendors/twilio/index.ts';
import { ratesFor } from '../../src/vendors/twilio/prices.ts';
import { smsSegments } from '../../src/vendors/twilio/segments.ts';
import { type KeybrakeProcess, manifestDir, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { KeybrakeRequestClient } from '../fixtures/twilio-request-client.ts';

type Client = ReturnType<typeof twilio>;

const SID = TWILIO_EMULATOR_ACCOUNT.sid;
const AUTH_TOKEN = TWILIO_EMULATOR_ACCOUNT.authToken;
const OTHER_SID = 'AC00000000000000000000000000000099';
const VERIFY_SERVICE = 'VA00000000000000000000000000000001';
const FROM = '+14155550199';
const ALLOWED_TO = '+14155550100';

/** What the adapter charges per segment to the allowed destination: the daily cap is built from it. */
const SEGMENT_MICROS = ratesFor(DEFAULT_TWILIO_PRICES, destination(ALLOWED_TO)).smsPerSegment;
const CAPPED_MESSAGES = 3;
const DAILY_CAP_MICROS = CAPPED_MESSAGES * SEGMENT_MICROS;
const PER_CALL_USD = '0.10';
/** 1600 characters (Twilio's longest body) of UCS-2: far more segments than the per-call limit buys. */
const LONG_UCS2 = '✓'.repeat(1600);

/**
 * A Content template send: reserved at its longest text with ten media links (TEMPLATE_SEGMENTS), kept there
 * (a template may be media, billed as MMS, whatever num_segments says).
 */
const TEMPLATE_RESERVED_MICROS = TEMPLATE_SEGMENTS * SEGMENT_MICROS;
/** Room for two template sends only if the first one's reservation were settled down to one segment. */
const TEMPLATE_CAP_MICROS = TEMPLATE_RESERVED_MICROS + 2 * SEGMENT_MICROS;

const tokens = {
  sms: newToken('twilio'),
  intl: newToken('twilio'),
  capped: newToken('twilio'),
  template: newToken('twilio'),
  oracle: newToken('twilio'),
  voice: newToken('twilio'),
};

function manifests(): string {
  const key = (name: string, policy: string, token: string) => `
apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: ${name}, namespace: agents }
spec:
  vendor: twilio
  policyRef: { name: ${policy} }
  upstreamSecretRef: { name: twilio-live }
  tokenSecretRef: { name: ${name}-token, key: token }
---
apiVersion: v1
kind: Secret
metadata: { name: ${name}-token, namespace: agents }
stringData: { token: ${token} }
`;
  return `
apiVersion: v1
kind: Secret
metadata: { name: twilio-live, namespace: agents }
stringData: { accountSid: ${SID}, authToken: ${AUTH_TOKEN} }
---
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: sms-bot, namespace: agents }
spec:
  vendor: twilio
  limits: { perCallUsd: "${PER_CALL_USD}" }
  allow:
    endpoints:
      - "POST /2010-04-01/Accounts/*/Messages.json"
      - "GET /2010-04-01/Accounts/*/Messages/*.json"
      - "POST /v2/Services/*/Verifications"
    recipients: ["+1415555*"]
    countries: ["US"]
---
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: us-only, namespace: agents }
spec:
  vendor: twilio
  allow: { countries: ["US"] }
---
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: capped, namespace: agents }
spec:
  vendor: twilio
  limits: { perDayUsd: "${formatUsd(DAILY_CAP_MICROS)}" }
---
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: templates, namespace: agents }
spec:
  vendor: twilio
  limits: { perDayUsd: "${formatUsd(TEMPLATE_CAP_MICROS)}" }
---
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: oracle, namespace: agents }
spec:
  vendor: twilio
  limits: { perCallUsd: "300", perDayUsd: "100000" }
  allow:
    endpoints:
      - "* /2010-04-01/**"
      - "* /v1/**"
      - "* /v2/**"
      - "POST /2010-04-01/Accounts/{AccountSid}/IncomingPhoneNumbers.json"
      - "POST /v1/a2p/BrandRegistrations/{Sid}"
      # Destructive since the eleventh round: an SMS participant receives every later message.
      - "POST /v1/Conversations/{ConversationSid}/Participants"
---
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: voice, namespace: agents }
spec:
  vendor: twilio
  limits: { perCallUsd: "5" }
  allow:
    recipients: ["+1415555*"]
    countries: ["US"]
    twimlHosts: ["twiml.example.com"]
---
${key('oracle-twilio', 'oracle', tokens.oracle)}
---
${key('voice-bot-twilio', 'voice', tokens.voice)}
---
${key('sms-bot-twilio', 'sms-bot', tokens.sms)}
---
${key('intl-bot-twilio', 'us-only', tokens.intl)}
---
${key('capped-bot-twilio', 'capped', tokens.capped)}
---
${key('template-bot-twilio', 'templates', tokens.template)}
`;
}

let emulator: TwilioEmulator;
let kb: KeybrakeProcess;
let dir: Awaited<ReturnType<typeof manifestDir>>;

/** A client the way docs/vendors/twilio.md tells users to build one for api.twilio.com. */
function apiClient(token: string): Client {
  const client = twilio(SID, token);
  client.api.baseUrl = `${kb.urls['main']}/twilio`;
  return client;
}

/**
 * The audit record of a call: audit lines arrive asynchronously, so a record is matched by what
 * identifies it (the upstream request id, or the reason of a denial) among those after `mark`.
 */
function auditAfter(mark: number, pred: (r: Record<string, unknown>) => boolean) {
  return kb.waitForAudit((r) => kb.audit.indexOf(r) >= mark && pred(r));
}

/** The audit record of the allowed call `client` made last, found by the request id Twilio returned. */
function auditOfLastCall(client: Client) {
  const response = client.httpClient.lastResponse;
  expect(response?.headers['keybrake-decision']).toBe('allow; reason=ok');
  const id = response?.headers['twilio-request-id'];
  expect(id).toMatch(/^RQ/);
  return kb.waitForAudit((r) => r['upstreamRequestId'] === id);
}

function basicCredentials(header: unknown): string {
  expect(header).toMatch(/^Basic /);
  return Buffer.from(String(header).slice('Basic '.length), 'base64').toString('utf8');
}

beforeAll(async () => {
  emulator = await startTwilioEmulator();
  dir = await manifestDir({ 'twilio.yaml': manifests() });
  kb = await startKeybrake(serveArgs(dir.dir, { twilio: `${emulator.url}/{sub}` }));
});

afterAll(async () => {
  await kb?.stop();
  await emulator?.close();
  await dir?.remove();
});

/**
 * What reached the emulator besides Keybrake's reads of whether a number is the account's own
 * (thirteenth round, own-numbers.ts), which precede every text and call to a number.
 */
function forwarded<T extends { method: string; path: string }>(requests: readonly T[]): T[] {
  return requests.filter((r) => !(r.method === 'GET' && /\/IncomingPhoneNumbers\.json\?/.test(r.path)));
}

describe('twilio-node through Keybrake', () => {
  it('delivers an allowed SMS with the real Account SID and auth token, and the vault token nowhere upstream', async () => {
    const before = emulator.requests.length;
    const client = apiClient(tokens.sms);
    const message = await client.messages.create({
      to: ALLOWED_TO,
      from: FROM,
      body: 'Your order has shipped.',
    });

    expect(message.sid).toMatch(/^SM/);
    expect(message.to).toBe(ALLOWED_TO);
    const arrived = forwarded(emulator.requests.slice(before));
    expect(arrived).toHaveLength(1);
    expect(arrived[0]).toMatchObject({
      method: 'POST',
      path: `/api/2010-04-01/Accounts/${SID}/Messages.json`,
    });
    expect(basicCredentials(arrived[0]!.headers.authorization)).toBe(`${SID}:${AUTH_TOKEN}`);
    expect(new URLSearchParams(arrived[0]!.body).get('Body')).toBe('Your order has shipped.');
    expect(JSON.stringify(emulator.requests)).not.toContain(tokens.sms);

    const audit = await auditOfLastCall(client);
    expect(audit).toMatchObject({
      event: 'keybrake.call',
      vaultKey: 'agents/sms-bot-twilio',
      vendor: 'twilio',
      operation: 'twilio.messages.create',
      decision: 'allow',
      reason: 'ok',
      costUsd: formatUsd(SEGMENT_MICROS),
      upstreamStatus: 201,
    });
  });

  it.each([
    ['a one-segment GSM-7 text', 'Hello from the agent', 1],
    ['a 161-character GSM-7 text, two segments', 'x'.repeat(161), 2],
    ['a UCS-2 text of 135 characters, three segments', `Grüße ✓ ${'é'.repeat(127)}`, 3],
  ])('settles %s at num_segments × the table price', async (_name, body, segments) => {
    expect(smsSegments(body).segments).toBe(segments);
    const client = apiClient(tokens.sms);
    const message = await client.messages.create({ to: ALLOWED_TO, from: FROM, body });

    expect(Number(message.numSegments)).toBe(segments);
    const audit = await auditOfLastCall(client);
    expect(audit).toMatchObject({ decision: 'allow', costUsd: formatUsd(segments * SEGMENT_MICROS) });
  });

  // Ninth round: settled to the one segment Twilio reports, template sends passed a daily cap that
  // as many MMS (a media template) break.
  it('keeps a Content template send counted at its reservation, not the segments Twilio reports', async () => {
    const client = apiClient(tokens.template);
    const send = () =>
      client.messages.create({
        to: ALLOWED_TO,
        from: FROM,
        contentSid: 'HX00000000000000000000000000000001',
      });

    const first = await send();
    expect(first.numSegments).toBe('1');
    expect(await auditOfLastCall(client)).toMatchObject({
      decision: 'allow',
      costUsd: formatUsd(TEMPLATE_RESERVED_MICROS),
    });
    const before = emulator.requests.length;
    const err = await send().catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 403, code: TWILIO_ERROR_CODES.daily_cap_exceeded });
    expect(forwarded(emulator.requests.slice(before))).toEqual([]);
  });

  it('sends a Verify code through a RequestClient that rewrites verify.twilio.com to the proxy', async () => {
    const httpClient = new KeybrakeRequestClient(kb.urls['main']!);
    const client = twilio(SID, tokens.sms, { httpClient });
    const before = emulator.requests.length;

    const verification = await client.verify.v2
      .services(VERIFY_SERVICE)
      .verifications.create({ to: ALLOWED_TO, channel: 'sms' });

    expect(verification.status).toBe('pending');
    expect(httpClient.rewritten).toEqual([
      `${kb.urls['main']}/twilio/verify/v2/Services/${VERIFY_SERVICE}/Verifications`,
    ]);
    const arrived = emulator.requests.slice(before);
    expect(arrived).toHaveLength(1);
    expect(arrived[0]!.path).toBe(`/verify/v2/Services/${VERIFY_SERVICE}/Verifications`);
    expect(basicCredentials(arrived[0]!.headers.authorization)).toBe(`${SID}:${AUTH_TOKEN}`);
    expect(await auditOfLastCall(client)).toMatchObject({
      operation: 'twilio.verify.verifications.create',
      decision: 'allow',
      costUsd: formatUsd(DEFAULT_TWILIO_PRICES.verifyPerVerification + SEGMENT_MICROS),
    });
  });

  // Seventh round: recorded as twilio.unknown with the vendor-relative path alone, the record did not
  // say which product was called (`/v1/Services` is on verify, messaging, chat, sync, notify…).
  it('records a call the catalog does not have under the operation of its host, nothing forwarded', async () => {
    const before = emulator.requests.length;
    const mark = kb.audit.length;
    const res = await fetch(`${kb.urls['main']}/twilio/studio/v2/Flows/FWabc6037/Weird`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${SID}:${tokens.sms}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'A=1',
    });
    expect(res.headers.get('keybrake-decision')).toMatch(/^deny; /);
    await res.arrayBuffer();
    const record = await auditAfter(mark, (r) => r['path'] === '/v2/Flows/FWabc6037/Weird');
    expect(record).toMatchObject({ vendor: 'twilio', method: 'POST', operation: 'twilio.studio.unknown' });
    expect(emulator.requests.slice(before)).toEqual([]);
  });

  const denials: [
    string,
    keyof typeof tokens | 'unknown',
    (client: Client) => Promise<unknown>,
    keyof typeof TWILIO_ERROR_CODES,
    number,
    string,
  ][] = [
    [
      'a recipient outside +1415555*',
      'sms',
      (c) => c.messages.create({ to: '+12125550100', from: FROM, body: 'hi' }),
      'recipient_not_allowed',
      403,
      "Recipient +12125550100 is not in this key's recipient allowlist.",
    ],
    [
      'a +44 number under a US-only policy',
      'intl',
      (c) => c.messages.create({ to: '+44 20 7946 0958', from: FROM, body: 'hi' }),
      'country_not_allowed',
      403,
      "Destination country GB is not allowed by this key's policy.",
    ],
    [
      'a 1600-character UCS-2 message over the per-call limit',
      'sms',
      (c) => c.messages.create({ to: ALLOWED_TO, from: FROM, body: LONG_UCS2 }),
      'per_call_limit_exceeded',
      403,
      `This call costs $${formatUsd(smsSegments(LONG_UCS2).segments * SEGMENT_MICROS)}, over the per-call limit of $${PER_CALL_USD}.`,
    ],
    [
      'another Account SID in the path',
      'sms',
      (c) => c.api.v2010.accounts(OTHER_SID).messages.create({ to: ALLOWED_TO, from: FROM, body: 'hi' }),
      'account_not_allowed',
      403,
      'This vault key may only act on the Twilio account it was issued for.',
    ],
    [
      'a vault token the proxy does not know',
      'unknown',
      (c) => c.messages.create({ to: ALLOWED_TO, from: FROM, body: 'hi' }),
      'key_unknown',
      401,
      'Unknown or malformed Keybrake vault key.',
    ],
    [
      'a call outside the endpoint allowlist',
      'sms',
      (c) => c.calls.create({ to: ALLOWED_TO, from: FROM, url: 'https://example.com/twiml' }),
      'endpoint_not_allowed',
      403,
      `POST /2010-04-01/Accounts/${SID}/Calls.json is not in this key's endpoint allowlist.`,
    ],
  ];

  it.each(denials)(
    'raises RestException for %s (%s key) and never reaches Twilio',
    async (_name, who, call, reason, status, message) => {
      const token = who === 'unknown' ? newToken('twilio') : tokens[who];
      const before = emulator.requests.length;
      const mark = kb.audit.length;

      const client = apiClient(token);
      const err = await call(client).then(
        () => expect.unreachable('the call should have been denied'),
        (e: unknown) => e,
      );

      expect(err).toBeInstanceOf(twilio.RestException);
      expect(err).toMatchObject({
        status,
        code: TWILIO_ERROR_CODES[reason],
        message,
        moreInfo: `https://keybrake.dev/docs/reasons#${reason}`,
      });
      expect(client.httpClient.lastResponse?.headers['keybrake-decision']).toBe(`deny; reason=${reason}`);
      expect(await auditAfter(mark, (r) => r['reason'] === reason)).toMatchObject({
        decision: 'deny',
        costUsd: '0.00',
        upstreamStatus: null,
      });
      expect(forwarded(emulator.requests.slice(before))).toEqual([]);
    },
  );

  // An operation whose definition declares no body takes one only when it repeats the path (sixth
  // round follow-up): what twilio-node sends there, no body under a form Content-Type, still goes.
  it('forwards an A2P brand resubmission (no body declared) as twilio-node sends it: no body', async () => {
    const client = twilio(SID, tokens.oracle, { httpClient: new KeybrakeRequestClient(kb.urls['main']!) });
    const brand = 'BN00000000000000000000000000000001';
    const before = emulator.requests.length;
    const mark = kb.audit.length;

    // The emulator has no A2P brands: its 404 is the answer; what matters is that Twilio was asked.
    const answer = await client.messaging.v1
      .brandRegistrations(brand)
      .update()
      .then(
        () => undefined,
        (e: unknown) => e,
      );

    expect(answer).toMatchObject({ status: 404, code: 20404 });
    expect(client.httpClient.lastResponse?.headers['keybrake-decision']).toBe('allow; reason=ok');
    const arrived = emulator.requests.slice(before);
    expect(arrived.map((r) => `${r.method} ${r.path}`)).toEqual([
      `POST /messaging/v1/a2p/BrandRegistrations/${brand}`,
    ]);
    expect(arrived[0]!.body).toBe('');
    expect(basicCredentials(arrived[0]!.headers.authorization)).toBe(`${SID}:${AUTH_TOKEN}`);
    expect(
      await auditAfter(mark, (r) => r['operation'] === 'twilio.messaging.v1.update_brand_registrations'),
    ).toMatchObject({
      decision: 'allow',
      upstreamStatus: 404,
    });
  });

  it('denies a Verify code to a recipient outside the allowlist through the rewriting RequestClient', async () => {
    const client = twilio(SID, tokens.sms, { httpClient: new KeybrakeRequestClient(kb.urls['main']!) });
    const before = emulator.requests.length;

    const err = await client.verify.v2
      .services(VERIFY_SERVICE)
      .verifications.create({ to: '+12125550100', channel: 'sms' })
      .catch((e: unknown) => e);

    expect(err).toBeInstanceOf(twilio.RestException);
    expect(err).toMatchObject({ status: 403, code: TWILIO_ERROR_CODES.recipient_not_allowed });
    expect(emulator.requests.length).toBe(before);
  });

  it(`admits exactly ${CAPPED_MESSAGES} one-segment messages under a cap of ${CAPPED_MESSAGES} × the table price`, async () => {
    const client = apiClient(tokens.capped);
    const before = emulator.requests.length;
    for (let i = 0; i < CAPPED_MESSAGES; i++) {
      const sent = await client.messages.create({ to: ALLOWED_TO, from: FROM, body: `message ${i}` });
      expect(sent.numSegments).toBe('1');
    }
    const mark = kb.audit.length;

    const err = await client.messages
      .create({ to: ALLOWED_TO, from: FROM, body: 'one too many' })
      .catch((e: unknown) => e);

    expect(err).toBeInstanceOf(twilio.RestException);
    const cap = formatUsd(DAILY_CAP_MICROS);
    expect(err).toMatchObject({
      status: 403,
      code: TWILIO_ERROR_CODES.daily_cap_exceeded,
      message: `Keybrake: daily spend cap of $${cap} would be exceeded ($${cap} used, this call $${formatUsd(SEGMENT_MICROS)}).`,
    });
    expect(await auditAfter(mark, (r) => r['reason'] === 'daily_cap_exceeded')).toMatchObject({
      vaultKey: 'agents/capped-bot-twilio',
      decision: 'deny',
    });
    expect(forwarded(emulator.requests.slice(before))).toHaveLength(CAPPED_MESSAGES);
  });

  it('never writes a vault token or the auth token to its logs or audit records', () => {
    const output = kb.output();
    for (const token of Object.values(tokens)) expect(output).not.toContain(token);
    expect(output).not.toContain(AUTH_TOKEN);
  });
});

/** What the emulator billed (its own price list, an independent oracle) since `mark`, in micro-USD. */
function billedSince(mark: number): number {
  return emulator.charges.slice(mark).reduce((sum, c) => sum + c.micros, 0);
}

/** The audit record of `client`'s last allowed call, and what Keybrake counted for it. */
async function counted(client: Client): Promise<number> {
  const audit = await auditOfLastCall(client);
  const micros = parseUsd(String(audit['costUsd']));
  expect(micros).toBeDefined();
  return micros!;
}

describe('Twilio prices: what Keybrake counts is never less than what Twilio bills', () => {
  const oracle = () =>
    twilio(SID, tokens.oracle, { httpClient: new KeybrakeRequestClient(kb.urls['main']!) });

  const cases: [string, (c: Client) => Promise<unknown>][] = [
    ['a one-segment SMS to the US', (c) => c.messages.create({ to: ALLOWED_TO, from: FROM, body: 'hi' })],
    // Sixteenth round (money16 finding 1): scheduling is an Engagement Suite feature, billed its fee
    // once per message as link shortening is; the scheduled message was settled down to its segment.
    [
      'a scheduled SMS (Engagement Suite fee)',
      (c) =>
        c.messages.create({
          to: ALLOWED_TO,
          messagingServiceSid: 'MG00000000000000000000000000000001',
          body: 'Sale starts Friday',
          scheduleType: 'fixed',
          sendAt: new Date(Date.now() + 2 * 86_400_000),
        }),
    ],
    [
      'an SMS with its links shortened (Engagement Suite fee)',
      (c) => c.messages.create({ to: ALLOWED_TO, from: FROM, body: 'See https://a.co/x', shortenUrls: true }),
    ],
    [
      'a two-segment SMS to France',
      (c) => c.messages.create({ to: '+33612345678', from: FROM, body: 'x'.repeat(161) }),
    ],
    [
      'an SMS to Guernsey (+44 7911…), billed as GG',
      (c) => c.messages.create({ to: '+447911123456', from: FROM, body: 'hi' }),
    ],
    [
      'an MMS to the US',
      (c) => c.messages.create({ to: ALLOWED_TO, from: FROM, mediaUrl: ['https://media.example/a.png'] }),
    ],
    [
      'a WhatsApp message',
      (c) => c.messages.create({ to: 'whatsapp:+4915123456789', from: 'whatsapp:+14155550199', body: 'hi' }),
    ],
    [
      'a 5-minute call to the US',
      (c) =>
        c.calls.create({
          to: ALLOWED_TO,
          from: FROM,
          timeLimit: 300,
          twiml: '<Response><Say>hi</Say></Response>',
        }),
    ],
    [
      'a call without TimeLimit (Twilio stops it after 4 hours)',
      (c) => c.calls.create({ to: ALLOWED_TO, from: FROM, twiml: '<Response><Say>hi</Say></Response>' }),
    ],
    [
      'a recorded call with answering-machine detection',
      (c) =>
        c.calls.create({
          to: ALLOWED_TO,
          from: FROM,
          timeLimit: 600,
          record: true,
          machineDetection: 'Enable',
          twiml: '<Response><Say>hi</Say></Response>',
        }),
    ],
    [
      'a call whose TwiML dials France and texts another number',
      (c) =>
        c.calls.create({
          to: ALLOWED_TO,
          from: FROM,
          timeLimit: 900,
          twiml:
            '<Response><Dial timeLimit="600"><Number>+33612345678</Number></Dial><Sms to="+14155550101">bye</Sms></Response>',
        }),
    ],
    [
      'a call whose TwiML rings two numbers at once',
      (c) =>
        c.calls.create({
          to: ALLOWED_TO,
          from: FROM,
          timeLimit: 120,
          twiml:
            '<Response><Dial><Number>+4915123456789</Number><Number>+447911123456</Number></Dial></Response>',
        }),
    ],
    [
      'a conference participant dialled out',
      (c) =>
        c
          .conferences('CF00000000000000000000000000000001')
          .participants.create({ to: '+14155550102', from: FROM, timeLimit: 300 }),
    ],
    ['buying a phone number', (c) => c.incomingPhoneNumbers.create({ phoneNumber: '+14155550123' })],
    [
      'a Verify code by SMS',
      (c) => c.verify.v2.services(VERIFY_SERVICE).verifications.create({ to: ALLOWED_TO, channel: 'sms' }),
    ],
    [
      'a paid Lookup',
      (c) => c.lookups.v2.phoneNumbers(ALLOWED_TO).fetch({ fields: 'line_type_intelligence,caller_name' }),
    ],
  ];

  it.each(cases)('%s', async (_name, call) => {
    const client = oracle();
    const mark = emulator.charges.length;
    await call(client);
    const billed = billedSince(mark);
    expect(billed).toBeGreaterThan(0);
    expect(await counted(client)).toBeGreaterThanOrEqual(billed);
  });

  it('counts a message and a call at least at the price Twilio reports on the finished resource', async () => {
    const client = oracle();
    const message = await client.messages.create({ to: '+33612345678', from: FROM, body: 'x'.repeat(200) });
    const messageCost = await counted(client);
    const call = await client.calls.create({
      to: '+447911123456',
      from: FROM,
      timeLimit: 180,
      twiml: '<Response/>',
    });
    const callCost = await counted(client);

    // Reads of the finished resources, through Keybrake: free, and their price is not counted again.
    const sent = await client.messages(message.sid).fetch();
    const ended = await client.calls(call.sid).fetch();
    expect(await counted(client)).toBe(0);
    expect(parseUsd(String(sent.price).replace('-', ''))).toBeLessThanOrEqual(messageCost);
    expect(parseUsd(String(ended.price).replace('-', ''))).toBeLessThanOrEqual(callCost);
  });

  it('prices a Conversations message by its SMS and WhatsApp participants, looked up', async () => {
    const client = oracle();
    const conversation = client.conversations.v1.conversations('CH00000000000000000000000000000002');
    await conversation.participants.create({ identity: 'agent' });
    await conversation.participants.create({ 'messagingBinding.address': '+33612345678' });
    await conversation.participants.create({ 'messagingBinding.address': 'whatsapp:+4915123456789' });
    const mark = emulator.charges.length;
    const lookups = emulator.requests.length;

    await conversation.messages.create({ body: 'x'.repeat(161) });

    const billed = billedSince(mark);
    expect(billed).toBeGreaterThan(0);
    expect(await counted(client)).toBeGreaterThanOrEqual(billed);
    expect(emulator.requests.slice(lookups).map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /conversations/v1/Conversations/CH00000000000000000000000000000002/Participants?PageSize=100',
      // Fourteenth round: the SMS participant's number is looked up among the account's own first.
      `GET /api/2010-04-01/Accounts/${SID}/IncomingPhoneNumbers.json?PhoneNumber=%2B33612345678&PageSize=1`,
      'POST /conversations/v1/Conversations/CH00000000000000000000000000000002/Messages',
    ]);
  });

  it("prices a live call given a longer TimeLimit at the call's rate, looked up", async () => {
    const client = oracle();
    const call = await client.calls.create({
      to: '+447911123456',
      from: FROM,
      timeLimit: 60,
      twiml: '<Response/>',
    });
    const mark = emulator.charges.length;
    await client.calls(call.sid).update({ timeLimit: 3600 });
    const billed = billedSince(mark);
    expect(billed).toBeGreaterThan(0);
    expect(await counted(client)).toBeGreaterThanOrEqual(billed);
  });
});

describe('Twilio call instructions through twilio-node (ADR 0007 §7)', () => {
  const voice = () => apiClient(tokens.voice);

  it('places a call whose TwiML dials an allowed number, priced with the leg', async () => {
    const client = voice();
    const mark = emulator.charges.length;
    await client.calls.create({
      to: ALLOWED_TO,
      from: FROM,
      timeLimit: 60,
      // Not +14155550123, which a test above bought: a leg to the account's own number is refused.
      twiml: '<Response><Dial><Number>+14155550124</Number></Dial></Response>',
    });
    const cost = await counted(client);
    expect(cost).toBe(2 * ratesFor(DEFAULT_TWILIO_PRICES, destination('+14155550124')).voicePerMinute);
    expect(cost).toBeGreaterThanOrEqual(billedSince(mark));
  });

  it('fetches instructions from an allowed host', async () => {
    const client = voice();
    await client.calls.create({
      to: ALLOWED_TO,
      from: FROM,
      timeLimit: 60,
      url: 'https://twiml.example.com/flow',
    });
    expect(await counted(client)).toBeGreaterThan(0);
  });

  it.each<[string, (c: Client) => Promise<unknown>, keyof typeof TWILIO_ERROR_CODES, RegExp]>([
    [
      'a <Dial> to a premium number past the allowlists',
      (c) =>
        c.calls.create({
          to: ALLOWED_TO,
          from: FROM,
          timeLimit: 60,
          twiml: '<Response><Dial>+900555012345</Dial></Response>',
        }),
      'recipient_not_allowed',
      /Recipient \+900555012345/,
    ],
    [
      'instructions from another host',
      (c) =>
        c.calls.create({ to: ALLOWED_TO, from: FROM, timeLimit: 60, url: 'https://twiml.evil.example/x' }),
      'instructions_not_allowed',
      /twiml\.evil\.example, which is not in this key's allow\.twimlHosts/,
    ],
    [
      'a TwiML application',
      (c) =>
        c.calls.create({
          to: ALLOWED_TO,
          from: FROM,
          timeLimit: 60,
          applicationSid: 'AP00000000000000000000000000000001',
        }),
      'instructions_not_allowed',
      /TwiML application/,
    ],
    // Sixteenth round (money16 finding 2): a host that builds TwiML from its URL (a Twimlet, a TwiML
    // Bin) dials what the query says; that is a <Dial> leg, judged as one.
    [
      'a URL on the allowed host whose query names a number outside the allowlists',
      (c) =>
        c.calls.create({
          to: ALLOWED_TO,
          from: FROM,
          timeLimit: 60,
          url: 'https://twiml.example.com/forward?PhoneNumber=%2B449098790000',
        }),
      'recipient_not_allowed',
      /Recipient \+449098790000/,
    ],
    [
      'a live call redirected to the allowed host with a number outside the allowlists in the query',
      (c) =>
        c
          .calls('CA00000000000000000000000000000001')
          .update({ url: 'https://twiml.example.com/forward?PhoneNumber=+882163012345' }),
      'recipient_not_allowed',
      /Recipient \+882163012345/,
    ],
    [
      'a live call redirected elsewhere',
      (c) => c.calls('CA00000000000000000000000000000001').update({ url: 'https://twiml.evil.example/x' }),
      'instructions_not_allowed',
      /allow\.twimlHosts/,
    ],
    [
      'TwiML that is not well-formed',
      (c) =>
        c.calls.create({
          to: ALLOWED_TO,
          from: FROM,
          timeLimit: 60,
          twiml: '<Response><Dial>+14155550123</Response>',
        }),
      'body_invalid',
      /not well-formed/,
    ],
  ])('refuses %s with a RestException, and Twilio sees nothing', async (_name, call, reason, message) => {
    const before = emulator.requests.length;
    const err = await call(voice()).then(
      () => expect.unreachable('the call should have been denied'),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(twilio.RestException);
    expect(err).toMatchObject({ code: TWILIO_ERROR_CODES[reason], message: expect.stringMatching(message) });
    expect(emulator.requests.length).toBe(before);
  });
});
