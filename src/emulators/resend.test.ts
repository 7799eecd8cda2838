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
});
