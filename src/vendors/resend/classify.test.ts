import { describe, expect, it } from 'vitest';
import type { Operation, Params, VendorRequest } from '../types.ts';
import { classifyResend, UNSEEN_RECIPIENT } from './classify.ts';
import { ITEMS } from './parse.ts';
import { DEFAULT_RESEND_PRICES as P } from './prices.ts';

const req = (method: string, path: string): VendorRequest => ({ method, path, query: '', headers: {} });
const classify = (method: string, path: string, params: Params = {}) =>
  classifyResend(P, req(method, path), params);
const email = (extra: Params = {}): Params => ({
  from: 'Acme <Bot@Acme.test>',
  to: 'a@x.com',
  subject: 's',
  text: 't',
  ...extra,
});

describe('Resend sends', () => {
  it.each([
    ['one recipient', email(), 1],
    [
      'to, cc and bcc each as a delivery',
      email({ to: ['a@x.com', 'b@x.com'], cc: 'c@x.com', bcc: ['d@x.com'] }),
      4,
    ],
    ['a comma-separated to as several deliveries', email({ to: 'a@x.com, b@x.com' }), 2],
    ['an email without recipients as one delivery', email({ to: [] }), 1],
  ])('POST /emails prices %s', (_name, params, deliveries) => {
    expect(classify('POST', '/emails', params)).toMatchObject({
      id: 'resend.emails.send',
      movesMoney: true,
      costMicros: deliveries * P.perEmail,
    });
  });

  it('names every recipient normalised and the sender', () => {
    const op = classify(
      'POST',
      '/emails',
      email({ to: 'Ann <ANN@Bücher.de>', cc: ['a@x.com', 'A@X.com'] }),
    ) as Operation;
    expect(op.parties).toMatchObject({
      recipients: ['ann@xn--bcher-kva.de', 'a@x.com'],
      senders: ['bot@acme.test'],
    });
  });

  it('sums a batch over its emails', () => {
    const params = { [ITEMS]: [email(), email({ to: ['b@x.com', 'c@x.com'], from: 'other@acme.test' })] };
    const op = classify('POST', '/emails/batch', params) as Operation;
    expect(op).toMatchObject({ id: 'resend.emails.batch', costMicros: 3 * P.perEmail });
    expect(op.parties.recipients).toEqual(['a@x.com', 'b@x.com', 'c@x.com']);
    expect(op.parties.senders).toEqual(['bot@acme.test', 'other@acme.test']);
  });

  it.each([
    ['POST /emails with an array', '/emails', { [ITEMS]: [email()] }],
    ['POST /emails/batch with an object', '/emails/batch', email()],
    ['a batch element that is not an object', '/emails/batch', { [ITEMS]: ['a@x.com'] }],
    ['a recipient that is a number', '/emails', email({ to: 42 })],
    ['a from that is an object', '/emails', email({ from: { email: 'a@x.com' } })],
  ])('refuses %s as body_invalid', (_name, path, params) => {
    expect(classify('POST', path, params)).toMatchObject({ reason: 'body_invalid' });
  });

  it.each([
    [
      'a forward per to/cc/bcc',
      '/inboxes/in_1/threads/th_1/emails/em_1/forward',
      { to: ['a@x.com', 'b@x.com'] },
      2,
    ],
    [
      'a reply to the original sender plus cc',
      '/inboxes/in_1/threads/th_1/emails/em_1/reply',
      { text: 'hi', cc: 'c@x.com' },
      2,
    ],
    [
      'a reply-all at the unseen-recipient bound',
      '/inboxes/in_1/threads/th_1/emails/em_1/reply',
      { text: 'hi', reply_all: true },
      P.unseenRecipients,
    ],
    [
      'a stored draft at the unseen-recipient bound',
      '/inboxes/in_1/drafts/dr_1/send',
      {},
      P.unseenRecipients,
    ],
  ])('prices %s', (_name, path, params, deliveries) => {
    expect(classify('POST', path, params)).toMatchObject({
      movesMoney: true,
      costMicros: deliveries * P.perEmail,
    });
  });

  it.each([
    ['a stored draft', '/inboxes/in_1/drafts/dr_1/send', {}, [UNSEEN_RECIPIENT]],
    [
      'a reply, besides its cc',
      '/inboxes/in_1/threads/th_1/emails/em_1/reply',
      { text: 'hi', cc: 'C@x.com' },
      ['c@x.com', UNSEEN_RECIPIENT],
    ],
    [
      'a forward, which lists everyone',
      '/inboxes/in_1/threads/th_1/emails/em_1/forward',
      { to: 'a@x.com' },
      ['a@x.com'],
    ],
  ])(
    'names an unseen recipient for %s so a recipient allowlist cannot be bypassed',
    (_name, path, params, recipients) => {
      expect((classify('POST', path, params) as Operation).parties.recipients).toEqual(recipients);
    },
  );

  it.each([
    ['sending a broadcast', '/broadcasts/b_1/send', {}],
    ['creating a broadcast with send: true', '/broadcasts', { send: true, from: 'a@x.com', segment_id: 's' }],
  ])('denies %s as price_unknown', (_name, path, params) => {
    expect(classify('POST', path, params)).toMatchObject({ reason: 'price_unknown' });
  });
});

describe('Resend operations', () => {
  it.each([
    ['GET', '/emails/em_1', 'resend.emails.get', 'read'],
    ['GET', '/emails/receiving', 'resend.emails.receiving.list', 'read'],
    ['HEAD', '/emails/em_1', 'resend.emails.get', 'read'],
    ['POST', '/domains', 'resend.domains.create', 'write'],
    ['POST', '/audiences/a_1/contacts', 'resend.audiences.contacts.create', 'write'],
    ['POST', '/contacts', 'resend.contacts.create', 'write'],
    ['PATCH', '/emails/em_1', 'resend.emails.update', 'write'],
    ['POST', '/emails/em_1/cancel', 'resend.emails.cancel', 'write'],
    ['POST', '/broadcasts', 'resend.broadcasts.create', 'money'],
    ['POST', '/inboxes/in_1/drafts', 'resend.inboxes.drafts.create', 'write'],
    ['DELETE', '/inboxes/in_1/drafts/dr_1', 'resend.inboxes.drafts.remove', 'write'],
    ['DELETE', '/domains/d_1', 'resend.domains.remove', 'destructive'],
  ])('%s %s is the free operation %s (%s)', (method, path, id, cls) => {
    expect(classify(method, path, {})).toMatchObject({
      id,
      class: cls,
      movesMoney: false,
      costMicros: 0,
    });
  });

  it.each([
    ['POST', '/events/send', 'resend.events.send'],
    ['POST', '/automations', 'resend.automations.create'],
    ['PATCH', '/inboxes/in_1/agent', 'resend.inboxes.agent.update'],
  ])('%s %s moves money Keybrake cannot price', (method, path, id) => {
    expect(classify(method, path, {})).toMatchObject({
      id,
      class: 'money_unpriced',
      movesMoney: true,
      costMicros: 0,
    });
  });

  it.each([
    ['POST', '/api-keys'],
    ['GET', '/api-keys'],
    ['DELETE', '/api-keys/k_1'],
    ['POST', '/webhooks'],
    ['GET', '/webhooks/wh_1'],
    ['POST', '/webhooks/wh_1/signing-secret/rotate'],
    ['DELETE', '/oauth/grants/g_1'],
  ])('refuses the sensitive operation %s %s whatever the policy', (method, path) => {
    expect(classify(method, path, {})).toMatchObject({ reason: 'credential_operation', message: /credential/ });
  });

  it.each([
    ['POST', '/something-new'],
    ['POST', '/emails/em_1'],
    ['PUT', '/domains/d_1'],
  ])('%s %s is unknown and money-moving', (method, path) => {
    expect(classify(method, path, {})).toEqual({
      id: 'resend.unknown',
      class: 'unknown',
      movesMoney: true,
      costMicros: 0,
      parties: expect.any(Object),
    });
  });
});
