import { type Denial, deny, isDenial } from '../../decision/reasons.ts';
import { bodyText, codingDenial, isQueryMethod } from '../body.ts';
import { parseFlatForm } from '../form.ts';
import { parseJson } from '../json.ts';
import { type MultipartSpec, parseMultipart } from '../multipart.ts';
import type { Params, ParseLimits, VendorRequest } from '../types.ts';
import { customHeadersDenial } from './custom-headers.ts';
import { fieldSpellingDenial } from './field-spellings.ts';
import { headerFieldsDenial } from './header-fields.ts';

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
 * `{ $items: [...] }`, and an object holding `$items` itself is refused; scalars are refused. A write carries nothing in its query string; the query
 * of a GET, HEAD or DELETE repeats no name.
 */
export function parseResend(req: VendorRequest, body: Buffer, limits: ParseLimits): Params | Denial {
  if (body.length > limits.maxBytes) return deny('body_too_large');
  const encoding = codingDenial(req.headers);
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
    const problem = fieldSpellingDenial(object) ?? headerLines(object);
    if (problem) return problem;
  }
  if (Array.isArray(value)) return { [ITEMS]: value };
  if (typeof value === 'object' && value !== null) {
    // The wrapper's own name, sent on the wire: an object holding it would read as a batch (its
    // `$items` priced and checked, its other fields unread), and as a body classify refuses as an
    // array. Resend's definition names no such field (twelfth round).
    if (Object.hasOwn(value, ITEMS)) {
      return deny(
        'body_invalid',
        `The request body must not hold a field named ${ITEMS}: send a batch as a JSON array.`,
      );
    }
    return value as Params;
  }
  return deny('body_invalid', 'The request body must be a JSON object or array.');
}

/**
 * What an email object writes into its mail's header lines: its custom `headers`
 * (custom-headers.ts), `reply_to`, `subject`, `from_name` and attachment names (header-fields.ts).
 * Other values are not email objects.
 */
function headerLines(object: unknown): Denial | undefined {
  if (typeof object !== 'object' || object === null || Array.isArray(object)) return undefined;
  const email = object as Record<string, unknown>;
  return customHeadersDenial(email) ?? headerFieldsDenial(email);
}
