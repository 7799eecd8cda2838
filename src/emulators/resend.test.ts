import { Resend } from 'resend';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RESEND_EMULATOR_KEY, type ResendEmulator, startResendEmulator } from './resend.ts';

let emulator: ResendEmulator;
beforeAll(async () => {
  emulator = await startResendEmulator();
});
afterAll(() => emulator.close());
beforeEach(() => emulator.reset());

describe('Resend emulator with resend-node', () => {
  it('sends, fetches and batches emails', async () => {
    const resend = new Resend(RESEND_EMULATOR_KEY, { baseUrl: emulator.url });
    const sent = await resend.emails.send({
      from: 'a@acme.test',
      to: 'b@x.test',
      subject: 'hi',
      text: 'hello',
    });
    expect(sent.error).toBeNull();
    const fetched = await resend.emails.get(sent.data!.id);
    expect(fetched.data).toMatchObject({ id: sent.data!.id, to: ['b@x.test'], subject: 'hi' });
    const batch = await resend.batch.send([
      { from: 'a@acme.test', to: 'b@x.test', subject: '1', text: '1' },
      { from: 'a@acme.test', to: 'c@x.test', subject: '2', text: '2' },
    ]);
    expect(batch.data?.data).toHaveLength(2);
    expect(emulator.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /emails',
      `GET /emails/${sent.data!.id}`,
      'POST /emails/batch',
    ]);
  });

  it.each([
    ['an unknown key', 're_wrong', 403, 'invalid_api_key'],
    ['no key at all', '', 401, 'missing_api_key'],
  ])('answers %s in Resend’s error shape', async (_name, key, statusCode, name) => {
    const headers = key ? { authorization: `Bearer ${key}` } : {};
    const res = await fetch(`${emulator.url}/emails`, { method: 'POST', headers, body: '{}' });
    expect(res.status).toBe(statusCode);
    expect(res.headers.get('x-request-id')).toBeTruthy();
    expect(await res.json()).toMatchObject({ statusCode, name });
  });

  it('hands a validation error to resend-node as its error', async () => {
    const resend = new Resend(RESEND_EMULATOR_KEY, { baseUrl: emulator.url });
    const sent = await resend.emails.send({
      from: 'a@acme.test',
      to: 'b@x.test',
      text: 'no subject',
    } as never);
    expect(sent.error).toMatchObject({ statusCode: 422, name: 'missing_required_field' });
  });

  it('pages a segment’s contacts 100 at most, with has_more and the after cursor', async () => {
    const resend = new Resend(RESEND_EMULATOR_KEY, { baseUrl: emulator.url });
    const emails = Array.from({ length: 150 }, (_, i) => `c${i}@x.test`);
    const segmentId = emulator.seedSegment('All', emails);
    const first = await resend.contacts.list({ segmentId, limit: 100 });
    expect(first.data).toMatchObject({ object: 'list', has_more: true });
    expect(first.data!.data).toHaveLength(100);
    const second = await resend.contacts.list({ segmentId, limit: 100, after: first.data!.data.at(-1)!.id });
    expect(second.data!.data.map((c) => c.email)).toEqual(emails.slice(100));
    expect(second.data!.has_more).toBe(false);
    const tooMany = await resend.contacts.list({ segmentId, limit: 101 });
    expect(tooMany.error).toMatchObject({ statusCode: 422 });
  });

  it('sends a broadcast to every contact its segment has at that moment', async () => {
    const resend = new Resend(RESEND_EMULATOR_KEY, { baseUrl: emulator.url });
    const segmentId = emulator.seedSegment('News', ['a@x.test']);
    const joined = await resend.contacts.create({ email: 'b@x.test', segments: [{ id: segmentId }] });
    expect(joined.error).toBeNull();
    const legacy = await resend.contacts.create({ email: 'c@x.test', audienceId: segmentId });
    expect(legacy.error).toBeNull();
    const created = await resend.broadcasts.create({
      name: 'n',
      segmentId,
      from: 'a@acme.test',
      subject: 's',
      html: 'h',
    });
    const fetched = await resend.broadcasts.get(created.data!.id);
    expect(fetched.data).toMatchObject({ status: 'draft', segment_id: segmentId, audience_id: segmentId });

    const sent = await resend.broadcasts.send(created.data!.id);

    expect(sent.error).toBeNull();
    expect(emulator.deliveries.at(-1)).toEqual({
      broadcastId: created.data!.id,
      segmentId,
      contacts: ['a@x.test', 'b@x.test', 'c@x.test'],
    });
    const again = await resend.broadcasts.send(created.data!.id);
    expect(again.error).toMatchObject({ statusCode: 422 });
    const recipients = await resend.broadcasts.recipients(created.data!.id, { type: 'delivered' });
    expect(recipients.data?.data).toHaveLength(3);
  });

  it('keeps the other collections: create, get, list, update, delete, and actions', async () => {
    const resend = new Resend(RESEND_EMULATOR_KEY, { baseUrl: emulator.url });
    const domain = await resend.domains.create({ name: 'acme.test' });
    expect(domain.data).toMatchObject({ name: 'acme.test', status: 'not_started' });
    expect((await resend.domains.verify(domain.data!.id)).error).toBeNull();
    expect((await resend.domains.get(domain.data!.id)).data).toMatchObject({ status: 'pending' });
    expect((await resend.domains.update({ id: domain.data!.id, openTracking: true })).error).toBeNull();
    expect((await resend.domains.list()).data?.data.map((d) => d.id)).toContain(domain.data!.id);
    expect((await resend.domains.remove(domain.data!.id)).data).toMatchObject({ deleted: true });
    expect((await resend.domains.get(domain.data!.id)).error).toMatchObject({ statusCode: 404 });
    const hook = emulator.seed('/webhooks', { endpoint: 'https://h.test' });
    const event = emulator.seed(`/webhooks/${hook}/events`, { type: 'email.sent' });
    expect((await resend.webhooks.events.get({ webhookId: hook, eventId: event })).data).toMatchObject({
      id: event,
      type: 'email.sent',
    });
  });

  it('holds a request until it is released', async () => {
    const resend = new Resend(RESEND_EMULATOR_KEY, { baseUrl: emulator.url });
    const held = emulator.hold('POST', '/emails');
    let answered = false;
    const sending = resend.emails
      .send({ from: 'a@acme.test', to: 'b@x.test', subject: 's', text: 't' })
      .then((r) => {
        answered = true;
        return r;
      });
    await held.arrived;
    const other = await resend.emails.list();
    expect(other.error).toBeNull();
    expect(answered).toBe(false);
    held.release();
    expect((await sending).error).toBeNull();
  });
});
