import { type Denial, deny, isDenial } from '../../decision/reasons.ts';
import { bodyText, contentEncodingDenial, isQueryMethod } from '../body.ts';
import { parseFlatForm } from '../form.ts';
import { parseJson } from '../json.ts';
import { type MultipartSpec, parseMultipart } from '../multipart.ts';
import { printableName } from '../names.ts';
import type { Params, ParseLimits, VendorRequest } from '../types.ts';

/** Where a top-level JSON array lands in Params (Params is an object; `/emails/batch` posts an array). */
export const ITEMS = '$items';

/**
 * The one operation resend-node sends as multipart/form-data: a contact import (a CSV `file`, and
 * `column_map`, `on_conflict`, `segments`, `topics` as JSON text fields). Its contacts are added by
 * Resend after it answers, so no lease can cover them (docs/vendors/resend.md).
 */
const MULTIPART: ReadonlyMap<string, MultipartSpec> = new Map([
  ['POST /contacts/imports', { fileFields: new Set(['file']) }],
]);

/**
 * Decodes a Resend call (parse stage), read once and one way (ADR 0007 §2): an application/json body
 * (charset utf-8 or none) whose objects repeat no key, exactly or ignoring case, within the depth
 * and size limits. An empty body is `{}` (reads, deletes). A top-level array is wrapped as
 * `{ $items: [...] }`; scalars are refused. A write carries nothing in its query string; the query
 * of a GET, HEAD or DELETE repeats no name.
 */
export function parseResend(req: VendorRequest, body: Buffer, limits: ParseLimits): Params | Denial {
  if (body.length > limits.maxBytes) return deny('body_too_large');
  const encoding = contentEncodingDenial(req.headers);
  if (encoding) return encoding;
  if (isQueryMethod(req.method.toUpperCase())) {
    const query = parseFlatForm(req.query, limits);
    if (isDenial(query)) return query;
  } else if (req.query.length > 0) {
    return deny(
      'body_invalid',
      'Resend parameters of a write must be sent in the JSON body, not in the query string.',
    );
  }
  if (body.length === 0) return {};
  const multipart = MULTIPART.get(`${req.method.toUpperCase()} ${req.path}`);
  if (multipart) {
    const form = parseMultipart(req.headers['content-type'], body, limits, multipart);
    return isDenial(form) ? form : form.params;
  }
  const text = bodyText(req.headers, body, 'json');
  if (isDenial(text)) return text;
  const value = parseJson(text, limits);
  if (isDenial(value)) return value;
  const objects = Array.isArray(value) ? value : [value];
  for (const object of objects) {
    const problem = partyCaseVariant(object) ?? addressHeader(object);
    if (problem) return problem;
  }
  if (Array.isArray(value)) return { [ITEMS]: value };
  if (typeof value === 'object' && value !== null) return value as Params;
  return deny('body_invalid', 'The request body must be a JSON object or array.');
}

/** The address fields the allowlists read, and `headers` (checked for address headers), in the only spelling Resend declares. */
const PARTY_FIELDS: ReadonlySet<string> = new Set(['to', 'cc', 'bcc', 'from', 'reply_to', 'headers']);

/**
 * Message headers that name senders or recipients. Resend takes custom `headers` into the message;
 * whether a mail system along the way reads recipients from them is not Keybrake's to know, and no
 * allowlist reads them: refused (the `to`, `cc`, `bcc`, `from` and `reply_to` fields say the same).
 */
const ADDRESS_HEADERS: ReadonlySet<string> = new Set([
  'to',
  'cc',
  'bcc',
  'from',
  'sender',
  'reply-to',
  'return-path',
  'resent-to',
  'resent-cc',
  'resent-bcc',
  'resent-from',
  'resent-sender',
]);

function addressHeader(object: unknown): Denial | undefined {
  if (typeof object !== 'object' || object === null || Array.isArray(object)) return undefined;
  const headers = (object as Record<string, unknown>)['headers'];
  if (typeof headers !== 'object' || headers === null) return undefined;
  for (const name of Object.keys(headers)) {
    if (ADDRESS_HEADERS.has(name.trim().toLowerCase())) {
      return deny(
        'body_invalid',
        `The custom header ${printableName(name)} names a sender or recipient; use the to, cc, bcc, from and reply_to fields.`,
      );
    }
  }
  return undefined;
}

/**
 * `{"To": …}` or `{"BCC": […]}`: Keybrake reads only `to` and `bcc`, so a case variant would name a
 * recipient no allowlist sees, if Resend read names regardless of case. One reading (ADR 0007 §2):
 * refused, wherever an email object stands (the body, or an element of a batch).
 */
function partyCaseVariant(object: unknown): Denial | undefined {
  if (typeof object !== 'object' || object === null || Array.isArray(object)) return undefined;
  for (const name of Object.keys(object)) {
    const lower = name.toLowerCase();
    if (lower !== name && PARTY_FIELDS.has(lower)) {
      return deny('body_invalid', `Resend field names are lower case: send \`${lower}\`, not \`${name}\`.`);
    }
  }
  return undefined;
}
