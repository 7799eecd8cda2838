// The quick start's "sent mail only" reads (GET /emails, GET /emails/{email_id}), through the real
// `keybrake serve` serving examples/quickstart/resend.yaml as shipped, against the Resend emulator
// (twelfth round, probe12-resend finding 3): they answer every email of the Resend team, the
// merchant's app's included, and a customer's magic link reached the agent. The mail's content is
// now withheld; who it went to and what became of it stay.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RESEND_EMULATOR_KEY, type ResendEmulator, startResendEmulator } from '../../src/emulators/resend.ts';
import { WITHHELD } from '../../src/vendors/types.ts';
import { type KeybrakeProcess, manifestDir, serveArgs, startKeybrake } from '../env/keybrake.ts';

const QUICKSTART = path.resolve(import.meta.dirname, '../../examples/quickstart/resend.yaml');
const MAGIC = 'SECRET_MAGIC_TOKEN_123';
const CODE = '982451';

let emulator: ResendEmulator;
let kb: KeybrakeProcess;
let dir: Awaited<ReturnType<typeof manifestDir>>;
let token: string;
let sentId: string;

beforeAll(async () => {
  emulator = await startResendEmulator();
  const text = await readFile(QUICKSTART, 'utf8');
  token = /token: (kb_resend_\w+)/.exec(text)![1]!;
  dir = await manifestDir({
    'resend.yaml': text.replace('re_keybrake_quickstart_not_a_real_key', RESEND_EMULATOR_KEY),
  });
  kb = await startKeybrake(serveArgs(dir.dir, { resend: emulator.url }));
  // The merchant's sign-in service mails its customer through the same Resend team, not through Keybrake.
  const res = await fetch(`${emulator.url}/emails`, {
    method: 'POST',
    headers: { authorization: `Bearer ${RESEND_EMULATOR_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      from: 'login@app.example.org',
      to: 'victim@customer.test',
      subject: `${CODE} is your sign-in code`,
      html: `<a href="https://app.example.org/magic?token=${MAGIC}">Sign in</a>`,
      text: `Sign in: https://app.example.org/magic?token=${MAGIC}`,
    }),
  });
  sentId = ((await res.json()) as { id: string }).id;
}, 60_000);

afterAll(async () => {
  await kb?.stop();
  await emulator?.close();
  await dir?.remove();
});

async function read(p: string) {
  const res = await fetch(`${kb.urls['resend']}${p}`, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  return { status: res.status, decision: res.headers.get('keybrake-decision'), text };
}

it.each([
  ['the list', () => '/emails'],
  ['one email', () => `/emails/${sentId}`],
])("withholds the content of the team's sent mail in %s, and keeps whom it went to", async (_name, p) => {
  const res = await read(p());
  expect(res.decision).toBe('allow; reason=ok');
  expect(res.status).toBe(200);
  expect(res.text).not.toContain(MAGIC);
  expect(res.text).not.toContain(CODE);
  expect(res.text).toContain(WITHHELD);
  expect(res.text).toContain('victim@customer.test');
  JSON.parse(res.text);
});
