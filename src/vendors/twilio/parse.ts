import { type Denial, deny, isDenial } from '../../decision/reasons.ts';
import { bodyText, codingDenial, isContentType, isQueryMethod } from '../body.ts';
import { parseFlatForm } from '../form.ts';
import { parseJson } from '../json.ts';
import { foldName, printableName } from '../names.ts';
import type { Params, ParseLimits, VendorRequest } from '../types.ts';
import { QUERY_NAMES, twilioDeclared } from './declared.ts';
import { pathEchoDenial } from './path-echo.ts';
import { twilioReadsBody } from './uploads.ts';

/**
 * The parameters of a Twilio call (parse stage), read once and one way (ADR 0007 §2). Writes carry
 * them in the body, encoded as the operation's definition declares (form, PascalCase names as they
 * are; a few operations take JSON), never in the query string. Only the operation's declared list
 * parameters (`MediaUrl`, `StatusCallbackEvent`) may repeat, and a name differing only in case from
 * a declared one or from another name of the request (`TO`, `to` beside `To`) is refused: Keybrake
 * would not read it, Twilio might. A GET, HEAD or DELETE carries no body; its query string is
 * checked the same way (classify reads Lookup's priced fields there) and the result is `{}`. A body
 * (JSON or form) to an operation that declares none is taken only when it repeats the path, and is
 * not forwarded.
 */
export function parseTwilio(req: VendorRequest, body: Buffer, limits: ParseLimits): Params | Denial {
  // Every upload is refused by the price stage, unread and unsent: its multipart body is not judged.
  if (!twilioReadsBody(req)) return Object.create(null) as Params;
  if (body.length > limits.maxBytes) {
    return deny('body_too_large', `The request body exceeds ${limits.maxBytes} bytes.`);
  }
  const encoding = codingDenial(req.headers);
  if (encoding) return encoding;
  if (isQueryMethod(req.method.toUpperCase())) {
    const query = parseFlatForm(req.query, limits, QUERY_NAMES);
    if (isDenial(query)) return query;
    if (body.length > 0) {
      return deny('body_invalid', `A ${req.method} request to Twilio carries no body.`);
    }
    return Object.create(null) as Params;
  }
  if (req.query.length > 0) {
    return deny(
      'body_invalid',
      'Twilio parameters must be sent in the request body, not in the query string.',
    );
  }
  if (body.length === 0) return Object.create(null) as Params;
  const { body: declared, pathParameters } = twilioDeclared(req);
  forwards.set(req, { body, forwards: pathParameters === undefined });
  if (pathParameters !== undefined) return pathEcho(req, body, limits, pathParameters);
  const text = bodyText(req.headers, body, declared.type);
  if (isDenial(text)) return text;
  if (declared.type === 'form') return parseFlatForm(text, limits, declared.names);
  const value = parseJson(text, limits);
  if (isDenial(value)) return value;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return deny('body_invalid', 'This Twilio operation takes a JSON object.');
  }
  for (const key of Object.keys(value)) {
    const spelt = declared.names.declared?.get(foldName(key));
    if (spelt !== undefined && spelt !== key) {
      return deny(
        'body_invalid',
        `Key ${printableName(key)} differs only in case from ${printableName(spelt)}; spell it exactly.`,
      );
    }
  }
  return value as Params;
}

/**
 * Whether Twilio receives a body parseTwilio took: not one sent to an operation that declares none
 * (path-echo.ts), which was taken only because it repeats the path.
 */
export function twilioForwardsBody(req: VendorRequest, body: Buffer): boolean {
  if (body.length === 0) return true;
  const recorded = forwards.get(req);
  if (recorded !== undefined && recorded.body === body) return recorded.forwards;
  return twilioDeclared(req).pathParameters === undefined;
}

/**
 * What parseTwilio found when it matched a call with a body against the table: whether that body is
 * forwarded (not one that only repeats the path), so twilioForwardsBody need not match it again. The
 * body is kept to check it is the same one; a call parse did not match (an upload) is matched there.
 */
const forwards = new WeakMap<VendorRequest, { readonly body: Buffer; readonly forwards: boolean }>();

/**
 * A body sent to an operation that declares none: taken when it repeats the path, as no parameters.
 * JSON is what @twilio-alpha/mcp sends; a form is what any other client would, and Twilio would read
 * its parameters though Keybrake judged none, so it is held to the same rule (sixth round).
 */
function pathEcho(
  req: VendorRequest,
  body: Buffer,
  limits: ParseLimits,
  path: ReadonlyMap<string, string>,
): Params | Denial {
  const type = isContentType(req.headers['content-type'], 'json') ? 'json' : 'form';
  const text = bodyText(req.headers, body, type);
  if (isDenial(text)) return text;
  const value = type === 'json' ? parseJson(text, limits) : parseFlatForm(text, limits);
  if (isDenial(value)) return value;
  return pathEchoDenial(value, path) ?? (Object.create(null) as Params);
}
