// A message whose content Keybrake did not count from the request, or that Twilio answers carries
// media, is not settled down to its SMS segments (ninth round). A Content template may be a media
// template, sent and billed as MMS: a tester's 18 template sends were reserved at 25 segments each,
// settled to the one segment Twilio reported ($0.0118), and passed a $0.50 daily cap that 18 MMS
// ($0.032 each) break. Against the real `keybrake serve` and a recording upstream that answers every
// message create as Twilio answers an MMS.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatUsd } from '../../src/money/micro-usd.ts';
import { newToken } from '../../src/tokens/token.ts';
import { TEMPLATE_SEGMENTS } from '../../src/vendors/twilio/costs.ts';
import { destination } from '../../src/vendors/twilio/destinations.ts';
import { DEFAULT_TWILIO_PRICES } from '../../src/vendors/twilio/index.ts';
import { ratesFor } from '../../src/vendors/twilio/prices.ts';
import { type KeybrakeProcess, manifestDir, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { rawHttp } from './fixtures/http.ts';

const SID = 'AC00000000000000000000000000000043';
const AUTH_TOKEN = 'media-answers-auth-token-0123456789';
const TOKENS = { template: newToken('twilio'), sms: newToken('twilio') };
const TO = '+14155550100';
const RATES = ratesFor(DEFAULT_TWILIO_PRICES, destination(TO));
/** What a template send is reserved at: the longest body Twilio takes with a link per media item, as SMS (c224fc5). */
const TEMPLATE_RESERVED = TEMPLATE_SEGMENTS * RATES.smsPerSegment;
const MESSAGES = `/2010-04-01/Accounts/${SID}/Messages.json`;

/** `METHOD path` of every request the upstream received. */
const received: string[] = [];
let upstream: Server;
let dir: Awaited<ReturnType<typeof manifestDir>>;
let kb: KeybrakeProcess;

/** Answers every message create as Twilio answers an MMS at creation: one segment, one media, no price. */
function startUpstream(): Server {
  return createServer(async (req, res) => {
    for await (const _ of req);
    // Keybrake's look-up of the number among the account's own (c224fc5): none of them is; not a
    // forward, so not recorded.
    if (req.method === 'GET' && (req.url ?? '').includes('/IncomingPhoneNumbers.json?')) {
      const list = JSON.stringify({ incoming_phone_numbers: [] });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(list) });
      res.end(list);
      return;
    }
    received.push(`${req.method} ${(req.url ?? '/').split('?', 1)[0]}`);
    const body = JSON.stringify({
      sid: `MMmediaanswers${String(received.length).padStart(18, '0')}`,
      status: 'queued',
      num_segments: '1',
      num_media: '1',
      price: null,
      price_unit: 'USD',
    });
    res.writeHead(201, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
}

const key = (name: string, perDayUsd: string, token: string) => `
---
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: ${name}, namespace: agents }
spec:
  vendor: twilio
  limits: { perCallUsd: "1", perDayUsd: "${perDayUsd}" }
  allow: { recipients: ["+1415555*"] }
---
apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: ${name}-bot, namespace: agents }
spec:
  vendor: twilio
  policyRef: { name: ${name} }
  upstreamSecretRef: { name: twilio-live }
  tokenSecretRef: { name: ${name}-bot-token, key: token }
---
apiVersion: v1
kind: Secret
metadata: { name: ${name}-bot-token, namespace: agents }
stringData: { token: ${token} }
`;

beforeAll(async () => {
  upstream = startUpstream().listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  dir = await manifestDir({
    'twilio.yaml': `
apiVersion: v1
kind: Secret
metadata: { name: twilio-live, namespace: agents }
stringData: { accountSid: ${SID}, authToken: ${AUTH_TOKEN} }
${key('templates', '0.5', TOKENS.template)}${key('sms', '10', TOKENS.sms)}`,
  });
  kb = await startKeybrake(serveArgs(dir.dir, { twilio: `${upstreamUrl}/{sub}` }));
});

afterAll(async () => {
  await kb?.stop();
  upstream?.closeAllConnections();
  await new Promise((resolve) => upstream?.close(resolve));
  await dir?.remove();
});

/** Sends one message create with `form` on `token`; returns the answer and its audit record. */
async function send(token: string, form: Record<string, string>) {
  const mark = kb.audit.length;
  const res = await rawHttp(kb.urls.twilio!, {
    method: 'POST',
    target: MESSAGES,
    headers: {
      Authorization: `Basic ${Buffer.from(`${SID}:${token}`).toString('base64')}`,
      'Content-Type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ To: TO, From: '+14155550199', ...form }).toString(),
  });
  const audit = await kb.waitForAudit((r) => kb.audit.indexOf(r) >= mark && r['path'] === MESSAGES);
  return { res, audit };
}

describe('a message Twilio answers as an MMS', () => {
  it('keeps a Content template send counted at its reservation: the next one past the cap is refused, unsent', async () => {
    const template = { ContentSid: 'HX0123456789abcdef0123456789abcdef' };
    const first = await send(TOKENS.template, template);
    expect(first.res.status).toBe(201);
    expect(first.audit).toMatchObject({ decision: 'allow', costUsd: formatUsd(TEMPLATE_RESERVED) });
    expect(TEMPLATE_RESERVED).toBeGreaterThanOrEqual(RATES.mmsPerMessage);

    const before = received.length;
    const second = await send(TOKENS.template, template);
    expect(second.res.status).toBe(403);
    expect(second.res.headers['keybrake-decision']).toBe('deny; reason=daily_cap_exceeded');
    expect(received).toHaveLength(before);
  });

  it('counts an SMS whose answer says it carries media at no less than the MMS price', async () => {
    const { res, audit } = await send(TOKENS.sms, { Body: 'hi' });
    expect(res.status).toBe(201);
    expect(received).toContain(`POST /api${MESSAGES}`);
    expect(audit).toMatchObject({ decision: 'allow', costUsd: formatUsd(RATES.mmsPerMessage) });
  });
});
