// An inbox draft's send and a reply, through the real `keybrake serve`, priced by what they really
// deliver (twelfth round, probe12-resend finding 1: a draft send was priced at a fixed 50 deliveries,
// and a draft stored with 150 went out under $0.05 caps). The Resend emulator has no inboxes, so the
// upstream is a stand-in that keeps drafts and thread emails and records every request: "not sent"
// is checked where it counts, at the upstream.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Resend } from 'resend';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatUsd } from '../../src/money/micro-usd.ts';
import { newToken } from '../../src/tokens/token.ts';
import { DEFAULT_RESEND_PRICES } from '../../src/vendors/resend/index.ts';
import { type KeybrakeProcess, manifestDir, serveArgs, startKeybrake } from '../env/keybrake.ts';

const PER_EMAIL = DEFAULT_RESEND_PRICES.perEmail;
const UPSTREAM_KEY = 're_inbox_upstream_key';
const tokens = { capped: newToken('resend'), listed: newToken('resend') };
/** The capped key's per-call and daily cap: 55 deliveries, above the 50 a draft send used to be priced at. */
const CAP = formatUsd(55 * PER_EMAIL);

const addresses = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => `${prefix}${i}@example.com`);

/** A stored draft as Resend answers `GET /inboxes/{i}/drafts/{d}` (resend-node 6.38 `InboxDraft`). */
function draft(id: string, fields: Partial<Record<'to' | 'cc' | 'bcc', string[]>> & Record<string, unknown>) {
  return {
    object: 'inbox_draft',
    id,
    type: 'standalone',
    to: [],
    cc: [],
    bcc: [],
    subject: 's',
    html: null,
    text: 't',
    thread_id: null,
    reply_to_email_id: null,
    email_id: null,
    created_at: '2026-12-02T00:00:00Z',
    updated_at: '2026-12-02T00:00:00Z',
    attachments: [],
    ...fields,
  };
}

/** A thread email as Resend answers `GET /inboxes/{i}/threads/{t}/emails/{e}` (`InboxMessage`). */
function message(id: string, fields: Partial<Record<'from' | 'to' | 'cc' | 'bcc' | 'reply_to', unknown>>) {
  return {
    id,
    direction: 'inbound',
    from: 'ann@example.com',
    to: ['support@inbox.acme.test'],
    cc: [],
    bcc: [],
    reply_to: [],
    subject: 'help',
    message_id: '<m@example.com>',
    html: null,
    text: 'hi',
    attachments: [],
    read: false,
    received_at: '2026-12-02T00:00:00Z',
    ...fields,
  };
}

const DRAFTS: Record<string, ReturnType<typeof draft>> = {
  dr_wide: draft('dr_wide', { to: addresses('t', 50), cc: addresses('c', 50), bcc: addresses('b', 50) }),
  dr_three: draft('dr_three', { to: ['a@example.com'], cc: ['b@example.com'], bcc: ['c@example.com'] }),
  dr_outside: draft('dr_outside', { to: ['a@example.com'], bcc: ['evil@attacker.test'] }),
  dr_reply: draft('dr_reply', {
    type: 'reply',
    to: null as unknown as string[],
    thread_id: 'th_1',
    reply_to_email_id: 'em_small',
  }),
  dr_held: draft('dr_held', { to: ['a@example.com'] }),
  // Twins for the calls by inbox address: a call refused after its read backs its key off the draft
  // for a while (the lease backoff), so the same draft again at once would be rate_limited.
  dr_wide_2: draft('dr_wide_2', { to: addresses('t', 50), cc: addresses('c', 50), bcc: addresses('b', 50) }),
  dr_outside_2: draft('dr_outside_2', { to: ['a@example.com'], bcc: ['evil@attacker.test'] }),
  // An answer of another shape (no `type`): whom it reaches cannot be said.
  dr_untyped: { ...draft('dr_untyped', { to: ['a@example.com'] }), type: undefined as unknown as string },
};

const EMAILS: Record<string, ReturnType<typeof message>> = {
  em_small: message('em_small', {
    to: ['support@inbox.acme.test', 'bob@example.com'],
    cc: ['cy@example.com'],
  }),
  em_crowd: message('em_crowd', { to: addresses('p', 60) }),
  em_outside: message('em_outside', { from: 'ann@example.com', cc: ['evil@attacker.test'] }),
};

/** The stand-in: drafts, thread emails, and a record of every request (`METHOD path`). */
const requests: string[] = [];
let holdNext: { path: string; arrived: () => void; release: Promise<void> } | undefined;
const upstream = createServer(async (req: IncomingMessage, res: ServerResponse) => {
  for await (const _ of req);
  const path = (req.url ?? '/').split('?', 1)[0]!;
  requests.push(`${req.method} ${path}`);
  const json = (status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': `req_${requests.length}` });
    res.end(JSON.stringify(body));
  };
  if (req.headers.authorization !== `Bearer ${UPSTREAM_KEY}`) return json(403, { name: 'invalid_api_key' });
  if (holdNext?.path === path) {
    const held = holdNext;
    holdNext = undefined;
    held.arrived();
    await held.release;
  }
  // The inbox by its id, or by its address as resend-node escapes it (`{ emailAddress }`).
  let m = /^\/inboxes\/(?:in_1|support%40inbox\.acme\.test)\/drafts\/([^/]+)$/.exec(path);
  if (m && req.method === 'GET' && DRAFTS[m[1]!]) return json(200, DRAFTS[m[1]!]);
  if (m && req.method === 'PATCH') return json(200, { object: 'inbox_draft', id: m[1] });
  m = /^\/inboxes\/(?:in_1|support%40inbox\.acme\.test)\/threads\/th_1\/emails\/([^/]+)$/.exec(path);
  if (m && req.method === 'GET' && EMAILS[m[1]!]) return json(200, EMAILS[m[1]!]);
  if (req.method === 'POST' && /\/(send|reply)$/.test(path)) return json(200, { id: 'sent_1' });
  json(404, { statusCode: 404, name: 'not_found', message: 'no such object' });
});

function manifests(): string {
  const key = (name: string, token: string) => `
apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: ${name}, namespace: agents }
spec:
  vendor: resend
  policyRef: { name: ${name} }
  upstreamSecretRef: { name: resend-live, key: apiKey }
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
metadata: { name: resend-live, namespace: agents }
stringData: { apiKey: ${UPSTREAM_KEY} }
---
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: capped, namespace: agents }
spec:
  vendor: resend
  limits: { perCallUsd: "${CAP}" }
  allow:
    endpoints: ["POST /inboxes/**", "PATCH /inboxes/**"]
---
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: listed, namespace: agents }
spec:
  vendor: resend
  allow:
    endpoints: ["POST /inboxes/**"]
    recipients: ["*@example.com", "*@inbox.acme.test"]
---
${key('capped', tokens.capped)}
---
${key('listed', tokens.listed)}
`;
}

let kb: KeybrakeProcess;
let dir: Awaited<ReturnType<typeof manifestDir>>;

beforeAll(async () => {
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  dir = await manifestDir({ 'resend.yaml': manifests() });
  kb = await startKeybrake(serveArgs(dir.dir, { resend: url }));
}, 60_000);

afterAll(async () => {
  await kb?.stop();
  await new Promise<void>((resolve) => upstream.close(() => resolve()));
  await dir?.remove();
});

async function call(token: string, method: string, path: string, body: unknown = {}) {
  const res = await fetch(`${kb.urls['resend']}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, decision: res.headers.get('keybrake-decision'), text };
}

/** The audit record of the call to `path` made after `mark` records. */
function auditAfter(mark: number, path: string) {
  return kb.waitForAudit((r) => kb.audit.indexOf(r) >= mark && r['path'] === path, 30_000);
}

describe('an inbox draft send is priced by the stored draft', () => {
  it('refuses a draft of 150 recipients under a cap of 55 deliveries, and nothing is sent', async () => {
    const path = '/inboxes/in_1/drafts/dr_wide/send';
    const res = await call(tokens.capped, 'POST', path);
    expect(res.decision).toBe('deny; reason=per_call_limit_exceeded');
    expect(res.text).not.toContain(UPSTREAM_KEY);
    expect(requests).toContain('GET /inboxes/in_1/drafts/dr_wide');
    expect(requests).not.toContain(`POST ${path}`);
  });

  it('sends a draft of three recipients at three deliveries', async () => {
    const mark = kb.audit.length;
    const path = '/inboxes/in_1/drafts/dr_three/send';
    const res = await call(tokens.capped, 'POST', path);
    expect(res.decision).toBe('allow; reason=ok');
    expect(requests).toContain(`POST ${path}`);
    expect((await auditAfter(mark, path))['costUsd']).toBe(formatUsd(3 * PER_EMAIL));
  });

  it("checks the draft's addresses against allow.recipients: one outside is refused, nothing sent", async () => {
    const path = '/inboxes/in_1/drafts/dr_outside/send';
    const res = await call(tokens.listed, 'POST', path);
    expect(res.decision).toBe('deny; reason=recipient_not_allowed');
    expect(requests).not.toContain(`POST ${path}`);
  });

  it('prices a reply draft by its own addresses and the people of the email it answers', async () => {
    const mark = kb.audit.length;
    const path = '/inboxes/in_1/drafts/dr_reply/send';
    const res = await call(tokens.capped, 'POST', path);
    expect(res.decision).toBe('allow; reason=ok');
    expect(requests).toContain('GET /inboxes/in_1/threads/th_1/emails/em_small');
    // em_small's sender (its reply_to is empty).
    expect((await auditAfter(mark, path))['costUsd']).toBe(formatUsd(1 * PER_EMAIL));
  });

  it('refuses a draft answer of another shape as price_unknown, nothing sent', async () => {
    const path = '/inboxes/in_1/drafts/dr_untyped/send';
    const res = await call(tokens.capped, 'POST', path);
    expect(res.decision).toBe('deny; reason=price_unknown');
    expect(requests).not.toContain(`POST ${path}`);
  });

  it('refuses a field other than headers in the send body, before anything is read', async () => {
    const res = await call(tokens.capped, 'POST', '/inboxes/in_1/drafts/dr_three/send', {
      to: ['x@example.com'],
    });
    expect(res.decision).toBe('deny; reason=body_invalid');
  });

  it('holds the draft while its send is priced: an update meanwhile is refused, not forwarded', async () => {
    const draftPath = '/inboxes/in_1/drafts/dr_held';
    let arrived!: () => void;
    let release!: () => void;
    const isHeld = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    holdNext = { path: draftPath, arrived, release: new Promise<void>((resolve) => (release = resolve)) };
    const send = call(tokens.capped, 'POST', `${draftPath}/send`);
    await isHeld;
    const patch = await call(tokens.capped, 'PATCH', draftPath, { bcc: addresses('late', 100) });
    release();
    expect(patch.decision).toBe('deny; reason=object_busy');
    expect(requests).not.toContain(`PATCH ${draftPath}`);
    expect((await send).decision).toBe('allow; reason=ok');
  });
});

describe('an inbox reply is priced by the email it answers', () => {
  it('refuses a reply-all to an email of 61 people under a cap of 55 deliveries, and nothing is sent', async () => {
    const path = '/inboxes/in_1/threads/th_1/emails/em_crowd/reply';
    const res = await call(tokens.capped, 'POST', path, { text: 'hi', reply_all: true });
    expect(res.decision).toBe('deny; reason=per_call_limit_exceeded');
    expect(requests).toContain('GET /inboxes/in_1/threads/th_1/emails/em_crowd');
    expect(requests).not.toContain(`POST ${path}`);
  });

  it('prices a reply-all at everyone on the email plus its own cc', async () => {
    const mark = kb.audit.length;
    const path = '/inboxes/in_1/threads/th_1/emails/em_small/reply';
    const res = await call(tokens.capped, 'POST', path, {
      text: 'hi',
      reply_all: true,
      cc: 'dee@example.com',
    });
    expect(res.decision).toBe('allow; reason=ok');
    // dee + from ann + to (the inbox itself, bob) + cc cy.
    expect((await auditAfter(mark, path))['costUsd']).toBe(formatUsd(5 * PER_EMAIL));
  });

  it("checks a reply-all's people against allow.recipients: one outside is refused, nothing sent", async () => {
    const path = '/inboxes/in_1/threads/th_1/emails/em_outside/reply';
    const res = await call(tokens.listed, 'POST', path, { text: 'hi', reply_all: true });
    expect(res.decision).toBe('deny; reason=recipient_not_allowed');
    expect(requests).not.toContain(`POST ${path}`);
    // A plain reply reaches the sender alone, inside the allowlist.
    const plain = await call(tokens.listed, 'POST', path, { text: 'hi' });
    expect(plain.decision).toBe('allow; reason=ok');
  });
});

// resend-node 6.38 names an inbox by id or by address (`{ emailAddress }`, sent as
// `/inboxes/support%40inbox.acme.test/…`). Only an id was read, so a draft send and a reply by address
// were refused path_invalid while the draft's create and update went through (twelfth round, probe
// legit finding 1). The reads must go to the inbox the send goes to, escaped the same way.
describe('an inbox named by its address, as resend-node sends it', () => {
  const INBOX = 'support%40inbox.acme.test';
  const sdk = (token: string) => new Resend(token, { baseUrl: kb.urls['resend']! });
  const emailAddress = 'support@inbox.acme.test';

  it('sends a draft, read at the same inbox, at three deliveries', async () => {
    const mark = kb.audit.length;
    const { data, error } = await sdk(tokens.capped).inboxes.drafts.send({
      emailAddress,
      draftId: 'dr_three',
    });
    expect(error).toBeNull();
    expect(data).toMatchObject({ id: 'sent_1' });
    expect(requests).toContain(`GET /inboxes/${INBOX}/drafts/dr_three`);
    expect(requests).toContain(`POST /inboxes/${INBOX}/drafts/dr_three/send`);
    expect((await auditAfter(mark, `/inboxes/${INBOX}/drafts/dr_three/send`))['costUsd']).toBe(
      formatUsd(3 * PER_EMAIL),
    );
  });

  it('refuses a draft of 150 recipients under a cap of 55 deliveries, nothing sent', async () => {
    const mark = kb.audit.length;
    const { error } = await sdk(tokens.capped).inboxes.drafts.send({ emailAddress, draftId: 'dr_wide_2' });
    expect(error).not.toBeNull();
    const audit = await auditAfter(mark, `/inboxes/${INBOX}/drafts/dr_wide_2/send`);
    expect(audit['reason']).toBe('per_call_limit_exceeded');
    expect(requests).toContain(`GET /inboxes/${INBOX}/drafts/dr_wide_2`);
    expect(requests).not.toContain(`POST /inboxes/${INBOX}/drafts/dr_wide_2/send`);
  });

  it("checks the draft's addresses against allow.recipients, nothing sent", async () => {
    const mark = kb.audit.length;
    const { error } = await sdk(tokens.listed).inboxes.drafts.send({ emailAddress, draftId: 'dr_outside_2' });
    expect(error).not.toBeNull();
    const audit = await auditAfter(mark, `/inboxes/${INBOX}/drafts/dr_outside_2/send`);
    expect(audit['reason']).toBe('recipient_not_allowed');
    expect(requests).not.toContain(`POST /inboxes/${INBOX}/drafts/dr_outside_2/send`);
  });

  it('sends a reply-all, read at the same inbox, at everyone on the email', async () => {
    const mark = kb.audit.length;
    const path = `/inboxes/${INBOX}/threads/th_1/emails/em_small/reply`;
    const { error } = await sdk(tokens.capped).inboxes.threads.emails.reply({
      emailAddress,
      threadId: 'th_1',
      emailId: 'em_small',
      text: 'hi',
      replyAll: true,
    });
    expect(error).toBeNull();
    expect(requests).toContain(`GET /inboxes/${INBOX}/threads/th_1/emails/em_small`);
    expect(requests).toContain(`POST ${path}`);
    // from ann + to (the inbox itself, bob) + cc cy.
    expect((await auditAfter(mark, path))['costUsd']).toBe(formatUsd(4 * PER_EMAIL));
  });

  it('refuses a reply-all reaching one outside allow.recipients, nothing sent', async () => {
    const mark = kb.audit.length;
    const { error } = await sdk(tokens.listed).inboxes.threads.emails.reply({
      emailAddress,
      threadId: 'th_1',
      emailId: 'em_outside',
      text: 'hi',
      replyAll: true,
    });
    expect(error).not.toBeNull();
    const path = `/inboxes/${INBOX}/threads/th_1/emails/em_outside/reply`;
    expect((await auditAfter(mark, path))['reason']).toBe('recipient_not_allowed');
    expect(requests).toContain(`GET /inboxes/${INBOX}/threads/th_1/emails/em_outside`);
    expect(requests).not.toContain(`POST ${path}`);
  });

  it('refuses two addresses or an escaped slash in the inbox segment before any read', async () => {
    for (const inbox of [
      'a%40inbox.acme.test%2Cb%40inbox.acme.test',
      'support%40inbox.acme.test%2F..%2Fin_1',
    ]) {
      const before = requests.length;
      const res = await call(tokens.capped, 'POST', `/inboxes/${inbox}/drafts/dr_three/send`);
      expect(res.decision).toBe('deny; reason=path_invalid');
      expect(requests.slice(before)).toEqual([]);
    }
  });
});
