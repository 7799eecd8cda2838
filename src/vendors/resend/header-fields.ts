import { type Denial, deny } from '../../decision/reasons.ts';
import { isDisplayName } from '../mailbox.ts';
import { breaksHeaderLine } from './custom-headers.ts';
import { fieldSpellingDenial } from './field-spellings.ts';
import { addressList } from './recipients.ts';

/**
 * The fields of an email object, other than its recipients, sender and custom `headers`, whose
 * strings Resend writes into a header line of the mail it sends: `reply_to` (Reply-To), `subject`
 * (Subject), an inbox's `from_name` (the name before the inbox's address in every From it sends),
 * and an attachment's `filename`, `content_type` and `content_id` (the headers of its MIME part).
 * A custom header's value with a line break was refused (custom-headers.ts), but these were
 * forwarded as written (thirteenth round: `reply_to: "help@example.com\r\nBcc: evil@attacker.test"`,
 * a CRLF subject, a CRLF or `CEO <ceo@evil.test>` from_name): were any layer between Resend's API and
 * the wire to write one raw, the mail gains a header of the agent's, a `Bcc:` that delivers to
 * someone no allowlist saw. Whether Resend's MIME writer encodes them is not Keybrake's to know:
 * refused, as the same value is in a custom header.
 *
 * Checked on every object the parse stage reads as an email (the body, each batch element) and on
 * an automation's send_email steps (automations.ts); `null` or absent is no value. A template's
 * variables and an event's payload, which Resend may render into a subject, are not read:
 * Keybrake does not render templates.
 */
const TEXT_FIELDS: readonly string[] = ['subject'];
const ATTACHMENT_FIELDS: readonly string[] = ['filename', 'content_type', 'content_id'];
/**
 * An attachment's fields as resend-node sends them, each read in this one spelling: `contentType`,
 * `Content_Type`, `fileName` or `contentId` (resend-node's own option names) beside them would be
 * a header value no rule read, were Resend or a layer before it to match names loosely (thirteenth
 * round, fixes13r: six such spellings carried `\r\nBcc:` to the upstream), as field-spellings.ts
 * refuses for the email's own fields.
 */
const ATTACHMENT_READ: ReadonlySet<string> = new Set([
  'filename',
  'content_type',
  'content_id',
  'content',
  'path',
]);

/** Why one email object's header-bound fields cannot be forwarded, or undefined. */
export function headerFieldsDenial(email: Record<string, unknown>): Denial | undefined {
  // The address rules of `to`/`cc`/`bcc` (one mailbox each, no control character anywhere): a
  // Reply-To is a header of addresses as theirs are.
  if (addressList(email['reply_to']) === undefined) {
    return deny(
      'body_invalid',
      '`reply_to` must be a string or an array of strings, of mailboxes such as a@example.com or Name <a@example.com>, without line breaks or control characters.',
    );
  }
  for (const field of TEXT_FIELDS) {
    if (!isHeaderText(email[field])) {
      return deny('body_invalid', `\`${field}\` must be a string without line breaks or control characters.`);
    }
  }
  const fromName = email['from_name'];
  if (
    fromName !== undefined &&
    fromName !== null &&
    (typeof fromName !== 'string' || !isDisplayName(fromName))
  ) {
    // The name a From shows: a sender allowlist refuses `CEO <ceo@evil.test>` or `ceo＠bank.com`
    // before an allowed address in a `from`, and an inbox's name stands in that place. Read as the
    // same name quoted in a `from` is: `Support: Billing` passes there as `"Support: Billing"`.
    return deny(
      'body_invalid',
      '`from_name` must be a display name as a quoted one in a `from`: no line break, control character, `\\`, `<`, `>`, `@`, `,`, a `"` but around it, or a lookalike of one.',
    );
  }
  return attachmentsDenial(email['attachments']);
}

/** Absent, null, or a string that cannot end its header line. */
function isHeaderText(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === 'string' && !breaksHeaderLine(value));
}

/**
 * An email's `attachments`: an array of objects, as resend-node sends it, each an object whose
 * fields are spelt one way and whose header-bound fields are header text. A `filename` may also be
 * `false`, which resend-node declares (`string | false`) and sends as it is: no text, so no header
 * line. Any other shape is refused, not skipped: an attachment in a nested array (`[[{…}]]`) or in an
 * object of objects (`{"0": {…}}`) was no item here, and carried `content_type: "text/plain\r\nBcc:
 * …"` to the upstream unread (thirteenth round, probe fixes13x finding 4); were Resend to flatten
 * it, the header line is the agent's. A single object, a string or a `null` item is refused alike.
 */
function attachmentsDenial(attachments: unknown): Denial | undefined {
  if (attachments === undefined || attachments === null) return undefined;
  if (!Array.isArray(attachments) || !attachments.every(isPlainObject)) {
    return deny(
      'body_invalid',
      '`attachments` must be an array of attachment objects ({ "filename": …, "content": … }), or null.',
    );
  }
  for (const item of attachments) {
    const spelling = fieldSpellingDenial(item, ATTACHMENT_READ);
    if (spelling) return spelling;
    for (const field of ATTACHMENT_FIELDS) {
      const value = (item as Record<string, unknown>)[field];
      if (field === 'filename' && value === false) continue;
      if (!isHeaderText(value)) {
        return deny(
          'body_invalid',
          `An attachment's \`${field}\` must be a string without line breaks or control characters.`,
        );
      }
    }
  }
  return undefined;
}

/** A JSON object: not an array, not null. */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
