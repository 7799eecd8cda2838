import { type Denial, deny, isDenial } from '../../decision/reasons.ts';
import { bodyText, contentEncodingDenial, isQueryMethod } from '../body.ts';
import { parseForm } from '../form.ts';
import { parseJson } from '../json.ts';
import type { Params, ParseLimits, VendorRequest } from '../types.ts';

const V2 = /^\/v2(?:\/|$)/;

/**
 * The parameters of a Stripe call (parse stage), read once and one way (ADR 0007 §2): the query string
 * of a GET, HEAD or DELETE (which must carry no body: Stripe merges body and query), the body of any
 * other method, which must then carry nothing in its query string (a `confirm=true` hidden there must
 * not escape pricing). v1 bodies are application/x-www-form-urlencoded with Rack brackets; `/v2/`
 * bodies are JSON, as stripe-node sends them. A name given twice is refused unless it is a list
 * (`a[]`, `a[0]`).
 */
export function parseStripe(req: VendorRequest, body: Buffer, limits: ParseLimits): Params | Denial {
  if (body.length > limits.maxBytes) {
    return deny('body_too_large', `The request body exceeds ${limits.maxBytes} bytes.`);
  }
  const encoding = contentEncodingDenial(req.headers);
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

function hasKeys(params: Params): boolean {
  for (const _ in params) return true;
  return false;
}
