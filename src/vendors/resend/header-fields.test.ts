import { describe, expect, it } from 'vitest';
import { isDenial } from '../../decision/reasons.ts';
import type { Params, VendorRequest } from '../types.ts';
import { classifyResend } from './classify.ts';
import { headerFieldsDenial } from './header-fields.ts';
import { parseResend } from './parse.ts';
import { DEFAULT_RESEND_PRICES as P } from './prices.ts';

// Thirteenth round (probe resend13, finding 3): a line break and `Bcc:` was refused in a custom
// header but forwarded in reply_to, subject, an inbox's from_name and the other header-bound strings.
const INJECTED = 'help@example.com\r\nBcc: evil@attacker.test';
const email = (extra: Params = {}): Params => ({
  from: 'bot@support.example.com',
  to: 'ann@example.com',
  subject: 's',
  text: 't',
  ...extra,
});

describe('headerFieldsDenial', () => {
  it.each([
    ['a reply_to with a CRLF and a Bcc header', { reply_to: INJECTED }],
    ['a reply_to array element with a CRLF and a Bcc header', { reply_to: ['ok@example.com', INJECTED] }],
    ['a reply_to with a lone LF', { reply_to: 'help@example.com\nx' }],
    [
      'a reply_to naming an address in its display name',
      { reply_to: 'evil@attacker.test <help@example.com>' },
    ],
    ['a reply_to that is no string', { reply_to: { email: 'help@example.com' } }],
    ['a subject with a CRLF and a Bcc header', { subject: 'Hi\r\nBcc: evil@attacker.test' }],
    ['a subject with a Unicode line separator', { subject: 'Hi\u2028Bcc: evil@attacker.test' }],
    ['a subject with a NUL', { subject: 'Hi\u0000' }],
    ['a subject that is no string', { subject: ['Hi'] }],
    ['a from_name naming another address', { from_name: 'CEO <ceo@evil.test>' }],
    ['a from_name that is an address in full-width', { from_name: 'ceo\uff20bank.example' }],
    ['a from_name with a CRLF and a Bcc header', { from_name: 'x\r\nBcc: evil@attacker.test' }],
    ['a from_name that is no string', { from_name: 7 }],
    [
      'an attachment filename with a CRLF',
      { attachments: [{ filename: 'a.txt\r\nBcc: e@x.test', content: 'YQ==' }] },
    ],
    [
      'an attachment content_type with a LF',
      { attachments: [{ filename: 'a', content_type: 'text/plain\nX: y' }] },
    ],
    [
      'an attachment content_id with a CR',
      { attachments: [{ filename: 'a', content_id: 'c\rBcc: e@x.test' }] },
    ],
    // Thirteenth round (fixes13r finding 2): an attachment's fields in another spelling.
    [
      'an attachment contentType with a CRLF',
      { attachments: [{ filename: 'a', contentType: 'text/plain\r\nBcc: e@x.test' }] },
    ],
    ['an attachment Content_Type', { attachments: [{ filename: 'a', Content_Type: 'text/plain' }] }],
    ['an attachment content-type', { attachments: [{ filename: 'a', 'content-type': 'text/plain' }] }],
    ['an attachment fileName', { attachments: [{ fileName: 'a.txt\r\nBcc: e@x.test', content: 'YQ==' }] }],
    ['an attachment FILENAME', { attachments: [{ FILENAME: 'a.txt' }] }],
    ['an attachment contentId', { attachments: [{ filename: 'a', contentId: 'x\r\nBcc: e@x.test' }] }],
    ['an attachment filename true', { attachments: [{ filename: true, content: 'YQ==' }] }],
    // Thirteenth round (fixes13x finding 4): attachments in another shape were no items, read by no rule.
    ['attachments in a nested array', { attachments: [[{ content_type: 'text/plain\r\nBcc: e@x.test' }]] }],
    [
      'attachments as an object of objects',
      { attachments: { 0: { content_type: 'text/plain\r\nBcc: e@x' } } },
    ],
    ['one attachment not in an array', { attachments: { filename: 'a.txt', content: 'YQ==' } }],
    ['attachments as a string', { attachments: 'a.txt' }],
    ['a null attachment', { attachments: [null] }],
    ['an attachment that is a string', { attachments: [{ filename: 'a', content: 'YQ==' }, 'b.txt'] }],
    ['a from_name with a quote inside', { from_name: 'Acme "CEO" Support' }],
    ['a from_name with a comma', { from_name: 'Acme, Inc.' }],
  ])('refuses %s', (_name, fields) => {
    expect(headerFieldsDenial(email(fields))).toMatchObject({ reason: 'body_invalid' });
  });

  it.each([
    ['no header-bound field', {}],
    ['null ones', { reply_to: null, subject: null, from_name: null, attachments: null }],
    [
      'a display-name reply_to and a list of them',
      { reply_to: ['Help Desk <help@example.com>', 'ops@example.com'] },
    ],
    [
      'a subject with punctuation, a tab and non-ASCII letters',
      { subject: 'Re: order #1, shipped\t\u2014 caf\u00e9 <3' },
    ],
    ['a plain from_name and a quoted one', { from_name: 'Acme Support' }],
    ['a quoted from_name', { from_name: '"Acme Support"' }],
    ['an empty from_name', { from_name: '' }],
    [
      'an attachment with a plain name, type and id',
      { attachments: [{ filename: 'invoice 1.pdf', content_type: 'application/pdf', content_id: 'logo' }] },
    ],
    // Thirteenth round (fixes13r finding 5): what resend-node declares, and a name a from takes quoted.
    ['an attachment filename false (resend-node)', { attachments: [{ filename: false, content: 'YQ==' }] }],
    ['a from_name with a colon', { from_name: 'Support: Billing' }],
    ['no attachments in an empty array', { attachments: [] }],
    ['a from_name with a semicolon and brackets', { from_name: 'Acme; Support (EU) [billing]' }],
  ])('passes %s', (_name, fields) => {
    expect(headerFieldsDenial(email(fields))).toBeUndefined();
  });
});

describe('header-bound fields on the wire', () => {
  const req = (method: string, path: string): VendorRequest => ({
    method,
    path,
    query: '',
    headers: { 'content-type': 'application/json' },
  });
  const limits = { maxBytes: 1 << 20, maxDepth: 32, maxParams: 1000 };
  const parse = (method: string, path: string, body: unknown) =>
    parseResend(req(method, path), Buffer.from(JSON.stringify(body)), limits);

  it.each([
    ['an email', 'POST', '/emails', email({ reply_to: INJECTED })],
    ['a batch element', 'POST', '/emails/batch', [email(), email({ subject: 'x\r\nBcc: e@x.test' })]],
    ['a template', 'POST', '/templates', { name: 'n', html: 'h', reply_to: INJECTED }],
    ['a broadcast', 'POST', '/broadcasts', { name: 'n', html: 'h', segment_id: 'seg', reply_to: INJECTED }],
    ['an inbox', 'PATCH', '/inboxes/inb_1', { from_name: 'CEO <ceo@evil.test>' }],
    [
      'an inbox forward',
      'POST',
      '/inboxes/inb_1/threads/t/emails/e/forward',
      { to: 'a@example.com', subject: INJECTED },
    ],
    ['an inbox draft', 'POST', '/inboxes/inb_1/drafts', { to: 'a@example.com', subject: INJECTED }],
    [
      'a subject spelt otherwise',
      'POST',
      '/emails',
      { from: 'bot@support.example.com', to: 'ann@example.com', text: 't', Subject: 'x' },
    ],
    ['a from_name spelt otherwise', 'PATCH', '/inboxes/inb_1', { fromName: 'x' }],
  ])('the parse stage refuses %s', (_name, method, path, body) => {
    expect(parse(method, path, body)).toMatchObject({ reason: 'body_invalid' });
  });

  it("refuses an automation's send_email step whose subject or reply_to could start a header", () => {
    for (const config of [
      { template: { id: 't' }, subject: 'x\r\nBcc: evil@attacker.test' },
      { template: { id: 't' }, reply_to: INJECTED },
    ]) {
      const params = { name: 'a', steps: [{ key: 's', type: 'send_email', config }] };
      const op = classifyResend(P, req('POST', '/automations'), params);
      expect(isDenial(op) && op.reason).toBe('body_invalid');
    }
  });
});
