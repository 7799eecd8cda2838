import { type Denial, deny, isDenial } from '../../decision/reasons.ts';
import { parseForm } from '../form.ts';
import type { Params, ParseLimits, VendorRequest } from '../types.ts';

const FORM = /^application\/x-www-form-urlencoded\s*(?:;|$)/i;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The parameters of a Stripe call (parse stage): the form body of a POST, the query string of any
 * other method (Stripe reads GET/DELETE parameters there). A POST that also carries query parameters
 * is refused: Stripe merges both, and a `confirm=true` hidden in the query must not escape pricing.
 */
export function parseStripe(req: VendorRequest, body: Buffer, limits: ParseLimits): Params | Denial {
  if (body.length > limits.maxBytes) {
    return deny('body_too_large', `The request body exceeds ${limits.maxBytes} bytes.`);
  }
  const query = parseForm(req.query, limits);
  if (isDenial(query)) return query;
  if (req.method !== 'POST') return query;
  if (Object.keys(query).length > 0) {
    return deny(
      'body_invalid',
      'Keybrake requires the parameters of a POST in the body, not in the query string.',
    );
  }
  if (body.length === 0) return query;
  const type = req.headers['content-type'];
  if (type !== undefined && !FORM.test(type)) {
    return deny('body_invalid', 'Stripe requests must be application/x-www-form-urlencoded.');
  }
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    return deny('body_invalid', 'The request body is not valid UTF-8.');
  }
  return parseForm(text, limits);
}
