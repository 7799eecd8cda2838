// The official @twilio-alpha/mcp 0.7.0 server (tools generated from Twilio's OpenAPI definitions),
// spawned over stdio and driven by the MCP SDK client as an agent host drives it. It has no base-URL
// option: it runs under the Keybrake redirect preload (`--require src/preload/redirect.cjs`) with
// KEYBRAKE_TWILIO_URL pointing at Keybrake's router, and takes its credentials as `AC…/SK…:secret`
// with the vault token as the secret. Its messaging and voice tools are allowed, priced and capped by
// a caps-only key; its credential tools (fetch the account, mint an API key) are refused by Keybrake
// whatever the policy says, and never reach Twilio.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startTwilioEmulator,
  TWILIO_EMULATOR_ACCOUNT,
  type TwilioEmulator,
} from '../../src/emulators/twilio.ts';
import { formatUsd, parseUsd } from '../../src/money/micro-usd.ts';
import { newToken } from '../../src/tokens/token.ts';
import { destination } from '../../src/vendors/twilio/destinations.ts';
import { DEFAULT_TWILIO_PRICES } from '../../src/vendors/twilio/index.ts';
import { ratesFor } from '../../src/vendors/twilio/prices.ts';
import { type KeybrakeProcess, manifestDir, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { connectMcpServer, type McpServer } from '../env/mcp.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const PRELOAD = path.join(ROOT, 'src/preload/redirect.cjs');
const TWILIO_MCP = path.join(ROOT, 'node_modules/@twilio-alpha/mcp/build/index.js');
const SID = TWILIO_EMULATOR_ACCOUNT.sid;
const AUTH_TOKEN = TWILIO_EMULATOR_ACCOUNT.authToken;
/** The API key SID the server wants beside the secret; Keybrake reads only the secret (the vault token). */
const KEY_SID = 'SK00000000000000000000000000000001';
const TO = '+14155550100';
const FROM = '+14155550199';
/**
 * Only these of the server's tools are loaded (`--tags`): messages, calls, the account and its keys,
 * and an Event Streams sink test (an operation that declares no body).
 */
const TAGS =
  'Api20100401Message,Api20100401Call,Api20100401Account,Api20100401Key,Api20100401NewKey,EventsV1SinkTest';
const SINK = 'DG00000000000000000000000000000001';

const token = newToken('twilio');
const US = ratesFor(DEFAULT_TWILIO_PRICES, destination(TO));
const SMS_MICROS = US.smsPerSegment;
const CALL_MICROS = US.voicePerMinute; // a call with TimeLimit=60
/** Room for one SMS and one one-minute call; a second SMS is over the day's cap. */
const DAY_CAP_MICROS = SMS_MICROS + CALL_MICROS + SMS_MICROS - 1;

const MANIFESTS = `
apiVersion: v1
kind: Secret
metadata: { name: twilio-live, namespace: agents }
stringData: { accountSid: ${SID}, authToken: ${AUTH_TOKEN} }
---
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: mcp-caps, namespace: agents }
spec:
  vendor: twilio
  limits: { perCallUsd: "1", perDayUsd: "${formatUsd(DAY_CAP_MICROS)}" }
---
apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: mcp-twilio, namespace: agents }
spec:
  vendor: twilio
  policyRef: { name: mcp-caps }
  upstreamSecretRef: { name: twilio-live }
  tokenSecretRef: { name: mcp-twilio-token, key: token }
---
apiVersion: v1
kind: Secret
metadata: { name: mcp-twilio-token, namespace: agents }
stringData: { token: ${token} }
`;

let emulator: TwilioEmulator;
let kb: KeybrakeProcess;
let dir: Awaited<ReturnType<typeof manifestDir>>;
let mcp: McpServer;
/** Every tool result text the model would have seen. */
const seen: string[] = [];

/**
 * Calls a tool as a host does. The server answers a failed request by throwing the response body,
 * which reaches the client as an error result or a JSON-RPC error: both are what the model sees.
 */
async function callTool(name: string, args: Record<string, unknown>): Promise<{ ok: boolean; text: string }> {
  try {
    const result = (await mcp.client.callTool({ name, arguments: args })) as {
      isError?: boolean;
      content: { type: string; text?: string }[];
    };
    const text = result.content.map((c) => c.text ?? '').join('\n');
    seen.push(text);
    return { ok: result.isError !== true, text };
  } catch (err) {
    const text = (err as Error).message;
    seen.push(text);
    return { ok: false, text };
  }
}

/** The audit record of the mcp-twilio key's next call with this reason, after `mark`. */
/** Keybrake's read, before a text or call to TO, of whether TO is one of the account's own numbers. */
const OWN_NUMBER_READ = `GET /api/2010-04-01/Accounts/${SID}/IncomingPhoneNumbers.json?PhoneNumber=${encodeURIComponent(TO)}&PageSize=1`;

function auditAfter(mark: number, reason: string) {
  return kb.waitForAudit(
    (r) => kb.audit.indexOf(r) >= mark && r['vaultKey'] === 'agents/mcp-twilio' && r['reason'] === reason,
  );
}

function basicCredentials(header: unknown): string {
  return Buffer.from(String(header).replace(/^Basic /, ''), 'base64').toString('utf8');
}

beforeAll(async () => {
  emulator = await startTwilioEmulator();
  dir = await manifestDir({ 'keys.yaml': MANIFESTS });
  kb = await startKeybrake(serveArgs(dir.dir, { twilio: `${emulator.url}/{sub}` }));
  mcp = await connectMcpServer({
    args: ['--require', PRELOAD, TWILIO_MCP, `${SID}/${KEY_SID}:${token}`, '--services', '', '--tags', TAGS],
    env: { KEYBRAKE_TWILIO_URL: `${kb.urls['main']}/twilio` },
    cwd: dir.dir,
  });
});

afterAll(async () => {
  await mcp?.close();
  await kb?.stop();
  await emulator?.close();
  await dir?.remove();
});

describe('@twilio-alpha/mcp through Keybrake via the redirect preload', () => {
  it('announces the redirect on stderr and lists its messaging, voice and credential tools', async () => {
    const { tools } = await mcp.client.listTools();

    expect(tools.map((t) => t.name)).toEqual(
      expect.arrayContaining([
        'TwilioApiV2010--CreateMessage',
        'TwilioApiV2010--CreateCall',
        'TwilioApiV2010--FetchAccount',
        'TwilioApiV2010--CreateNewKey',
        'TwilioEventsV1--CreateSinkTest',
      ]),
    );
    expect(mcp.stderr()).toContain(`keybrake preload: redirecting twilio → ${kb.urls['main']}/twilio`);
  });

  it('sends an SMS: priced, counted, and delivered with the real credential', async () => {
    const before = emulator.requests.length;
    const mark = kb.audit.length;

    const result = await callTool('TwilioApiV2010--CreateMessage', {
      To: TO,
      From: FROM,
      Body: 'Your order shipped.',
    });

    expect(result.ok).toBe(true);
    expect(JSON.parse(result.text)).toMatchObject({ sid: expect.stringMatching(/^SM/), to: TO });
    const arrived = emulator.requests.slice(before);
    // First Keybrake's read of whether the number is the account's own (thirteenth round).
    expect(arrived.map((r) => `${r.method} ${r.path}`)).toEqual([
      OWN_NUMBER_READ,
      `POST /api/2010-04-01/Accounts/${SID}/Messages.json`,
    ]);
    expect(basicCredentials(arrived[1]!.headers.authorization)).toBe(`${SID}:${AUTH_TOKEN}`);
    // It really is the MCP server's own HTTP client talking, not this test.
    expect(arrived[1]!.headers['user-agent']).toMatch(/^twilio-openapi-mcp-server\//);
    const audit = await auditAfter(mark, 'ok');
    expect(audit).toMatchObject({
      operation: 'twilio.messages.create',
      decision: 'allow',
      costUsd: formatUsd(SMS_MICROS),
    });
    expect(parseUsd(String(audit['costUsd']))).toBeGreaterThan(0);
  });

  it('places a call with inline TwiML: priced for its TimeLimit at the destination rate', async () => {
    const before = emulator.requests.length;
    const mark = kb.audit.length;

    const result = await callTool('TwilioApiV2010--CreateCall', {
      To: TO,
      From: FROM,
      TimeLimit: 60,
      Twiml: '<Response><Say>Your order shipped.</Say></Response>',
    });

    expect(result.ok).toBe(true);
    expect(JSON.parse(result.text)).toMatchObject({ sid: expect.stringMatching(/^CA/), to: TO });
    const arrived = emulator.requests.slice(before);
    // First Keybrake's read of whether the number is the account's own (thirteenth round).
    expect(arrived.map((r) => `${r.method} ${r.path}`)).toEqual([
      OWN_NUMBER_READ,
      `POST /api/2010-04-01/Accounts/${SID}/Calls.json`,
    ]);
    expect(basicCredentials(arrived[1]!.headers.authorization)).toBe(`${SID}:${AUTH_TOKEN}`);
    expect(await auditAfter(mark, 'ok')).toMatchObject({
      operation: 'twilio.calls.create',
      costUsd: formatUsd(CALL_MICROS),
    });
  });

  // Sixth round: the server sends its tool's arguments as a JSON body (`{"Sid":…}`) even to an
  // operation whose definition declares no body, which Keybrake refused body_invalid whatever the
  // policy. A body that only repeats the path is taken, and the call forwarded without it.
  it('tests an Event Streams sink (no body declared): forwarded without the JSON body the server adds', async () => {
    const before = emulator.requests.length;
    const mark = kb.audit.length;

    await callTool('TwilioEventsV1--CreateSinkTest', { Sid: SINK });

    const arrived = emulator.requests.slice(before);
    expect(arrived.map((r) => `${r.method} ${r.path}`)).toEqual([`POST /events/v1/Sinks/${SINK}/Test`]);
    expect(arrived[0]!.body).toBe('');
    expect(arrived[0]!.headers['content-type']).toBeUndefined();
    expect(basicCredentials(arrived[0]!.headers.authorization)).toBe(`${SID}:${AUTH_TOKEN}`);
    expect(await auditAfter(mark, 'ok')).toMatchObject({
      operation: 'twilio.events.v1.create_sink_test',
      decision: 'allow',
      costUsd: '0.00',
    });
  });

  it('refuses a call whose instructions come from a URL (no allow.twimlHosts), before Twilio', async () => {
    const before = emulator.requests.length;
    const mark = kb.audit.length;

    const result = await callTool('TwilioApiV2010--CreateCall', {
      To: TO,
      From: FROM,
      TimeLimit: 60,
      Url: 'https://twiml.evil.example/dial-abroad',
    });

    expect(result.ok).toBe(false);
    expect(result.text).toContain('allow.twimlHosts');
    expect(emulator.requests.length).toBe(before);
    expect(await auditAfter(mark, 'instructions_not_allowed')).toMatchObject({
      decision: 'deny',
      costUsd: '0.00',
    });
  });

  it('denies the SMS that would pass the day cap, and Twilio sees no message', async () => {
    const before = emulator.requests.length;
    const mark = kb.audit.length;

    const result = await callTool('TwilioApiV2010--CreateMessage', {
      To: TO,
      From: FROM,
      Body: 'One too many.',
    });

    expect(result.ok).toBe(false);
    expect(result.text).toContain('daily spend cap');
    // Only the read of whether the number is the account's own, which the cap is checked after.
    expect(emulator.requests.slice(before).map((r) => `${r.method} ${r.path}`)).toEqual([OWN_NUMBER_READ]);
    expect(await auditAfter(mark, 'daily_cap_exceeded')).toMatchObject({ decision: 'deny', costUsd: '0.00' });
  });

  it.each([
    ['fetching the account (its auth token)', 'TwilioApiV2010--FetchAccount', { Sid: SID }, 'GET'],
    [
      'minting an API key',
      'TwilioApiV2010--CreateNewKey',
      { AccountSid: SID, FriendlyName: 'agent' },
      'POST',
    ],
    ['listing the API keys', 'TwilioApiV2010--ListKey', { AccountSid: SID }, 'GET'],
  ])('refuses %s with credential_operation; nothing reaches Twilio', async (_name, tool, args, method) => {
    const before = emulator.requests.length;
    const mark = kb.audit.length;

    const result = await callTool(tool, args);

    expect(result.ok).toBe(false);
    expect(result.text).toMatch(/credential/);
    expect(emulator.requests.length).toBe(before);
    expect(await auditAfter(mark, 'credential_operation')).toMatchObject({
      decision: 'deny',
      method,
      costUsd: '0.00',
    });
  });

  it('never lets the vault token upstream, nor the auth token into any output', () => {
    expect(emulator.requests.length).toBeGreaterThan(0);
    for (const r of emulator.requests) expect(JSON.stringify(r)).not.toContain(token);
    expect(seen.join('\n')).not.toContain(AUTH_TOKEN);
    expect(mcp.stderr()).not.toContain(token);
    expect(mcp.stderr()).not.toContain(AUTH_TOKEN);
    expect(kb.output()).not.toContain(token);
    expect(kb.output()).not.toContain(AUTH_TOKEN);
  });
});
