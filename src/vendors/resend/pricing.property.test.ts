import { domainToASCII } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isDenial } from '../../decision/reasons.ts';
import type { CompiledKey } from '../../snapshot/types.ts';
import { createResendAdapter, DEFAULT_RESEND_PRICES } from './index.ts';

/**
 * Pricing an email against what Resend delivers: for emails and batches whose `to`, `cc` and `bcc`
 * are strings, comma-separated strings (quoted display names included) or arrays of
 * them, the reservation (parse → price, as the pipeline drives the adapter) is at least the per-email
 * price times the mailboxes counted here, by construction, independently of Keybrake's splitting; and
 * every mailbox is named as a recipient party, so a recipient allowlist sees all of them.
 */

const resend = createResendAdapter();
const limits = { maxBytes: 1 << 20, maxDepth: 16, maxParams: 100_000 };
const RUNS = { numRuns: 500 };
const KEY = {
  uid: 'agents/r',
  namespace: 'agents',
  name: 'r',
  vendor: 'resend',
  tokenFingerprint: 'kb_resend_…0000',
  upstream: { kind: 'bearer', token: 're_x' },
  suspended: false,
  policy: { ref: 'agents/p', limits: {}, timezone: 'UTC', readsWhenStoreDown: false },
} as CompiledKey;

/** One mailbox: how it is written, and the address it is (lower case, punycode domain). */
interface Mailbox {
  readonly written: string;
  readonly address: string;
}

const local = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._+-]{0,9}$/);
const domain = fc.constantFrom(
  'example.com',
  'Example.COM',
  'mail.example.org',
  'bücher.de',
  'BÜCHER.de',
  'xn--bcher-kva.de',
);
const mailbox: fc.Arbitrary<Mailbox> = fc
  .tuple(
    local,
    domain,
    fc.constantFrom('plain', 'angle', 'named', 'quoted'),
    fc.constantFrom('Ann', 'Bob Smith', 'Zoë'),
  )
  .map(([l, d, form, name]) => {
    const addr = `${l}@${d}`;
    const written =
      form === 'plain'
        ? addr
        : form === 'angle'
          ? `<${addr}>`
          : form === 'named'
            ? `${name} <${addr}>`
            : // Quoted, without the `@` or `,` that refuse it (recipients.test.ts): no decoy hides here.
              `"${name} Jr." <${addr}>`;
    const ascii = domainToASCII(d.toLowerCase());
    return { written, address: `${l.toLowerCase()}@${ascii || d.toLowerCase()}` };
  });

/** A field as a client may write it: one string (one or several mailboxes, comma-separated) or an array of such. */
const field: fc.Arbitrary<{ value: unknown; mailboxes: Mailbox[] }> = fc.oneof(
  mailbox.map((m) => ({ value: m.written, mailboxes: [m] })),
  fc
    .array(mailbox, { minLength: 1, maxLength: 5 })
    .map((ms) => ({ value: ms.map((m) => m.written).join(', '), mailboxes: ms })),
  fc
    .array(fc.array(mailbox, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 5 })
    .map((groups) => ({
      value: groups.map((g) => g.map((m) => m.written).join(',')),
      mailboxes: groups.flat(),
    })),
);

const email = fc
  .record({ to: field, cc: fc.option(field, { nil: undefined }), bcc: fc.option(field, { nil: undefined }) })
  .map(({ to, cc, bcc }) => ({
    body: {
      from: 'Acme <billing@acme.example>',
      to: to.value,
      ...(cc ? { cc: cc.value } : {}),
      ...(bcc ? { bcc: bcc.value } : {}),
      subject: 'Your receipt',
      text: 'Thanks',
    },
    mailboxes: [...to.mailboxes, ...(cc?.mailboxes ?? []), ...(bcc?.mailboxes ?? [])],
  }));

function price(path: string, body: unknown) {
  const req = { method: 'POST', path, query: '', headers: { 'content-type': 'application/json' } };
  const params = resend.parse(req, Buffer.from(JSON.stringify(body)), limits);
  if (isDenial(params)) throw new Error(`parse: ${params.reason} ${params.message}`);
  const op = resend.price(req, params, KEY);
  if (isDenial(op)) throw new Error(`price: ${op.reason} ${op.message}`);
  return op;
}

describe('Resend reservations against the deliveries an email makes', () => {
  it('POST /emails: reserved ≥ mailboxes × the per-email price, every mailbox a recipient party', () => {
    fc.assert(
      fc.property(email, ({ body, mailboxes }) => {
        const op = price('/emails', body);
        expect(op.class).toBe('money');
        expect(op.costMicros).toBeGreaterThanOrEqual(mailboxes.length * DEFAULT_RESEND_PRICES.perEmail);
        for (const m of mailboxes) expect(op.parties.recipients).toContain(m.address);
      }),
      RUNS,
    );
  });

  it('POST /emails/batch: reserved ≥ the mailboxes of every email × the per-email price', () => {
    fc.assert(
      fc.property(fc.array(email, { minLength: 1, maxLength: 6 }), (emails) => {
        const op = price(
          '/emails/batch',
          emails.map((e) => e.body),
        );
        const total = emails.reduce((sum, e) => sum + e.mailboxes.length, 0);
        expect(op.costMicros).toBeGreaterThanOrEqual(total * DEFAULT_RESEND_PRICES.perEmail);
        for (const m of emails.flatMap((e) => e.mailboxes))
          expect(op.parties.recipients).toContain(m.address);
      }),
      RUNS,
    );
  });
});
