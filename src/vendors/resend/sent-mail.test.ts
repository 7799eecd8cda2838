import { describe, expect, it } from 'vitest';
import { isDenial } from '../../decision/reasons.ts';
import { NO_PARTIES, type Operation, WITHHELD } from '../types.ts';
import { withholdSentMail } from './sent-mail.ts';

const op = (id: string): Operation => ({
  id,
  class: 'read',
  movesMoney: false,
  costMicros: 0,
  parties: NO_PARTIES,
});
const answer = (v: unknown) => Buffer.from(JSON.stringify(v, null, 1));

describe('withholdSentMail', () => {
  it.each([
    [
      'one email',
      'resend.emails.get',
      { object: 'email', to: ['a@x.com'], subject: 'code 1', html: '<a>l</a>', text: 't' },
    ],
    [
      'the list',
      'resend.emails.list',
      { object: 'list', data: [{ id: 'e', subject: 'code 1', to: ['a@x.com'] }] },
    ],
    [
      'an attachment',
      'resend.emails.attachments.get',
      { object: 'attachment', download_url: 'https://s/x?sig=1' },
    ],
  ])('withholds the content of %s, keeping the rest', (_name, id, body) => {
    const out = withholdSentMail(answer(body), op(id));
    expect(isDenial(out)).toBe(false);
    const text = (out as Buffer).toString('utf8');
    expect(text).not.toMatch(/code 1|<a>l<\/a>|"t"|sig=1/);
    expect(text).toContain(WITHHELD);
    expect(JSON.parse(text)).toBeTruthy();
    if (id !== 'resend.emails.attachments.get') expect(text).toContain('a@x.com');
  });

  it('leaves a null body, the answers of other operations and an empty answer as they are', () => {
    const email = answer({ html: null, text: null, subject: 'x' });
    expect(withholdSentMail(answer({ html: null }), op('resend.emails.get')).toString()).toContain('null');
    expect(withholdSentMail(email, op('resend.emails.receiving.get'))).toBe(email);
    expect(withholdSentMail(email, null)).toBe(email);
    expect(withholdSentMail(Buffer.alloc(0), op('resend.emails.get'))).toHaveLength(0);
  });

  it('withholds an answer to a sent-mail read that is not JSON whole', () => {
    expect(withholdSentMail(Buffer.from('<html>magic</html>'), op('resend.emails.get'))).toMatchObject({
      reason: 'credential_in_response',
    });
  });
});

// Twelfth round (probe fixes12a): a webhook event's payload is Resend's record of the sent mail (its
// subject; on email.clicked the link clicked, a reset link with its token), handed out whole by
// GET /webhooks/{id}/events/{event} while GET /emails/{id} withheld it.
describe('withholdSentMail on webhook event reads', () => {
  const event = (type: string, data: Record<string, unknown>) => ({
    object: 'webhook_event',
    id: 'ev_1',
    type,
    status: 'success',
    next_attempt_at: null,
    payload: { type, created_at: '2026-12-02', data: { email_id: 'e1', to: ['a@x.com'], ...data } },
  });

  it.each([
    ['email.sent', event('email.sent', { subject: 'code 1 is yours' })],
    [
      'email.clicked',
      event('email.clicked', {
        subject: 'Reset',
        click: { ipAddress: '192.0.2.1', link: 'https://app/reset?token=tok1', timestamp: 'ts1' },
      }),
    ],
    [
      'email.bounced',
      event('email.bounced', {
        subject: 'code 1 is yours',
        bounce: { message: 'mailbox full', type: 'Permanent' },
      }),
    ],
    ['email.received', event('email.received', { subject: 'code 1 is yours', received_for: ['in@x.com'] })],
    [
      'inbox.email.received',
      event('inbox.email.received', {
        email: { id: 'm1', subject: 'code 1 is yours' },
        thread: { id: 't1', subject: 'code 1 is yours' },
      }),
    ],
    [
      'inbox.draft.created',
      event('inbox.draft.created', { draft: { id: 'd1', subject: 'code 1 is yours' } }),
    ],
  ])('withholds the mail content of an %s event, keeping the rest', (_type, body) => {
    const out = withholdSentMail(answer(body), op('resend.webhooks.events.get'));
    expect(isDenial(out)).toBe(false);
    const text = (out as Buffer).toString('utf8');
    expect(text).not.toMatch(/code 1|tok1|"Reset"/);
    expect(text).toContain(WITHHELD);
    expect(text).toContain('a@x.com');
    expect(JSON.parse(text).payload.type).toBe(body.type);
    // Delivery diagnostics and the click's time stay.
    if (body.type === 'email.bounced') expect(text).toContain('mailbox full');
    if (body.type === 'email.clicked') expect(text).toContain('ts1');
  });

  it('withholds the same in the list of events, and an attempt answer that quotes the payload', () => {
    const list = answer({ object: 'list', data: [event('email.sent', { subject: 'code 1' })] });
    expect(withholdSentMail(list, op('resend.webhooks.events.list')).toString()).not.toContain('code 1');
    const attempts = answer({
      object: 'list',
      data: [
        { id: 'at1', http_status_code: 422, response: '{"input":{"link":"https://app/reset?token=tok1"}}' },
      ],
    });
    const out = withholdSentMail(attempts, op('resend.webhooks.events.attempts.list')).toString();
    expect(out).not.toContain('tok1');
    expect(out).toContain('422');
  });

  it('withholds a webhook event answer that is not JSON whole', () => {
    expect(withholdSentMail(Buffer.from('subject: code 1'), op('resend.webhooks.events.get'))).toMatchObject({
      reason: 'credential_in_response',
    });
  });

  it('leaves the answers of other webhook operations as they are', () => {
    const replay = answer({ object: 'webhook_event', id: 'ev_1', link: 'l' });
    expect(withholdSentMail(replay, op('resend.webhooks.events.replay'))).toBe(replay);
    // The mail reads keep a field named link (none of Resend's) as it is.
    const email = answer({ object: 'email', link: 'l' });
    expect(withholdSentMail(email, op('resend.emails.get'))).toBe(email);
  });
});

// Thirteenth round (probe resend13, finding 5): an automation run read answered each step's output
// and error whole, the app's event (a reset link) and the mail it sent (a code) included.
describe('withholdSentMail on automation run reads', () => {
  const SECRET = 'https://app.example.com/reset?token=RESET_42';
  const run = {
    object: 'automation_run',
    id: 'run_1',
    status: 'completed',
    steps: [
      {
        key: 'trigger',
        type: 'trigger',
        status: 'completed',
        output: { event: 'password.reset', payload: { reset_url: SECRET, nested: [{ a: '"}]' }] } },
        error: null,
      },
      { key: 'send', type: 'send_email', status: 'completed', output: 'Your code is 913377', error: null },
      { key: 'n', type: 'delay', status: 'completed', output: 42, error: [true, null] },
      {
        key: 'cond',
        type: 'condition',
        status: 'failed',
        output: null,
        error: { message: `missing in ${SECRET}` },
      },
    ],
  };

  it.each([
    ['one run', 'resend.automations.runs.get', run, 1],
    ['the run list', 'resend.automations.runs.list', { object: 'list', data: [run, run] }, 0],
    ['one run, compact', 'resend.automations.runs.get', run, 0],
  ])('withholds every step output and error of %s whole, keeping the rest', (_name, id, body, indent) => {
    const out = withholdSentMail(Buffer.from(JSON.stringify(body, null, indent)), op(id));
    if (isDenial(out)) throw new Error('denied');
    const text = out.toString('utf8');
    expect(text).not.toMatch(/RESET_42|913377|password\.reset|"42"|: ?42/);
    const parsed = JSON.parse(text) as { data?: (typeof run)[] } & typeof run;
    for (const r of parsed.data ?? [parsed]) {
      expect(r.steps.map((s) => [s.key, s.status, s.output, s.error])).toEqual([
        ['trigger', 'completed', WITHHELD, null],
        ['send', 'completed', WITHHELD, null],
        ['n', 'completed', WITHHELD, WITHHELD],
        ['cond', 'failed', null, WITHHELD],
      ]);
      expect(r.id).toBe('run_1');
    }
  });

  it('withholds a run answer that is not JSON whole', () => {
    expect(
      withholdSentMail(Buffer.from('<run>RESET_42</run>'), op('resend.automations.runs.get')),
    ).toMatchObject({
      reason: 'credential_in_response',
    });
  });

  it("leaves an automation's own definition as it is", () => {
    const body = answer({
      object: 'automation',
      steps: [{ key: 'k', type: 'delay', config: { duration: '1h' } }],
    });
    expect(withholdSentMail(body, op('resend.automations.get'))).toBe(body);
  });
});
