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
