// Twilio serves the 2010 API with or without `.json`, and answers a path without it in XML. Keybrake
// prices and admits `POST …/Messages` as the `.json` operation, and settles a call from its answer
// only when it can read it (JSON): an XML answer keeps the reservation, whatever Price or NumSegments
// it names, so a message is never counted lower than reserved on an answer Keybrake does not read;
// and the userinfo of its URLs is withheld as in JSON (sixth round). Against the real `keybrake
// serve` and a recording upstream that answers as Twilio does.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatUsd } from '../../src/money/micro-usd.ts';
import { newToken } from '../../src/tokens/token.ts';
import { destination } from '../../src/vendors/twilio/destinations.ts';
import { DEFAULT_TWILIO_PRICES } from '../../src/vendors/twilio/index.ts';
import { ratesFor } from '../../src/vendors/twilio/prices.ts';
import { type KeybrakeProcess, manifestDir, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { rawHttp } from './fixtures/http.ts';

const SID = 'AC00000000000000000000000000000042';
const AUTH_TOKEN = 'xml-answers-auth-token-0123456789';
const TOKEN = newToken('twilio');
const TO = '+14155550100';
const SEGMENT_MICROS = ratesFor(DEFAULT_TWILIO_PRICES, destination(TO)).smsPerSegment;
/** What the vendor reports the message cost: far less than one segment at Keybrake's rate. */
const REPORTED_PRICE = '-0.00010';
const WEBHOOK_PASSWORD = 'XmlHookPw789';

/** `METHOD path` of every request the upstream received. */
const received: string[] = [];
let upstream: Server;
let upstreamUrl: string;
let dir: Awaited<ReturnType<typeof manifestDir>>;
let kb: KeybrakeProcess;

/** Answers a message create as Twilio does: XML without `.json`, JSON with it, both naming the price. */
function startUpstream(): Server {
  return createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    // The message's text, as Twilio echoes it in the create's answer (XML escapes `&` and `<`).
    const text = new URLSearchParams(Buffer.concat(chunks).toString('utf8')).get('Body') ?? '';
    // Keybrake's look-up of the number among the account's own (c224fc5): none of them is; not a
    // forward, so not recorded.
    if (req.method === 'GET' && (req.url ?? '').includes('/IncomingPhoneNumbers.json?')) {
      const list = JSON.stringify({ incoming_phone_numbers: [] });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(list) });
      res.end(list);
      return;
    }
    const path = (req.url ?? '/').split('?', 1)[0]!;
    received.push(`${req.method} ${path}`);
    const callback = `https://app:${WEBHOOK_PASSWORD}@app.example.com/status`;
    const [type, body] = path.endsWith('.json')
      ? [
          'application/json',
          JSON.stringify({
            sid: 'SMxmlanswers0000000000000000000j',
            status: 'queued',
            num_segments: '1',
            price: REPORTED_PRICE,
            price_unit: 'USD',
            status_callback: callback,
            body: text,
          }),
        ]
      : [
          'application/xml',
          `<?xml version='1.0' encoding='UTF-8'?>\n<TwilioResponse><Message><Sid>SMxmlanswers0000000000000000000x</Sid><Status>queued</Status><NumSegments>1</NumSegments><Price>${REPORTED_PRICE}</Price><PriceUnit>USD</PriceUnit><StatusCallback>${callback}</StatusCallback><Body>${text.replaceAll('&', '&amp;').replaceAll('<', '&lt;')}</Body></Message></TwilioResponse>`,
        ];
    res.writeHead(201, {
      'content-type': type,
      'content-length': Buffer.byteLength(body),
      'twilio-request-id': `RQxml${received.length}`,
    });
    res.end(body);
  });
}

beforeAll(async () => {
  upstream = startUpstream().listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  dir = await manifestDir({
    'twilio.yaml': `
apiVersion: v1
kind: Secret
metadata: { name: twilio-live, namespace: agents }
stringData: { accountSid: ${SID}, authToken: ${AUTH_TOKEN} }
---
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: sms, namespace: agents }
spec:
  vendor: twilio
  limits: { perDayUsd: "10" }
  allow: { recipients: ["+1415555*"] }
---
apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: sms-bot, namespace: agents }
spec:
  vendor: twilio
  policyRef: { name: sms }
  upstreamSecretRef: { name: twilio-live }
  tokenSecretRef: { name: sms-bot-token, key: token }
---
apiVersion: v1
kind: Secret
metadata: { name: sms-bot-token, namespace: agents }
stringData: { token: ${TOKEN} }
`,
  });
  kb = await startKeybrake(serveArgs(dir.dir, { twilio: `${upstreamUrl}/{sub}` }));
});

afterAll(async () => {
  await kb?.stop();
  upstream?.closeAllConnections();
  await new Promise((resolve) => upstream?.close(resolve));
  await dir?.remove();
});

/** Sends one SMS to `path` (…/Messages or …/Messages.json) and returns the answer and its audit record. */
async function send(path: string, text = 'hi') {
  const mark = kb.audit.length;
  const res = await rawHttp(kb.urls.twilio!, {
    method: 'POST',
    target: path,
    headers: {
      Authorization: `Basic ${Buffer.from(`${SID}:${TOKEN}`).toString('base64')}`,
      'Content-Type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ To: TO, From: '+14155550199', Body: text }).toString(),
  });
  const audit = await kb.waitForAudit((r) => kb.audit.indexOf(r) >= mark && r['path'] === path);
  return { res, audit };
}

const MESSAGES = `/2010-04-01/Accounts/${SID}/Messages`;

describe('a message sent without .json, answered in XML', () => {
  it('stays counted at what was reserved, not the lower price the XML names', async () => {
    const { res, audit } = await send(MESSAGES);
    expect(res.status).toBe(201);
    expect(res.headers['keybrake-decision']).toBe('allow; reason=ok');
    expect(received).toContain(`POST /api${MESSAGES}`);
    expect(audit).toMatchObject({
      decision: 'allow',
      operation: 'twilio.messages.create',
      costUsd: formatUsd(SEGMENT_MICROS),
    });
  });

  // Userinfo since the fourth round; path and query since the fourteenth (webhook-urls.ts).
  it('answers with the userinfo, path and query of its URLs withheld', async () => {
    const { res } = await send(MESSAGES);
    expect(res.body).toContain(
      '<StatusCallback>https://withheld_by_keybrake@app.example.com/withheld_by_keybrake</StatusCallback>',
    );
    expect(res.raw).not.toContain(WEBHOOK_PASSWORD);
  });

  // Fourteenth round, probe fixes14b finding 4: the XML answer's <Body> had its links cut, while the
  // JSON answer's body keeps them (a message's text is message-bodies.ts's, never webhook-urls.ts's).
  it("keeps the message's text whole, the links it quotes included, as the JSON answer does", async () => {
    const text = 'your order: https://shop.example/orders/123?ref=abc';
    const xml = await send(MESSAGES, text);
    expect(xml.res.body).toContain(`<Body>${text}</Body>`);
    expect(xml.res.body).toContain('app.example.com/withheld_by_keybrake</StatusCallback>');
    const json = await send(`${MESSAGES}.json`, text);
    expect(JSON.parse(json.res.body)).toMatchObject({ body: text });
  });

  // The same call with `.json` is settled from its answer: what makes the XML case above a real check.
  it('whereas the JSON answer to the same call with .json settles to the price it reports', async () => {
    const { res, audit } = await send(`${MESSAGES}.json`);
    expect(res.status).toBe(201);
    expect(JSON.parse(res.body)).toMatchObject({
      status_callback: 'https://withheld_by_keybrake@app.example.com/withheld_by_keybrake',
    });
    expect(audit).toMatchObject({ decision: 'allow', costUsd: formatUsd(100) });
  });
});
