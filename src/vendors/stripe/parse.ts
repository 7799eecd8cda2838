import { type Denial, deny, isDenial } from '../../decision/reasons.ts';
import { bodyText, codingDenial, isQueryMethod } from '../body.ts';
import { parseForm } from '../form.ts';
import { parseJson } from '../json.ts';
import { type MultipartSpec, parseMultipart } from '../multipart.ts';
import type { Params, ParseLimits, VendorRequest } from '../types.ts';

const V2 = /^\/v2(?:\/|$)/;

/**
 * The operations whose body Stripe's definition takes only as multipart/form-data (every other v1
 * body is form-encoded): `POST /v1/files`, the upload, as of stripe-mock v0.203.0's spec3.json.
 */
const MULTIPART: ReadonlyMap<string, MultipartSpec> = new Map([
  ['POST /v1/files', { fileFields: new Set(['file']) }],
]);

/**
 * The parameters of a Stripe call (parse stage), read once and one way (ADR 0007 §2): the query string
 * of a GET, HEAD or DELETE (which must carry no body: Stripe merges body and query), the body of any
 * other method, which must then carry nothing in its query string (a `confirm=true` hidden there must
 * not escape pricing). v1 bodies are application/x-www-form-urlencoded with Rack brackets; `/v2/`
 * bodies are JSON, as stripe-node sends them; an upload (`POST /v1/files`) is multipart/form-data,
 * and only it. A name given twice is refused unless it is a list (`a[]`, `a[0]`).
 */
export function parseStripe(req: VendorRequest, body: Buffer, limits: ParseLimits): Params | Denial {
  if (body.length > limits.maxBytes) {
    return deny('body_too_large', `The request body exceeds ${limits.maxBytes} bytes.`);
  }
  const encoding = codingDenial(req.headers);
  if (encoding) return encoding;
  const query = parseForm(req.query, limits);
  if (isDenial(query)) return query;
  if (isQueryMethod(req.method)) {
    if (body.length > 0) {
      return deny(
        'body_invalid',
        `A ${req.method} request to Stripe carries its parameters in the query string, not a body.`,
      );
    }
    return query;
  }
  if (hasKeys(query)) {
    return deny(
      'body_invalid',
      `Keybrake requires the parameters of a ${req.method} in the body, not in the query string.`,
    );
  }
  if (body.length === 0) return query;
  const multipart = MULTIPART.get(`${req.method} ${req.path}`);
  if (multipart) return uploadParams(req, body, limits, multipart);
  const v2 = V2.test(req.path);
  const text = bodyText(req.headers, body, v2 ? 'json' : 'form');
  if (isDenial(text)) return text;
  if (!v2) return parseForm(text, limits);
  const value = parseJson(text, limits);
  if (isDenial(value)) return value;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return deny('body_invalid', 'A Stripe v2 request body must be a JSON object.');
  }
  return value as Params;
}

/**
 * An upload's parameters: its fields, read as a form would be; the file's bytes stay in the body that
 * is forwarded and go nowhere else. `file_link_data[create]` makes Stripe create a file link with the
 * file, which is `stripe.file_links.create` (sensitive: a public URL to the account's file, ADR 0007
 * §1): anything but an explicit `false` is refused as that operation is.
 */
function uploadParams(
  req: VendorRequest,
  body: Buffer,
  limits: ParseLimits,
  spec: MultipartSpec,
): Params | Denial {
  const form = parseMultipart(req.headers['content-type'], body, limits, spec);
  if (isDenial(form)) return form;
  const link = form.params['file_link_data'];
  if (link !== undefined) {
    const create = typeof link === 'object' && link !== null ? (link as Params)['create'] : undefined;
    if (create !== 'false') {
      return deny(
        'credential_operation',
        'Creating a file link (file_link_data) makes the file public: stripe.file_links.create is never allowed through Keybrake.',
      );
    }
  }
  return form.params;
}

function hasKeys(params: Params): boolean {
  for (const _ in params) return true;
  return false;
}
