// Resend's webhook event reads (GET /webhooks/{id}/events[/{event}], resend-mcp's list-webhook-events
// and get-webhook-event, and an event's delivery attempts), through the real `keybrake serve` against
// the Resend emulator (twelfth round, probe fixes12a finding 2): an event's payload holds the sent
// mail's subject (a one-time code) and, on email.clicked, the link the customer clicked (a reset
// link with its token), which a policy withholding them from GET /emails/{email_id} handed out
// whole. Two keys: the quick start as shipped plus the entry an operator adds to check delivery, and
// a caps-only policy, which allows every read. The content is withheld from both; who the mail went
// to and what became of it stay.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESEND_EMULATOR_KEY, type ResendEmulator, startResendEmulator } from '../../src/emulators/resend.ts';
import { newToken } from '../../src/tokens/token.ts';
import { WITHHELD } from '../../src/vendors/types.ts';
import { type KeybrakeProcess, manifestDir, serveArgs, startKeybrake } from '../env/keybrake.ts';

const QUICKSTART = path.resolve(import.meta.dirname, '../../examples/quickstart/resend.yaml');
const CODE = '982451';
const RESET_TOKEN = 'SECRET_RESET_TOKEN_77';
const DRAFT_CODE = '551207';
const ECHOED = 'SECRET_ECHOED_LINK_TOKEN_31';
const CAPS_ONLY_TOKEN = newToken('resend');

const capsOnly = `
---
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: caps-only, namespace: agents }
spec:
  vendor: resend
  limits: { perCallUsd: "0.05", perDayUsd: "2" }
---
apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: caps-only-resend, namespace: agents }
spec:
  vendor: resend
  policyRef: { name: caps-only }
  upstreamSecretRef: { name: resend-live, key: apiKey }
  tokenSecretRef: { name: caps-only-token, key: token }
---
apiVersion: v1
kind: Secret
metadata: { name: caps-only-token, namespace: agents, labels: { keybrake.dev/secret: "true" } }
stringData: { token: ${CAPS_ONLY_TOKEN} }
`;

let emulator: ResendEmulator;
let kb: KeybrakeProcess;
let dir: Awaited<ReturnType<typeof manifestDir>>;
let quickstartToken: string;
let webhook: string;
const events: Record<string, string> = {};

const base = (email: Record<string, unknown> = {}) => ({
  email_id: 'e1',
  message_id: '<m1@app.example.org>',
  from: 'login@app.example.org',
  to: ['victim@customer.test'],
  created_at: '2026-12-02T00:00:00.000Z',
  ...email,
});

beforeAll(async () => {
  emulator = await startResendEmulator();
  const text = await readFile(QUICKSTART, 'utf8');
  quickstartToken = /token: (kb_resend_\w+)/.exec(text)![1]!;
  // The quick start as shipped, plus the entry an operator adds so the bot can check delivery.
  const quickstart = text
    .replace('re_keybrake_quickstart_not_a_real_key', RESEND_EMULATOR_KEY)
    .replace(
      '      - "GET /emails/{email_id}"\n',
      '      - "GET /emails/{email_id}"\n      - "GET /webhooks/*/events/**"\n',
    );
  expect(quickstart).toContain('GET /webhooks/*/events/**');
  dir = await manifestDir({ 'resend.yaml': quickstart + capsOnly });
  kb = await startKeybrake(serveArgs(dir.dir, { resend: emulator.url }));
  // What Resend recorded of the events it posted for mail the merchant's sign-in service sent
  // directly (resend-node 6.38's GetWebhookEventResponseSuccess payloads).
  webhook = emulator.seed('/webhooks', { endpoint: 'https://hooks.app.example.org/resend', events: [] });
  const seed = (name: string, type: string, data: Record<string, unknown>) => {
    events[name] = emulator.seed(`/webhooks/${webhook}/events`, {
      type,
      status: 'success',
      next_attempt_at: null,
      payload: { type, created_at: '2026-12-02T00:00:00.000Z', data },
    });
  };
  seed('sent', 'email.sent', base({ subject: `${CODE} is your sign-in code` }));
  seed(
    'clicked',
    'email.clicked',
    base({
      subject: 'Reset your password',
      click: {
        ipAddress: '192.0.2.1',
        link: `https://app.example.org/reset?token=${RESET_TOKEN}`,
        timestamp: '2026-12-02T00:01:00.000Z',
        userAgent: 'Mozilla/5.0',
      },
    }),
  );
  seed('draft', 'inbox.draft.created', {
    source: 'api',
    inbox_id: 'in_1',
    draft_id: 'dr_1',
    draft: { object: 'inbox_draft', id: 'dr_1', to: ['victim@customer.test'], subject: `Code ${DRAFT_CODE}` },
  });
  // The merchant's endpoint answered a validation error quoting the payload it got.
  emulator.seed(`/webhooks/${webhook}/events/${events['clicked']}/attempts`, {
    http_status_code: 422,
    response: `{"detail":[{"input":{"link":"https://app.example.org/reset?token=${ECHOED}"}}]}`,
    sent_at: '2026-12-02T00:01:01.000Z',
  });
}, 60_000);

afterAll(async () => {
  await kb?.stop();
  await emulator?.close();
  await dir?.remove();
});

async function read(token: string, p: string) {
  const res = await fetch(`${kb.urls['resend']}${p}`, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  return { status: res.status, decision: res.headers.get('keybrake-decision'), text };
}

const SECRETS = [CODE, RESET_TOKEN, DRAFT_CODE, ECHOED];

describe.each([
  ['the quick start with an event entry', () => quickstartToken],
  ['a caps-only policy', () => CAPS_ONLY_TOKEN],
])('webhook event reads under %s', (_policy, token) => {
  it.each([
    ['an email.sent event', () => `/webhooks/${webhook}/events/${events['sent']}`],
    ['an email.clicked event', () => `/webhooks/${webhook}/events/${events['clicked']}`],
    ['an inbox draft event', () => `/webhooks/${webhook}/events/${events['draft']}`],
    ['the list of events', () => `/webhooks/${webhook}/events`],
    ['an event delivery attempts', () => `/webhooks/${webhook}/events/${events['clicked']}/attempts`],
  ])('withholds the mail content in %s', async (_what, p) => {
    const res = await read(token(), p());
    expect(res.decision).toBe('allow; reason=ok');
    expect(res.status).toBe(200);
    for (const secret of SECRETS) expect(res.text).not.toContain(secret);
    expect(res.text).toContain(WITHHELD);
    JSON.parse(res.text);
  });

  it('keeps whom the mail went to, the event type and the click time', async () => {
    const res = await read(token(), `/webhooks/${webhook}/events/${events['clicked']}`);
    expect(res.text).toContain('victim@customer.test');
    expect(res.text).toContain('email.clicked');
    expect(res.text).toContain('2026-12-02T00:01:00.000Z');
  });
});
