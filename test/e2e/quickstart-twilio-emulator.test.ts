// The quick start's Twilio manifests, unchanged, against the Twilio emulator set up with the quick
// start's own placeholder credentials, driven by twilio-node as the README's client table says
// (`client.api.baseUrl`). Twelfth round (probe legit finding 2): the placeholder auth token was 32
// zeros, which the placeholder Account SID (AC + 32 zeros) holds; every Twilio answer carries the SID,
// so the check for the upstream credential in answers fired on every allowed call and the SDK got
// 502 credential_in_response after the SMS was accepted. The placeholder is now no part of the SID.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import twilio from 'twilio';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTwilioEmulator, type TwilioEmulator } from '../../src/emulators/twilio.ts';
import { type KeybrakeProcess, serveArgs, startKeybrake } from '../env/keybrake.ts';

const QUICKSTART = path.resolve(import.meta.dirname, '../../examples/quickstart');

/** One `field: value` of the quick start's twilio.yaml, quotes taken off. */
function field(yaml: string, name: string): string {
  const value = new RegExp(`^\\s*${name}: "?([^"\\s]+)"?\\s*$`, 'm').exec(yaml)?.[1];
  if (value === undefined) throw new Error(`examples/quickstart/twilio.yaml has no ${name}`);
  return value;
}

let emulator: TwilioEmulator;
let kb: KeybrakeProcess;
let sid: string;
let token: string;

beforeAll(async () => {
  const yaml = await readFile(path.join(QUICKSTART, 'twilio.yaml'), 'utf8');
  sid = field(yaml, 'accountSid');
  token = field(yaml, 'token');
  emulator = await startTwilioEmulator({ accounts: [{ sid, authToken: field(yaml, 'authToken') }] });
  kb = await startKeybrake(serveArgs(QUICKSTART, { twilio: `${emulator.url}/{sub}` }));
}, 60_000);

afterAll(async () => {
  await kb?.stop();
  await emulator?.close();
});

describe('the Twilio quick start against an emulator taking its placeholder credentials', () => {
  it("sends an SMS with twilio-node as the README says, and hands the emulator's answer back", async () => {
    const client = twilio(sid, token);
    client.api.baseUrl = `${kb.urls['main']}/twilio`;

    const message = await client.messages.create({ from: '+15005550006', to: '+14155550100', body: 'hello' });

    expect(message.sid).toMatch(/^SM/);
    expect(message.accountSid).toBe(sid);
    const audit = await kb.waitForAudit((r) => r['operation'] === 'twilio.messages.create', 30_000);
    expect(audit).toMatchObject({ decision: 'allow', reason: 'ok', upstreamStatus: 201 });
  });
});
