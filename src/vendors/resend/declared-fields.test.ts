import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { Resend } from 'resend';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { matchResendOperation } from './classify.ts';
import { DECLARED_FIELDS, undeclaredFieldDenial } from './declared-fields.ts';
import { ITEMS } from './parse.ts';

/** The JSON body fields resend-node sends for each call, every option it takes set. */
describe('the declared fields are what resend-node sends', () => {
  const bodies: Record<string, unknown>[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"id":"x"}');
    });
  });
  let client: Resend;
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    client = new Resend('re_test', { baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const sent = async (call: () => Promise<unknown>): Promise<string[]> => {
    const before = bodies.length;
    await call();
    expect(bodies).toHaveLength(before + 1);
    return Object.keys(bodies[before] ?? {}).sort();
  };
  const declared = (id: string) => [...(DECLARED_FIELDS.get(id) ?? [])].sort();

  it('for a broadcast send', async () => {
    const fields = await sent(() => client.broadcasts.send('b_1', { scheduledAt: 'in 1 hour' }));
    expect(fields).toEqual(declared('resend.broadcasts.send'));
  });

  it("for a scheduled email's reschedule", async () => {
    const fields = await sent(() => client.emails.update({ id: 'em_1', scheduledAt: 'in 1 hour' }));
    expect(fields).toEqual(declared('resend.emails.update'));
  });

  it("for an inbox draft's send", async () => {
    const fields = await sent(() =>
      client.inboxes.drafts.send({ inboxId: 'in_1', draftId: 'dr_1', headers: { 'X-Entity-Ref-ID': '1' } }),
    );
    expect(fields).toEqual(declared('resend.inboxes.drafts.send'));
  });

  it('for an inbox reply', async () => {
    const fields = await sent(() =>
      client.inboxes.threads.emails.reply({
        inboxId: 'in_1',
        threadId: 'th_1',
        emailId: 'em_1',
        cc: 'c@example.com',
        bcc: ['d@example.com'],
        html: '<p>hi</p>',
        text: 'hi',
        subject: 's',
        replyAll: true,
        attachments: [{ filename: 'a.txt', content: 'YQ==' }],
        headers: { 'X-Entity-Ref-ID': '1' },
      }),
    );
    expect(fields).toEqual(declared('resend.inboxes.threads.reply'));
  });

  // Thirteenth round (fixes13r finding 4): these are sent with no body, so any field is undeclared.
  it.each([
    ['resend.templates.duplicate', (c: Resend) => c.templates.duplicate('tm_1')],
    ['resend.broadcasts.duplicate', (c: Resend) => c.broadcasts.duplicate('b_1')],
    ['resend.automations.duplicate', (c: Resend) => c.automations.duplicate('au_1')],
    ['resend.automations.stop', (c: Resend) => c.automations.stop('au_1')],
    ['resend.broadcasts.cancel', (c: Resend) => c.broadcasts.cancel('b_1')],
    ['resend.emails.cancel', (c: Resend) => c.emails.cancel('em_1')],
    // Thirteenth round (fixes13x finding 3): the other body-less writes.
    ['resend.templates.publish', (c: Resend) => c.templates.publish('tm_1')],
    ['resend.domains.verify', (c: Resend) => c.domains.verify('d_1')],
    ['resend.domains.claims.verify', (c: Resend) => c.domains.claims.verify('d_1')],
    [
      'resend.webhooks.events.replay',
      (c: Resend) => c.webhooks.events.replay({ webhookId: 'wh_1', eventId: 'ev_1' }),
    ],
    ['resend.webhooks.rotate_signing_secret', (c: Resend) => c.webhooks.rotateSigningSecret('wh_1')],
    [
      'resend.contacts.segments.add',
      (c: Resend) => c.contacts.segments.add({ contactId: 'c_1', segmentId: 'seg_1' }),
    ],
  ])('for %s: none', async (id, call) => {
    const fields = await sent(async () => await call(client));
    expect(fields).toEqual([]);
    expect(DECLARED_FIELDS.get(id)).toEqual(new Set());
  });
});

/**
 * Every write resend-node sends with no body (`this.resend.post(`…`, void 0, …)`, likewise patch and
 * put), read from its own code, so a call added in a later version is not forwarded with any body
 * unread until someone lists it (thirteenth round, fixes13x finding 3: five were missing).
 */
describe("resend-node's body-less writes", () => {
  const code = readFileSync(createRequire(import.meta.url).resolve('resend'), 'utf8');
  const calls = [...code.matchAll(/this\.resend\.(post|patch|put)\(`([^`]*)`, void 0\b/g)].map(
    ([, method, template]) => ({
      method: method!.toUpperCase(),
      path: template!.replace(/^\$\{inboxPath\}/, '/inboxes/in_1').replace(/\$\{[^}]*\}/g, 'id_1'),
    }),
  );

  it('are found in resend-node', () => {
    expect(calls.length).toBeGreaterThanOrEqual(12);
  });

  it('each declare no field, and every operation declaring none is one of them', () => {
    const ids = calls.map(
      ({ method, path }) => matchResendOperation(method, path)?.row.id ?? `${method} ${path}`,
    );
    const none = [...DECLARED_FIELDS].filter(([, fields]) => fields.size === 0).map(([id]) => id);
    expect([...new Set(ids)].sort()).toEqual(none.sort());
  });
});

describe('undeclaredFieldDenial', () => {
  it.each([
    ['a field given as null', 'resend.emails.update', { scheduled_at: 'in 1 hour', to: null }],
    ['a JSON array', 'resend.broadcasts.send', { [ITEMS]: [] }],
    ['a template copy given a reply_to', 'resend.templates.duplicate', { reply_to: 'h@attacker.test' }],
    [
      'a broadcast copy given a segment and send',
      'resend.broadcasts.duplicate',
      { segment_id: 's', send: true },
    ],
    ['an automation stop given a status', 'resend.automations.stop', { status: 'enabled' }],
    [
      'a template publish given a reply_to and from',
      'resend.templates.publish',
      { reply_to: ['helpdesk@attacker.test'], from: 'CEO <ceo@evil.test>' },
    ],
    ['a domain verify given a name', 'resend.domains.verify', { name: 'evil.test' }],
    [
      'a webhook replay given an endpoint',
      'resend.webhooks.events.replay',
      { endpoint: 'https://evil.test/h' },
    ],
    ['a segment addition given a field', 'resend.contacts.segments.add', { email: 'x@evil.test' }],
  ])('refuses %s', (_name, id, params) => {
    expect(undeclaredFieldDenial(id, params)).toMatchObject({ reason: 'body_invalid' });
  });

  it('passes an empty body where none is declared', () => {
    expect(undeclaredFieldDenial('resend.templates.duplicate', {})).toBeUndefined();
  });
});
