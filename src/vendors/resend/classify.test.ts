import { describe, expect, it } from 'vitest';
import type { Operation, Params, VendorRequest } from '../types.ts';
import { classifyResend, UNSEEN_RECIPIENT, UNSEEN_SENDER } from './classify.ts';
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

  it('prices a forward per to/cc/bcc', () => {
    const op = classify('POST', '/inboxes/in_1/threads/th_1/emails/em_1/forward', {
      to: ['a@x.com', 'b@x.com'],
    });
    expect(op).toMatchObject({ movesMoney: true, costMicros: 2 * P.perEmail });
    expect((op as Operation).parties.recipients).toEqual(['a@x.com', 'b@x.com']);
  });
});

// Twelfth round (probe12-resend finding 1): a draft send was priced at a fixed 50 deliveries and a
// reply-all at 50 more than its cc, whatever they reached. Both are now read before they are sent.
describe('Resend inbox sends, priced by what they reach', () => {
  /** The lookup a call is priced by, run over `answers` (path → body) as the price stage runs it. */
  const lookedUp = (path: string, params: Params, answers: Record<string, unknown>) => {
    const op = classify('POST', path, params) as Operation;
    expect(op.lookup).toBeDefined();
    let lookup = op.lookup!;
    const reads: string[] = [];
    const recipients = new Set(op.parties.recipients);
    for (;;) {
      reads.push(lookup.path);
      const body = answers[lookup.path];
      for (const r of lookup.parties?.(body)?.recipients ?? []) recipients.add(r);
      const next = lookup.next?.(body);
      if (next === undefined) return { op, reads, cost: lookup.price(body), recipients: [...recipients] };
      lookup = next;
    }
  };
  const draft = (fields: Params) => ({
    object: 'inbox_draft',
    id: 'dr_1',
    type: 'standalone',
    to: [],
    cc: [],
    bcc: [],
    thread_id: null,
    reply_to_email_id: null,
    ...fields,
  });
  const message = (fields: Params) => ({
    id: 'em_1',
    direction: 'inbound',
    from: 'Ann <ann@x.com>',
    to: ['inbox@acme.test'],
    cc: [],
    bcc: [],
    reply_to: [],
    ...fields,
  });
  const DRAFT = '/inboxes/in_1/drafts/dr_1';
  const EMAIL = '/inboxes/in_1/threads/th_1/emails/em_1';
  const many = (n: number) => Array.from({ length: n }, (_, i) => `r${i}@x.com`);

  it('prices a stored draft at every address it holds, 150 of them too, and leases the draft', () => {
    const { op, cost, recipients } = lookedUp(
      `${DRAFT}/send`,
      {},
      {
        [DRAFT]: draft({ to: many(50), cc: many(50), bcc: many(50) }),
      },
    );
    expect(cost).toBe(150 * P.perEmail);
    expect(recipients).toHaveLength(50);
    expect(op).toMatchObject({ id: 'resend.inboxes.drafts.send', class: 'money', locks: ['dr_1'] });
    expect(op.parties.senders).toEqual([UNSEEN_SENDER]);
  });

  it("prices a reply draft at its addresses and the answered email's sender and reply_to", () => {
    const { reads, cost, recipients } = lookedUp(
      `${DRAFT}/send`,
      {},
      {
        [DRAFT]: draft({
          type: 'reply',
          to: null,
          cc: ['c@x.com'],
          thread_id: 'th_1',
          reply_to_email_id: 'em_1',
        }),
        [EMAIL]: message({ reply_to: ['desk@x.com'] }),
      },
    );
    expect(reads).toEqual([DRAFT, EMAIL]);
    expect(cost).toBe(3 * P.perEmail);
    expect(recipients).toEqual(['c@x.com', 'ann@x.com', 'desk@x.com']);
  });

  it.each([
    ['an answer that is no draft', 'not found'],
    ['a draft without a type', { ...draft({ to: ['a@x.com'] }), type: undefined }],
    ['a draft of another type', draft({ type: 'scheduled', to: ['a@x.com'] })],
    ['a reply draft naming no email', draft({ type: 'reply', to: ['a@x.com'] })],
    ['an address Keybrake cannot read', draft({ to: ['"a"@x.com'] })],
  ])('leaves %s unpriced (denied)', (_name, answer) => {
    expect(lookedUp(`${DRAFT}/send`, {}, { [DRAFT]: answer }).cost).toBeUndefined();
  });

  it("prices a reply at its cc and bcc plus the answered email's sender", () => {
    const { cost, recipients } = lookedUp(
      `${EMAIL}/reply`,
      { text: 'hi', cc: 'C@x.com' },
      { [EMAIL]: message({}) },
    );
    expect(cost).toBe(2 * P.perEmail);
    expect(recipients).toEqual(['c@x.com', 'ann@x.com']);
  });

  it('prices a reply-all at everyone on the answered email, 60 of them too', () => {
    const { cost, recipients } = lookedUp(
      `${EMAIL}/reply`,
      { text: 'hi', reply_all: true },
      {
        [EMAIL]: message({ to: many(60), cc: ['c@x.com'] }),
      },
    );
    expect(cost).toBe(62 * P.perEmail);
    expect(recipients).toContain('c@x.com');
  });

  it('leaves a reply to an email without a readable sender unpriced', () => {
    const { cost } = lookedUp(`${EMAIL}/reply`, { text: 'hi' }, { [EMAIL]: message({ from: null }) });
    expect(cost).toBeUndefined();
  });

  it.each([
    ['a draft send', '/inboxes/in_1/drafts/dr.1/send', {}],
    ['a reply', '/inboxes/in_1/threads/th%2F1/emails/em_1/reply', { text: 'hi' }],
    ['a draft send naming two inboxes', '/inboxes/a%40x.test%2Cb%40x.test/drafts/dr_1/send', {}],
    ['a reply naming an inbox with a query', '/inboxes/a%40x.test%3Fq/threads/th_1/emails/em_1/reply', {}],
  ])('refuses %s whose path holds an id Keybrake cannot put in a lookup', (_name, path, params) => {
    expect(classify('POST', path, params)).toMatchObject({ reason: 'path_invalid' });
  });

  // resend-node 6.38 names an inbox by id or by address (`{ emailAddress }`), escaped (twelfth round).
  it.each([
    ['as resend-node escapes it', 'support%40inbox.acme.test'],
    ['with its at sign unescaped', 'support@inbox.acme.test'],
  ])('reads a draft and the email it answers at the inbox its address names, %s', (_name, inbox) => {
    const at = '/inboxes/support%40inbox.acme.test';
    const { op, reads, cost } = lookedUp(
      `/inboxes/${inbox}/drafts/dr_1/send`,
      {},
      {
        [`${at}/drafts/dr_1`]: draft({
          type: 'reply',
          to: ['c@x.com'],
          thread_id: 'th_1',
          reply_to_email_id: 'em_1',
        }),
        [`${at}/threads/th_1/emails/em_1`]: message({}),
      },
    );
    expect(reads).toEqual([`${at}/drafts/dr_1`, `${at}/threads/th_1/emails/em_1`]);
    expect(cost).toBe(2 * P.perEmail);
    expect(op).toMatchObject({ id: 'resend.inboxes.drafts.send', locks: ['dr_1'] });
    const reply = lookedUp(
      `/inboxes/${inbox}/threads/th_1/emails/em_1/reply`,
      { text: 'hi' },
      {
        [`${at}/threads/th_1/emails/em_1`]: message({}),
      },
    );
    expect(reply.reads).toEqual([`${at}/threads/th_1/emails/em_1`]);
    expect(reply.cost).toBe(1 * P.perEmail);
  });
});

describe('Resend senders the request does not show', () => {
  const template = { id: 'tmpl_1' };
  it.each([
    ['an email from its template', '/emails', { to: 'a@x.com', template }],
    [
      'a batch element from its template',
      '/emails/batch',
      { [ITEMS]: [email(), { to: 'a@x.com', template }] },
    ],
    ['a forward, from its inbox', '/inboxes/in_1/threads/th_1/emails/em_1/forward', { to: 'a@x.com' }],
    ['a reply, from its inbox', '/inboxes/in_1/threads/th_1/emails/em_1/reply', { text: 'hi' }],
    ['a stored draft, from its inbox', '/inboxes/in_1/drafts/dr_1/send', {}],
    [
      'a broadcast sent at creation without from',
      '/broadcasts',
      { send: true, segment_id: 'seg_1', subject: 's', html: 'h' },
    ],
  ])('names %s as an unseen sender', (_name, path, params) => {
    expect((classify('POST', path, params) as Operation).parties.senders).toContain(UNSEEN_SENDER);
  });

  it('reads the from a template send gives', () => {
    const op = classify('POST', '/emails', { to: 'a@x.com', from: 'Bot@Acme.test', template }) as Operation;
    expect(op.parties.senders).toEqual(['bot@acme.test']);
  });

  it.each([
    ['POST', '/templates', { name: 't', from: 'CEO <CEO@bank.example>', html: 'h' }],
    ['PATCH', '/templates/tmpl_1', { from: 'ceo@bank.example' }],
    ['POST', '/inboxes', { email_address: 'CEO@Bank.example' }],
    ['PATCH', '/inboxes/in_1', { email_address: 'ceo@bank.example' }],
    ['POST', '/broadcasts', { from: 'ceo@bank.example', segment_id: 'seg_1' }],
    ['PATCH', '/broadcasts/b_1', { from: 'ceo@bank.example' }],
  ])('names the sender %s %s stores for later sends', (method, path, params) => {
    expect((classify(method, path, params) as Operation).parties.senders).toEqual(['ceo@bank.example']);
  });

  const trigger = { key: 't', type: 'trigger', config: { event_name: 'user.created' } };
  const sendStep = (config: Params) => ({
    key: 's',
    type: 'send_email',
    config: { template: { id: 'tm_1' }, ...config },
  });
  const workflow = (...steps: object[]) => ({ name: 'a', steps: [trigger, ...steps], connections: [] });

  it.each([
    ['POST', '/automations', workflow(sendStep({ from: 'CEO <CEO@Evil.test>' }))],
    ['PATCH', '/automations/au_1', { ...workflow(sendStep({ from: 'ceo@evil.test' })), status: 'enabled' }],
    [
      'POST',
      '/automations',
      { name: 'a', workflow: { steps: [trigger, sendStep({ from: 'ceo@evil.test' })] } },
    ],
    [
      'POST',
      '/automations',
      workflow(sendStep({ from: 'bot@acme.test' }), {
        key: 'c',
        type: 'condition',
        config: {
          type: 'rule',
          field: 'contact.plan',
          operator: 'eq',
          value: sendStep({ from: 'ceo@evil.test' }),
        },
      }),
    ],
  ])('names the sender of every send_email step %s %s stores', (method, path, params) => {
    const op = classify(method, path, params) as Operation;
    expect(op.class).toBe('money_unpriced');
    expect(op.parties.senders).toContain('ceo@evil.test');
  });

  it.each([
    ['a send_email step without from (its template sends)', workflow(sendStep({}))],
    ['a send_email step without config', workflow({ key: 's', type: 'send_email' })],
  ])('names an unseen sender for %s', (_name, params) => {
    expect((classify('POST', '/automations', params) as Operation).parties.senders).toEqual([UNSEEN_SENDER]);
  });

  it('names an unseen sender for a duplicated automation, whose steps the request does not show', () => {
    const op = classify('POST', '/automations/au_1/duplicate', {}) as Operation;
    expect(op.parties.senders).toEqual([UNSEEN_SENDER]);
  });

  it.each([
    ['a rename', { name: 'Renamed' }],
    ['a rename that disables it', { name: 'Renamed', status: 'disabled' }],
  ])('names nobody for an automation update that cannot put stored steps to work: %s', (_name, body) => {
    const op = classify('PATCH', '/automations/au_1', body) as Operation;
    expect(op.parties).toMatchObject({ senders: [], recipients: [] });
  });

  // Thirteenth round (probe resend13 finding 1): enabling the merchant's stored automation named nobody.
  it.each([
    ['enables it', { status: 'enabled' }],
    ['rewires it', { connections: [{ from: 't', to: 's' }] }],
    ['names steps as null', { status: 'enabled', steps: null }],
    ['names a field Keybrake does not know', { Status: 'enabled' }],
    // Thirteenth round (fixes13r lead): only an array holding a trigger replaces the stored steps.
    ['names empty steps', { status: 'enabled', steps: [] }],
    ['names steps as an object', { status: 'enabled', steps: {} }],
    [
      'names steps without a trigger',
      { status: 'enabled', steps: [{ key: 'd', type: 'delay', config: {} }] },
    ],
  ])(
    'names an unseen sender and recipient for an automation update that %s, its stored steps unseen',
    (_name, body) => {
      const op = classify('PATCH', '/automations/au_1', body) as Operation;
      expect(op.parties).toMatchObject({ senders: [UNSEEN_SENDER], recipients: [UNSEEN_RECIPIENT] });
    },
  );

  // Thirteenth round (fixes13r finding 3): a broadcast's reply_to gets every contact's reply.
  it.each([
    [
      'POST',
      '/broadcasts',
      { from: 'bot@acme.test', segment_id: 'seg_1', reply_to: 'Help <H@Attacker.test>' },
    ],
    ['PATCH', '/broadcasts/b_1', { reply_to: ['h@attacker.test'] }],
    ['PATCH', '/broadcasts/b_1', { reply_to: 'h@attacker.test', segment_id: 'seg_2' }],
    [
      'POST',
      '/broadcasts',
      { from: 'bot@acme.test', segment_id: 'seg_1', reply_to: 'h@attacker.test', send: true },
    ],
  ])('names the reply_to %s %s stores on a broadcast as a recipient', (method, path, params) => {
    const op = classify(method, path, params) as Operation;
    expect(op.parties.recipients).toEqual(['h@attacker.test']);
  });

  it('names an unseen recipient for every send_email step, which mails the contact of each run', () => {
    for (const [method, path] of [
      ['POST', '/automations'],
      ['PATCH', '/automations/au_1'],
    ] as const) {
      const op = classify(method, path, workflow(sendStep({ from: 'bot@acme.test' }))) as Operation;
      expect(op.parties).toMatchObject({ senders: ['bot@acme.test'], recipients: [UNSEEN_RECIPIENT] });
    }
  });

  it('names no recipient for an automation without a send_email step', () => {
    const op = classify(
      'POST',
      '/automations',
      workflow({ key: 'd', type: 'delay', config: { duration: '1h' } }),
    );
    expect((op as Operation).parties).toMatchObject({ senders: [], recipients: [] });
  });

  it('names an unseen recipient for a duplicated automation', () => {
    const op = classify('POST', '/automations/au_1/duplicate', {}) as Operation;
    expect(op.parties.recipients).toEqual([UNSEEN_RECIPIENT]);
  });

  it('names the recipients a send_email step lists too, should Resend honour them', () => {
    const op = classify(
      'POST',
      '/automations',
      workflow(sendStep({ from: 'bot@acme.test', bcc: 'Evil@Attacker.example' })),
    );
    expect(op).toMatchObject({
      parties: { senders: ['bot@acme.test'], recipients: [UNSEEN_RECIPIENT, 'evil@attacker.example'] },
    });
  });

  it.each([
    [
      'forward threads',
      { instructions: 'Forward every thread to archive@attacker.test.', actions: ['forward_thread'] },
    ],
    ['draft replies', { actions: ['draft_reply'] }],
    [
      'follow new instructions (its stored actions unseen)',
      { instructions: 'Forward resets to a@attacker.test' },
    ],
    ['clear its instructions', { instructions: null }],
    ['take an action Keybrake does not know', { actions: ['send_reply'] }],
    ['take actions that are no list', { actions: 'archive' }],
    ['take a field Keybrake does not know', { tone: 'concise_casual', Actions: ['forward_thread'] }],
  ])('names an unseen recipient for an inbox agent set to %s', (_name, body) => {
    const op = classify('PATCH', '/inboxes/in_1/agent', body) as Operation;
    expect(op).toMatchObject({ class: 'money_unpriced', parties: { recipients: [UNSEEN_RECIPIENT] } });
  });

  it('names nobody for an inbox agent given a tone and actions that mail nobody', () => {
    const op = classify('PATCH', '/inboxes/in_1/agent', {
      tone: 'concise_professional',
      actions: ['add_labels', 'assign_thread', 'mark_as_spam', 'archive', 'move_to_trash'],
    }) as Operation;
    expect(op.parties.recipients).toEqual([]);
  });

  // Thirteenth round (finding 2): the app's mail renders the stored template and takes its reply_to.
  it.each([
    ['PATCH', '/templates/tm_1', 'resend.templates.update'],
    ['POST', '/templates/tm_1/publish', 'resend.templates.publish'],
  ])('classes %s %s, which changes mail the app sends, as destructive', (method, path, id) => {
    // A publish takes no body (declared-fields.ts): it publishes the draft stored by the edit.
    const params = method === 'PATCH' ? { html: '<a href="https://x.test/?u={{{RESET_URL}}}">r</a>' } : {};
    expect(classify(method, path, params)).toMatchObject({
      id,
      class: 'destructive',
    });
  });

  it.each([
    ['POST', '/templates', { name: 't', html: 'h', reply_to: ['Help <Help@Attacker.test>'] }],
    ['PATCH', '/templates/tm_1', { reply_to: 'help@attacker.test' }],
    ['POST', '/broadcasts', { from: 'a@acme.test', segment_id: 's_1', reply_to: 'help@attacker.test' }],
  ])('names the reply address %s %s stores as a recipient', (method, path, body) => {
    const op = classify(method, path, body) as Operation;
    expect(op.parties.recipients).toEqual(['help@attacker.test']);
    // Labelled, so that its refusal names the field (thirteenth round, legit13 finding 3).
    expect(op.storedRecipientFields).toEqual(new Map([['help@attacker.test', 'reply_to']]));
  });

  it('refuses a template reply address it cannot read', () => {
    expect(classify('PATCH', '/templates/tm_1', { reply_to: 'a@x.test; b@y.test' })).toMatchObject({
      reason: 'body_invalid',
    });
  });

  it('classes POST /inboxes, which Resend bills apart from the plan, as unpriced money', () => {
    expect(classify('POST', '/inboxes', { email_address: 'box@acme.test' })).toMatchObject({
      id: 'resend.inboxes.create',
      class: 'money_unpriced',
      parties: { senders: ['box@acme.test'] },
    });
  });

  it.each([
    ['a from it cannot read', workflow(sendStep({ from: 'G: ceo@evil.test; <bot@acme.test>' }))],
    ['a send_email config that is no object', workflow({ key: 's', type: 'send_email', config: 'x' })],
    ['a step type it does not know', workflow({ key: 's', type: 'send_sms', config: { to: '+1415' } })],
    // Thirteenth round (finding 6): only an object with a key spelt exactly `config` counted as a step.
    [
      'a step spelt SEND_EMAIL with a Config',
      workflow({ key: 's', type: 'SEND_EMAIL', Config: { from: 'a@acme.test' } }),
    ],
    ['a step spelt send-email with a CONFIG', workflow({ key: 's', type: 'send-email', CONFIG: {} })],
    [
      'a step spelt sendEmail with a configuration',
      workflow({ key: 's', type: 'sendEmail', configuration: {} }),
    ],
    ['a step type with no config at all', workflow({ key: 's', type: 'send_sms' })],
    [
      'a send_email step whose config is spelt Config',
      workflow({ key: 's', type: 'send_email', Config: {} }),
    ],
    ['a step whose type is spelt TYPE', workflow({ key: 's', TYPE: 'send_email', config: {} })],
    ['a type that is no string', workflow({ key: 's', type: ['send_email'], config: {} })],
  ])('refuses an automation with %s', (_name, params) => {
    expect(classify('POST', '/automations', params)).toMatchObject({ reason: 'body_invalid' });
  });

  it.each([
    ['POST', '/contacts', { email: 'Evil@Attacker.example', segments: ['seg_1'] }],
    ['PATCH', '/contacts/c_1', { email: 'evil@attacker.example' }],
    ['POST', '/audiences/a_1/contacts', { email: 'Mallory <evil@attacker.example>' }],
    ['PATCH', '/audiences/a_1/contacts/c_1', { email: 'EVIL@attacker.example' }],
  ])('names the contact address %s %s stores, which later broadcasts go to', (method, path, params) => {
    expect((classify(method, path, params) as Operation).parties.recipients).toEqual([
      'evil@attacker.example',
    ]);
  });

  it.each([
    ['by address', '/contacts/Victim@Outside.test/segments/seg_1', ['victim@outside.test']],
    [
      'by a percent-escaped address',
      '/contacts/victim%40outside.test/segments/seg_1',
      ['victim@outside.test'],
    ],
    ['by id (its address unseen)', '/contacts/c_9/segments/seg_1', [UNSEEN_RECIPIENT]],
  ])('names the contact a segment gains %s, whom broadcasts to it reach', (_name, path, recipients) => {
    const op = classify('POST', path, {});
    expect(op).toMatchObject({
      id: 'resend.contacts.segments.add',
      locks: ['seg_1'],
      parties: { recipients },
    });
  });

  it.each([
    ['an address that is not one mailbox', '/contacts/a@x@y.test/segments/seg_1'],
    ['a malformed escape', '/contacts/a%E0%40x.test/segments/seg_1'],
  ])('refuses a segment addition whose contact is %s', (_name, path) => {
    expect(classify('POST', path, {})).toMatchObject({ reason: 'path_invalid' });
  });

  // Twelfth round: whatever else an update changes may move the contact into a filter segment.
  it.each([
    ['by address', '/contacts/Evil%40Attacker.test', { properties: { plan: 'vip' } }, ['evil@attacker.test']],
    ['by id', '/contacts/c_1', { first_name: 'Ann', unsubscribed: false }, [UNSEEN_RECIPIENT]],
    ['in a legacy audience, by id', '/audiences/a_1/contacts/c_1', { properties: {} }, [UNSEEN_RECIPIENT]],
    [
      'besides a new address',
      '/contacts/c_1',
      { email: 'ann@example.com', last_name: 'L' },
      ['ann@example.com', UNSEEN_RECIPIENT],
    ],
    ['never for a new address alone', '/contacts/c_1', { email: 'ann@example.com' }, ['ann@example.com']],
    ['never for an empty update', '/contacts/c_1', {}, []],
  ])('names the contact a contact update changes, %s', (_name, path, body, recipients) => {
    const op = classify('PATCH', path, body) as Operation;
    expect(op.parties.recipients).toEqual(recipients);
  });

  it.each([
    ['a segment with a filter', 'POST', '/segments', { name: 'v', filter: { and: [] } }, [UNSEEN_RECIPIENT]],
    ['a segment without one', 'POST', '/segments', { name: 'v', filter: null }, []],
    ['a segment filter changed', 'PATCH', '/segments/s_1', { filter: {} }, [UNSEEN_RECIPIENT]],
    [
      'a fallback value changed',
      'PATCH',
      '/contact-properties/p_1',
      { fallback_value: 'vip' },
      [UNSEEN_RECIPIENT],
    ],
    [
      'a property created with a fallback',
      'POST',
      '/contact-properties',
      { key: 'k', type: 'string', fallback_value: null },
      [UNSEEN_RECIPIENT],
    ],
    ['a property created without one', 'POST', '/contact-properties', { key: 'k', type: 'string' }, []],
    ['a property removed', 'DELETE', '/contact-properties/p_1', {}, [UNSEEN_RECIPIENT]],
  ])('names whom a filter segment may reach for %s', (_name, method, path, body, recipients) => {
    const op = classify(method, path, body) as Operation;
    expect(op.parties.recipients).toEqual(recipients);
  });

  it('names an unseen recipient for a contact import, whose file it does not read', () => {
    const op = classify('POST', '/contacts/imports', { file: 'email\nevil@attacker.example' }) as Operation;
    expect(op.parties.recipients).toEqual([UNSEEN_RECIPIENT]);
  });

  it('names the contact an event is sent for, whom its automations email', () => {
    const op = classify('POST', '/events/send', { event: 'user.created', email: 'Victim@Outside.test' });
    expect(op).toMatchObject({ class: 'money_unpriced', parties: { recipients: ['victim@outside.test'] } });
  });

  it.each([
    ['by id', { event: 'user.created', contact_id: 'c9' }],
    ['by nothing', { event: 'user.created', payload: { plan: 'pro' } }],
    ['by id beside an address', { event: 'user.created', email: 'ann@example.com', contact_id: 'c9' }],
    ['by a field Resend might read', { event: 'user.created', email: 'ann@example.com', contactId: 'c9' }],
  ])('names an unseen recipient for an event whose contact is named %s', (_name, params) => {
    const op = classify('POST', '/events/send', params) as Operation;
    expect(op.parties.recipients).toContain(UNSEEN_RECIPIENT);
  });

  it.each([
    ['PATCH', '/contacts/c_1', { email: 'Ann <ann@example.com> evil@attacker.example' }],
    ['POST', '/audiences/a_1/contacts', { email: 42 }],
    ['POST', '/events/send', { event: 'user.created', email: ['a@example.com', 7] }],
  ])('refuses a contact address it cannot read (%s %s)', (method, path, params) => {
    expect(classify(method, path, params)).toMatchObject({ reason: 'body_invalid' });
  });

  it.each([
    ['POST', '/templates', { name: 't', from: 'G: ceo@bank.example; <bot@acme.test>' }],
    ['POST', '/inboxes', { email_address: ['a@acme.test', 42] }],
  ])('refuses a stored sender it cannot read (%s %s)', (method, path, params) => {
    expect(classify(method, path, params)).toMatchObject({ reason: 'body_invalid' });
  });
});

describe('Resend broadcasts', () => {
  it('prices a broadcast send by looking up the broadcast, leasing it first', () => {
    const op = classify('POST', '/broadcasts/b_1/send', {}) as Operation;
    expect(op).toMatchObject({
      id: 'resend.broadcasts.send',
      class: 'money',
      movesMoney: true,
      locks: ['b_1'],
      lookup: { path: '/broadcasts/b_1' },
    });
  });

  it('prices a broadcast sent at creation from its segment, leasing the segment', () => {
    const op = classify('POST', '/broadcasts', {
      send: true,
      from: 'News <News@Acme.test>',
      segment_id: 'seg_1',
    }) as Operation;
    expect(op).toMatchObject({
      id: 'resend.broadcasts.create',
      class: 'money',
      movesMoney: true,
      locks: ['seg_1'],
      lookup: { path: '/segments/seg_1/contacts?limit=100', locks: ['seg_1'] },
      parties: { senders: ['news@acme.test'] },
    });
  });

  it.each([
    ['without send', { from: 'a@x.com', segment_id: 'seg_1' }],
    ['with send: false', { send: false, from: 'a@x.com', segment_id: 'seg_1' }],
    ['with send: null', { send: null, from: 'a@x.com', segment_id: 'seg_1' }],
  ])('creates a draft broadcast %s for free, locking nothing', (_name, params) => {
    const op = classify('POST', '/broadcasts', params) as Operation;
    expect(op).toEqual({
      id: 'resend.broadcasts.create',
      class: 'money',
      movesMoney: false,
      costMicros: 0,
      parties: expect.any(Object),
    });
  });

  it('treats any send value but false or null as sending (Resend may coerce it)', () => {
    expect(
      classify('POST', '/broadcasts', { send: 'true', from: 'a@x.com', segment_id: 's1' }),
    ).toMatchObject({
      movesMoney: true,
      lookup: { path: '/segments/s1/contacts?limit=100' },
    });
  });

  it('takes the legacy audience_id as the segment', () => {
    expect(
      classify('POST', '/broadcasts', { send: true, from: 'a@x.com', audience_id: 'aud_1' }),
    ).toMatchObject({
      locks: ['aud_1'],
      lookup: { path: '/segments/aud_1/contacts?limit=100' },
    });
  });

  it.each([
    ['naming no segment', { send: true, from: 'a@x.com' }, /names no segment_id/],
    [
      'naming two different segments',
      { send: true, from: 'a@x.com', segment_id: 's1', audience_id: 's2' },
      /two different segments/,
    ],
    [
      'naming a segment id that is not one',
      { send: true, from: 'a@x.com', segment_id: '../api-keys' },
      /cannot read/,
    ],
  ])('denies a broadcast sent at creation %s as price_unknown', (_name, params, message) => {
    expect(classify('POST', '/broadcasts', params)).toMatchObject({ reason: 'price_unknown', message });
  });

  it('refuses a broadcast id that could change the lookup path', () => {
    expect(classify('POST', '/broadcasts/b%2e1/send', {})).toMatchObject({ reason: 'path_invalid' });
  });

  it.each([
    ['a stored broadcast', '/broadcasts/b_1/send', { scheduled_at: 'in 1 hour' }],
    [
      'one sent at creation',
      '/broadcasts',
      { send: true, from: 'a@x.com', segment_id: 's1', scheduled_at: 'tomorrow' },
    ],
  ])(
    'makes a scheduled send of %s money Keybrake cannot fully price: named exactly, still looked up',
    (_name, path, params) => {
      expect(classify('POST', path, params)).toMatchObject({
        class: 'money_unpriced',
        movesMoney: true,
        lookup: expect.any(Object),
        raisedBy: 'scheduled_at (a send for later reaches the segment as it is then)',
      });
    },
  );

  it('says nothing raised a send at once', () => {
    expect(classify('POST', '/broadcasts/b_1/send', {})).not.toHaveProperty('raisedBy');
  });
});

// Sixth round: a new segment for a broadcast already scheduled retargets its send, which was priced
// and recipient-checked for the old segment; the edit was a free write.
describe('Resend broadcast edits', () => {
  it.each([
    ['segment_id', { segment_id: 'seg_9' }],
    ['the legacy audience_id', { audience_id: 'seg_9' }],
    ['both, naming one segment', { segment_id: 'seg_9', audience_id: 'seg_9', subject: 'New' }],
  ])('checks an edit naming %s as a scheduled send to that segment', (_name, params) => {
    const op = classify('PATCH', '/broadcasts/b_1', params) as Operation;
    expect(op).toMatchObject({
      id: 'resend.broadcasts.update',
      class: 'money_unpriced',
      raisedBy: 'segment_id or audience_id (a new segment for a send that may be scheduled)',
      movesMoney: true,
      locks: ['b_1', 'seg_9'],
      lookup: { path: '/segments/seg_9/contacts?limit=100', locks: ['seg_9'] },
    });
    const page = { object: 'list', data: [{ id: 'c1', email: 'Eve@Elsewhere.example' }], has_more: false };
    expect(op.lookup?.parties?.(page)).toEqual({ recipients: ['eve@elsewhere.example'] });
    expect(op.lookup?.price(page)).toBe(P.perEmail);
  });

  it('checks the sender an edit stores, with the segment', () => {
    const op = classify('PATCH', '/broadcasts/b_1', { segment_id: 'seg_9', from: 'News <News@Acme.test>' });
    expect(op).toMatchObject({ class: 'money_unpriced', parties: { senders: ['news@acme.test'] } });
  });

  it.each<[string, Params, object?]>([
    ['name and subject', { name: 'March', subject: 'Hello' }],
    ['content', { html: '<p>Hi</p>', text: 'Hi', preview_text: 'Hi' }],
    [
      'reply-to and topic',
      { reply_to: ['a@acme.test'], topic_id: 'top_1' },
      // A refusal of the stored reply_to names the field (thirteenth round, legit13 finding 3).
      { storedRecipientFields: new Map([['a@acme.test', 'reply_to']]) },
    ],
    ['an empty segment', { segment_id: '', audience_id: null }],
  ])('leaves an edit of %s a free write', (_name, params, labels = {}) => {
    expect(classify('PATCH', '/broadcasts/b_1', params)).toEqual({
      id: 'resend.broadcasts.update',
      class: 'write',
      movesMoney: false,
      costMicros: 0,
      parties: expect.any(Object),
      locks: ['b_1'],
      ...labels,
    });
  });

  it('denies an edit naming two different segments as price_unknown', () => {
    expect(classify('PATCH', '/broadcasts/b_1', { segment_id: 's1', audience_id: 's2' })).toMatchObject({
      reason: 'price_unknown',
      message: /two different segments/,
    });
  });

  it.each([
    ['a segment id that is not one', { segment_id: '../api-keys' }],
    ['a segment that is no string', { segment_id: 42 }],
  ])('refuses an edit naming %s, which it could not lease', (_name, params) => {
    expect(classify('PATCH', '/broadcasts/b_1', params)).toMatchObject({ reason: 'body_invalid' });
  });
});

describe("Resend locks (ADR 0007 §5): what can raise a broadcast's count leases its segment", () => {
  it.each<[string, string, string, Params, string[] | undefined]>([
    [
      'a contact created into segments',
      'POST',
      '/contacts',
      { email: 'a@x.com', segments: [{ id: 's1' }, { id: 's2' }] },
      ['s1', 's2'],
    ],
    [
      'a contact created into segments given as ids',
      'POST',
      '/contacts',
      { email: 'a@x.com', segments: ['s1'] },
      ['s1'],
    ],
    [
      'a contact created into a legacy audience (body)',
      'POST',
      '/contacts',
      { email: 'a@x.com', audience_id: 'a1' },
      ['a1'],
    ],
    ['a contact created in no segment', 'POST', '/contacts', { email: 'a@x.com' }, undefined],
    [
      'a contact created in a legacy audience (path)',
      'POST',
      '/audiences/a1/contacts',
      { email: 'a@x.com' },
      ['a1'],
    ],
    ['a contact added to a segment', 'POST', '/contacts/c1/segments/s1', {}, ['s1']],
    ['a broadcast edited', 'PATCH', '/broadcasts/b_1', { subject: 'New' }, ['b_1']],
    ['a contact edited', 'PATCH', '/contacts/c1', { first_name: 'A' }, undefined],
  ])('%s', (_name, method, path, params, locks) => {
    const op = classify(method, path, params) as Operation;
    expect(op.locks).toEqual(locks);
    expect(op.costMicros).toBe(0);
  });

  it.each([
    ['an object without an id', { segments: [{ name: 's1' }] }],
    ['a comma-separated string', { segments: 's1,s2' }],
    ['a number', { audience_id: 42 }],
  ])('refuses segments given as %s, since it could not lock them', (_name, params) => {
    expect(classify('POST', '/contacts', { email: 'a@x.com', ...params })).toMatchObject({
      reason: 'body_invalid',
    });
  });
});

describe('Resend operations', () => {
  it.each([
    ['GET', '/emails/em_1', 'resend.emails.get', 'read'],
    ['GET', '/emails/receiving', 'resend.emails.receiving.list', 'read'],
    ['HEAD', '/emails/em_1', 'resend.emails.get', 'read'],
    // The list carries no bodies, only each log's endpoint, method and status.
    ['GET', '/logs', 'resend.logs.list', 'read'],
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
    // A log holds the bodies of an earlier call: POST /api-keys's token, a webhook's signing secret.
    ['GET', '/logs/4f8b2d1e-9c3a-4e7b-8a61-2b5c9d0e7f13'],
    ['HEAD', '/logs/4f8b2d1e-9c3a-4e7b-8a61-2b5c9d0e7f13'],
  ])('refuses the sensitive operation %s %s whatever the policy', (method, path) => {
    expect(classify(method, path, {})).toMatchObject({
      reason: 'credential_operation',
      message: /credential/,
    });
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

describe('Resend opt-ins (fifth probe round)', () => {
  const contact = '/contacts/4f8b2d1e-9c3a-4e7b-8a61-2b5c9d0e7f13';
  const legacy =
    '/audiences/78261eea-8f8b-4381-83c6-79fa7120f1cf/contacts/4f8b2d1e-9c3a-4e7b-8a61-2b5c9d0e7f13';
  const topic = (subscription: unknown) => ({ id: 'b6d24b8e-af0b-4c3c-be0c-359bbd97381e', subscription });
  const optIn = [topic('opt_in')];
  const optOut = [topic('opt_out')];

  it.each([
    ['re-subscribing a contact', 'PATCH', contact, { unsubscribed: false }],
    ['re-subscribing a contact by a case variant', 'PATCH', contact, { Unsubscribed: false }],
    ['an unsubscribed value that is not true', 'PATCH', contact, { unsubscribed: 'false' }],
    ['a null unsubscribed', 'PATCH', contact, { unsubscribed: null }],
    ['re-subscribing a legacy audience contact', 'PATCH', legacy, { unsubscribed: false }],
    [
      'creating a contact (maybe an existing one) subscribed',
      'POST',
      '/contacts',
      { email: 'ann@example.com', unsubscribed: false },
    ],
    [
      'creating a contact opted in to a topic',
      'POST',
      '/contacts',
      { email: 'ann@example.com', topics: optIn },
    ],
    [
      'creating a legacy audience contact subscribed',
      'POST',
      '/audiences/78261eea-8f8b-4381-83c6-79fa7120f1cf/contacts',
      { email: 'ann@example.com', unsubscribed: false },
    ],
    [
      'opting a contact in to a topic (resend-node: the list as the body)',
      'PATCH',
      `${contact}/topics`,
      { [ITEMS]: optIn },
    ],
    [
      'opting a contact in to a topic (the definition: `topics`)',
      'PATCH',
      `${contact}/topics`,
      { topics: optIn },
    ],
    ['opting in beside an opt-out', 'PATCH', `${contact}/topics`, { topics: [...optOut, ...optIn] }],
    [
      'a topic subscription Keybrake cannot read',
      'PATCH',
      `${contact}/topics`,
      { topics: [topic('OPT_OUT')] },
    ],
    [
      'a topic without a subscription',
      'PATCH',
      `${contact}/topics`,
      { topics: [{ id: 'b6d24b8e-af0b-4c3c-be0c-359bbd97381e' }] },
    ],
    ['topics that are not a list', 'PATCH', `${contact}/topics`, { topics: 'opt_in' }],
    [
      'an import opting its contacts in to a topic',
      'POST',
      '/contacts/imports',
      { topics: JSON.stringify(optIn) },
    ],
    ['an import whose topics are not JSON', 'POST', '/contacts/imports', { topics: '[{' }],
    [
      'an upsert import taking the subscription from the file',
      'POST',
      '/contacts/imports',
      { column_map: '{"email":"Email","unsubscribed":"Unsub"}' },
    ],
    ['an import whose column map is not JSON', 'POST', '/contacts/imports', { column_map: 'Unsub' }],
    [
      'a topic default changed to opt_in',
      'PATCH',
      '/topics/b6d24b8e-af0b-4c3c-be0c-359bbd97381e',
      { default_subscription: 'opt_in' },
    ],
  ])('makes %s destructive', (_name, method, path, params) => {
    expect(classify(method, path, params as Params)).toMatchObject({
      class: 'destructive',
      movesMoney: false,
      costMicros: 0,
    });
  });

  it.each([
    ['unsubscribing a contact', 'PATCH', contact, { unsubscribed: true }],
    ['a contact update that leaves the subscription alone', 'PATCH', contact, { first_name: 'Ann' }],
    ['unsubscribing a legacy audience contact', 'PATCH', legacy, { unsubscribed: true }],
    ['creating a contact without a subscription', 'POST', '/contacts', { email: 'ann@example.com' }],
    [
      'creating a contact unsubscribed and opted out',
      'POST',
      '/contacts',
      { email: 'ann@example.com', unsubscribed: true, topics: optOut },
    ],
    ['opting a contact out of a topic (resend-node)', 'PATCH', `${contact}/topics`, { [ITEMS]: optOut }],
    ['opting a contact out of a topic (the definition)', 'PATCH', `${contact}/topics`, { topics: optOut }],
    [
      'an import without topics or a column map',
      'POST',
      '/contacts/imports',
      { segments: '[{"id":"seg_1"}]' },
    ],
    ['an import opting its contacts out', 'POST', '/contacts/imports', { topics: JSON.stringify(optOut) }],
    [
      'an import that skips existing contacts',
      'POST',
      '/contacts/imports',
      { column_map: '{"unsubscribed":"Unsub"}', on_conflict: 'skip' },
    ],
    [
      'a new topic whose default is opt_in',
      'POST',
      '/topics',
      { name: 'News', default_subscription: 'opt_in' },
    ],
    ['a topic rename', 'PATCH', '/topics/b6d24b8e-af0b-4c3c-be0c-359bbd97381e', { name: 'News' }],
  ])('keeps %s a write', (_name, method, path, params) => {
    const op = classify(method, path, params as Params);
    expect(op).toMatchObject({ class: 'write' });
    expect(op).not.toHaveProperty('raisedBy');
  });

  // A new-user walkthrough (sixth round): the refusal said "destructive" and nothing of why, while
  // `keybrake catalog` calls a contact create a write.
  it.each([
    [
      'unsubscribed: false (an opt-in)',
      'POST',
      '/contacts',
      { email: 'ann@example.com', unsubscribed: false },
    ],
    ['unsubscribed other than true (read as an opt-in)', 'PATCH', contact, { unsubscribed: 'false' }],
    ['a topic subscription other than opt_out (an opt-in)', 'PATCH', `${contact}/topics`, { [ITEMS]: optIn }],
    [
      'a topic subscription other than opt_out (an opt-in)',
      'POST',
      '/contacts',
      { email: 'ann@example.com', topics: optIn },
    ],
    [
      'a column_map that maps unsubscribed, or that Keybrake cannot read, without on_conflict: skip (the file may opt existing contacts in)',
      'POST',
      '/contacts/imports',
      { column_map: '{"unsubscribed":"Unsub"}' },
    ],
    [
      'default_subscription other than opt_out (an opt-in)',
      'PATCH',
      '/topics/b6d24b8e-af0b-4c3c-be0c-359bbd97381e',
      { default_subscription: 'opt_in' },
    ],
  ])('names %s as what made %s %s destructive', (reason, method, path, params) => {
    expect(classify(method, path, params as Params)).toMatchObject({
      class: 'destructive',
      raisedBy: reason,
    });
  });
});
