import { type Denial, deny } from '../../decision/reasons.ts';
import { printableName } from '../names.ts';

/**
 * Message headers that name senders or recipients. Resend takes custom `headers` into the message;
 * whether a mail system along the way reads recipients from them (a read receipt, a bounce address, a
 * mailing list's follow-up) is not Keybrake's to know, and no allowlist reads them: refused (the `to`,
 * `cc`, `bcc`, `from` and `reply_to` fields say the same). Every `Resent-*` header too, and the read
 * and delivery receipt requests mail programs answer by mailing the address they name.
 */
const ADDRESS_HEADERS: ReadonlySet<string> = new Set([
  'to',
  'cc',
  'bcc',
  'from',
  'sender',
  'reply-to',
  'return-path',
  'errors-to',
  'apparently-to',
  'disposition-notification-to',
  'return-receipt-to',
  'mail-followup-to',
  'mail-reply-to',
  'x-confirm-reading-to',
  'read-receipt-to',
  'notice-requested-upon-delivery-to',
]);
const RESENT = 'resent-';

/**
 * A list of names cannot be complete (mail programs read headers of their own), so beyond it any
 * value with an `@`, the one character every address is written with, is refused too: except under
 * the names whose `@` is not a recipient. Those are message ids (`Message-ID`, `In-Reply-To`,
 * `References`, and any name ending in `-Id`: `X-Entity-Ref-ID`) and the RFC 2369 and 8058 list
 * headers, whose `mailto:` links the reader may follow from the reader's own mailbox.
 */
const AT = /[@\uFE6B\uFF20]/u; // and the small and full-width at signs a lenient reader might fold to it
const MESSAGE_IDS: ReadonlySet<string> = new Set(['in-reply-to', 'references']);
const ID_SUFFIX = '-id';
const LIST_HEADERS: ReadonlySet<string> = new Set([
  'list-unsubscribe',
  'list-unsubscribe-post',
  'list-subscribe',
  'list-help',
  'list-post',
  'list-owner',
  'list-archive',
]);

function mayHoldAt(lower: string): boolean {
  return lower.endsWith(ID_SUFFIX) || MESSAGE_IDS.has(lower) || LIST_HEADERS.has(lower);
}

/** An RFC 5322 field name: printable ASCII but `:`, so no blank, line break or NUL, and no `Bcc:`. */
const FIELD_NAME = /^[\x21-\x39\x3b-\x7e]+$/;
/** Control characters but tab, and Unicode line breaks: a CR or LF in a value would start a header of its own. */
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]/u;

/**
 * Whether a value written into a header line could end it and start another (CONTROL): for a custom
 * header's value here, and for the other strings Resend writes into a header (header-fields.ts).
 */
export function breaksHeaderLine(value: string): boolean {
  return CONTROL.test(value);
}

/**
 * The custom `headers` of one email object: absent, null, or an object of header names and string
 * values, none naming a sender or recipient (by its name, or by an `@` in its value) and none able to
 * start another header. Anything else is
 * refused rather than passed on for Resend to read one way and a mail system another.
 */
export function customHeadersDenial(email: Record<string, unknown>): Denial | undefined {
  const headers = email['headers'];
  if (headers === undefined || headers === null) return undefined;
  if (typeof headers !== 'object' || Array.isArray(headers)) {
    return deny('body_invalid', '`headers` must be an object of header names and values.');
  }
  for (const [name, value] of Object.entries(headers)) {
    if (!FIELD_NAME.test(name)) {
      return deny(
        'body_invalid',
        `The custom header name ${printableName(name)} is not a header name (printable ASCII without blanks or ':').`,
      );
    }
    const lower = name.toLowerCase();
    if (ADDRESS_HEADERS.has(lower) || lower.startsWith(RESENT)) {
      return deny(
        'body_invalid',
        `The custom header ${printableName(name)} names a sender or recipient; use the to, cc, bcc, from and reply_to fields.`,
      );
    }
    if (typeof value !== 'string' || breaksHeaderLine(value)) {
      return deny(
        'body_invalid',
        `The custom header ${printableName(name)} must be a string without line breaks or control characters.`,
      );
    }
    if (AT.test(value) && !mayHoldAt(lower)) {
      return deny(
        'body_invalid',
        `The custom header ${printableName(name)} has an '@' in its value: it may name an address no allowlist reads; use the to, cc, bcc, from and reply_to fields.`,
      );
    }
  }
  return undefined;
}
