import { type Denial, deny, isDenial } from '../../decision/reasons.ts';
import { WITHHELD } from '../types.ts';
import { withholdUrlUserinfo } from '../url-userinfo.ts';

/**
 * What of Stripe's answers the agent does not receive (the withhold stage, after settle): values that
 * are no credential of the key but act as one outside Keybrake (ADR 0007 §1, docs/vendors/stripe.md).
 *   - Client secrets (`pi_…_secret_…`, `seti_…`, a Checkout Session's, an invoice's
 *     `confirmation_secret`): with one and the merchant's public publishable key, a browser confirms a
 *     payment intent, charging a saved card, without the call passing through Keybrake. A server-side
 *     agent never needs one.
 *   - Passwords (a Terminal configuration's Wi-Fi `password`, its TLS `private_key_file_password`): a
 *     secret of the merchant's network.
 *   - Other secrets by name: `secret` (a webhook endpoint's signing secret: it forges events to the
 *     merchant's server), and a Klarna source's `client_token` (it runs the Klarna payment session in a
 *     browser). Every field named `secret` or `password` or ending in `_secret` or `_password` in
 *     Stripe's definition is one of these; the other `*_token` fields (`bank_account_token`,
 *     `cvc_token`) are tokens only a call with the secret key consumes, so through Keybrake.
 *   - The `url` of an Identity verification session and of a customer portal session: the redirect
 *     form of the session's secret (Stripe: a short-lived URL to expose to no one but the user). With
 *     a pending verification session's url an agent submits its own documents for the merchant's user.
 *   - The user name and password of a URL (a webhook endpoint's `url`), as for every vendor
 *     (url-userinfo.ts).
 */

/** Whether a field's string value is withheld wherever it stands: by name, so a new field is covered. */
function isWithheldField(name: string): boolean {
  return WITHHELD_NAME.test(name) || name === 'client_token';
}

/** `secret`, `password`, and any name ending in `_secret` or `_password`. */
const WITHHELD_NAME = /(^|_)(secret|password)$/;

/** The shape of a Stripe client secret inside any text: `…_secret_` and a letter or digit. */
const CLIENT_SECRET = /_secret_[A-Za-z0-9]/;

/**
 * Objects whose `url` is a one-time capability. A Checkout Session's is not: what it pays is priced
 * when it is created (ADR 0007 §1, third round). Account and login links are never created through
 * Keybrake (`sensitive`), and no read or event answers them.
 */
const ONE_TIME_URL_OBJECTS: ReadonlySet<unknown> = new Set([
  'identity.verification_session',
  'billing_portal.session',
]);

/** Bytes without which an answer holds nothing to withhold: no parse for most answers. */
const HINTS = [
  Buffer.from('secret'),
  Buffer.from('password'),
  Buffer.from('client_token'),
  ...[...ONE_TIME_URL_OBJECTS].map((name) => Buffer.from(name as string)),
];

const QUOTED_MARKER = JSON.stringify(WITHHELD);

/**
 * The body of a Stripe answer as the agent gets it: the same Buffer when it holds nothing to
 * withhold, else a copy with each withheld string value and URL userinfo replaced by `WITHHELD`
 * (every other byte as Stripe sent it). An answer that is not JSON but carries a client secret is
 * withheld whole (fail closed, like one Keybrake cannot scan for the credential).
 */
export function withholdFromStripeAnswer(body: Buffer): Buffer | Denial {
  const withheld = withholdSecrets(body);
  return isDenial(withheld) ? withheld : withholdUrlUserinfo(withheld);
}

/**
 * The body with the secrets Stripe names withheld: by field name, client secrets by shape, and the
 * `url` of a one-time capability (`ONE_TIME_URL_OBJECTS`).
 */
function withholdSecrets(body: Buffer): Buffer | Denial {
  if (!HINTS.some((hint) => body.includes(hint))) return body;
  const text = body.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    if (!CLIENT_SECRET.test(text)) return body;
    return deny(
      'credential_in_response',
      "The stripe API's answer carried a client secret that Keybrake could not take out of it, so it withheld the answer. The call may have taken effect.",
    );
  }
  const rewritten = withheldJson(text, oneTimeUrls(parsed));
  return rewritten === text ? body : Buffer.from(rewritten, 'utf8');
}

/**
 * The `url` of every object in `root`, at any depth (a list, an expansion, an event's `data.object`),
 * that is a one-time capability, and the one an event about such an object shows in
 * `data.previous_attributes` (the same session's, without its `object`). An explicit stack: an
 * answer nested deeper than the call stack is walked too.
 */
function oneTimeUrls(root: unknown): ReadonlySet<string> {
  const urls = new Set<string>();
  const stack = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node !== 'object' || node === null) continue;
    if (Array.isArray(node)) {
      for (const item of node) stack.push(item);
      continue;
    }
    const fields = node as Record<string, unknown>;
    if (ONE_TIME_URL_OBJECTS.has(fields['object'])) addUrl(urls, fields['url']);
    const data = fields['object'] === 'event' ? asRecord(fields['data']) : undefined;
    if (data && ONE_TIME_URL_OBJECTS.has(asRecord(data['object'])?.['object']))
      addUrl(urls, asRecord(data['previous_attributes'])?.['url']);
    for (const name in fields) stack.push(fields[name]);
  }
  return urls;
}

function addUrl(urls: Set<string>, url: unknown): void {
  if (typeof url === 'string') urls.add(url);
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
}

/**
 * Valid JSON text with the withheld string values replaced: withheld fields by name, client
 * secrets by shape, and the `url` fields holding one of `urls`. It walks the string literals only: a
 * literal followed by `:` is a key, one preceded by `:` the value of the last key; numbers and
 * layout are never re-serialised (a re-serialised number may lose digits).
 */
function withheldJson(text: string, urls: ReadonlySet<string>): string {
  let out = '';
  let copied = 0;
  let key = '';
  for (let start = text.indexOf('"'); start !== -1; ) {
    const end = endOfLiteral(text, start);
    const value = JSON.parse(text.slice(start, end)) as string;
    if (text[skipSpace(text, end, 1)] === ':') key = value;
    else {
      const ofKey = text[skipSpace(text, start - 1, -1)] === ':';
      const withheldValue = isWithheldField(key) || (key === 'url' && urls.has(value));
      if ((ofKey && withheldValue) || CLIENT_SECRET.test(value)) {
        out += text.slice(copied, start) + QUOTED_MARKER;
        copied = end;
      }
    }
    start = text.indexOf('"', end);
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/** The index of the first character from `at` (walking by `step`) that is not JSON whitespace. */
function skipSpace(text: string, at: number, step: 1 | -1): number {
  let i = at;
  while (i >= 0 && i < text.length && JSON_SPACE.has(text[i]!)) i += step;
  return i;
}

const JSON_SPACE: ReadonlySet<string> = new Set([' ', '\t', '\n', '\r']);

/** The index just past the closing quote of the string literal that opens at `start`. */
function endOfLiteral(text: string, start: number): number {
  let i = start + 1;
  while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
  return i + 1;
}
