import { type Denial, deny, isDenial } from '../../decision/reasons.ts';
import { withheldHeadUrls } from '../answer-head.ts';
import { endOfLiteral, skipSpace } from '../json-text.ts';
import { type AnswerHead, type Operation, WITHHELD } from '../types.ts';
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
 *   - A customer portal configuration's `login_page.url` (twelfth round): a shareable page where
 *     whoever controls a customer's email logs in to that customer's portal.
 *   - A v2 meter event session's `authentication_token` (by name, twelfth round): it sends usage for
 *     any customer on Stripe's meter event stream without the secret key.
 *   - The `url` of a file link: a public download of the merchant's file, with no key (creating one
 *     is `sensitive`; reading one that exists is not).
 *   - The `url` and `after_expiration.recovery.url` of a Checkout Session that names a customer (or
 *     may: see `namesCustomer`): whoever opens it pays with the customer's saved card, outside every
 *     cap. Kept in the answer to its own create alone, which was priced (checkout.ts).
 *   - An invoice's `hosted_invoice_url` and `invoice_pdf` (whose footer may carry the same link): the
 *     hosted page pays the invoice, and may offer the customer's default payment method.
 *   - A payment or setup intent's `next_action.verify_with_microdeposits.hosted_verification_url`:
 *     Stripe's hosted page where the micro-deposit amounts or descriptor code complete the
 *     verification (for a payment intent it starts the debit) outside Keybrake, which reads and may
 *     refuse that verification made through the API (classify.ts, tenth round). Found by an
 *     adversarial probe (tenth round): a plain read of another customer's intent handed it out.
 *   - The user name and password of a URL (a webhook endpoint's `url`), as for every vendor
 *     (url-userinfo.ts).
 */

/** Whether a field's string value is withheld wherever it stands: by name, so a new field is covered. */
function isWithheldField(name: string): boolean {
  return WITHHELD_NAME.test(name) || WITHHELD_NAMES.has(name);
}

/**
 * Names withheld wherever they stand besides the pattern: a Klarna source's `client_token`, an
 * invoice's hosted page and PDF, and an intent's hosted micro-deposit verification page (no other
 * object of Stripe's definition uses these names; by name, so an event's `previous_attributes`, an
 * expanded `latest_invoice` or `payment_intent` are covered too).
 */
const WITHHELD_NAMES: ReadonlySet<string> = new Set([
  'client_token',
  'hosted_invoice_url',
  'invoice_pdf',
  'hosted_verification_url',
]);

/**
 * `secret`, `password`, `authentication_token`, and any name ending in `_secret`, `_password` or
 * `_authentication_token`. An authentication token is a credential of its own (twelfth round, reveals
 * probe): a v2 meter event session's `authentication_token` sends usage on Stripe's meter event
 * stream for any customer, without the secret key, so outside Keybrake (creating one is refused,
 * v2-sensitive.ts; withheld wherever it stands besides). Not every `*_token`: `bank_account_token`
 * and `cvc_token` are consumed only by a call made with the secret key, so through Keybrake.
 */
const WITHHELD_NAME = /(^|_)(secret|password|authentication_token)$/;

/** The shape of a Stripe client secret inside any text: `…_secret_` and a letter or digit. */
const CLIENT_SECRET = /_secret_[A-Za-z0-9]/;

/**
 * Objects whose `url` is a capability whoever holds it uses, wherever the object comes from. A file
 * link's is a public download (tenth round). Account and login links are never created through
 * Keybrake (`sensitive`), and no read or event answers them. A Checkout Session's is one when it
 * names a customer (`namesCustomer`).
 */
const ONE_TIME_URL_OBJECTS: ReadonlySet<unknown> = new Set([
  'identity.verification_session',
  'billing_portal.session',
  'file_link',
]);

const CHECKOUT_SESSION = 'checkout.session';

/**
 * A customer portal configuration's `login_page.url` (twelfth round, reveals probe): "a shareable URL
 * to the hosted portal login page", where whoever controls a customer's email logs in to that
 * customer's portal, as with a portal session's url. The page is turned on only outside Keybrake
 * (portal-access.ts refuses it), but a merchant's configuration read or listed handed it over.
 */
const PORTAL_CONFIGURATION = 'billing_portal.configuration';

/** Bytes without which an answer holds nothing to withhold: no parse for most answers. */
const HINTS = [
  Buffer.from('secret'),
  Buffer.from('password'),
  Buffer.from('authentication_token'),
  Buffer.from('client_token'),
  Buffer.from('hosted_invoice_url'),
  Buffer.from('invoice_pdf'),
  Buffer.from('hosted_verification_url'),
  Buffer.from(CHECKOUT_SESSION),
  Buffer.from(PORTAL_CONFIGURATION),
  ...[...ONE_TIME_URL_OBJECTS].map((name) => Buffer.from(name as string)),
];

const QUOTED_MARKER = JSON.stringify(WITHHELD);

/**
 * The body of a Stripe answer as the agent gets it: the same Buffer when it holds nothing to
 * withhold, else a copy with each withheld string value and URL userinfo replaced by `WITHHELD`
 * (every other byte as Stripe sent it). An answer that is not JSON but carries a client secret is
 * withheld whole (fail closed, like one Keybrake cannot scan for the credential).
 */
export function withholdFromStripeAnswer(body: Buffer, op?: Operation | null): Buffer | Denial {
  const withheld = withholdSecrets(body, op?.id === CHECKOUT_CREATE);
  return isDenial(withheld) ? withheld : withholdUrlUserinfo(withheld);
}

/**
 * The head of a Stripe answer as the agent gets it (sixteenth round, answer-head.ts): a URL in a header
 * keeps its path only on `api.stripe.com`, which answers nothing without the secret key. Stripe's
 * other hosts serve the capabilities the body rules withhold by field (a Checkout Session's
 * `checkout.stripe.com` page, an invoice's `invoice.stripe.com`, a file link's `files.stripe.com`
 * download), and a header names no field. Stripe's API sends no URL in a header that an agent needs.
 * A client secret a header still holds after that (in a path or query on `api.stripe.com`, or in no
 * URL at all) withholds the answer whole, as one in a body that is not JSON does.
 */
export function withholdFromStripeHead(head: AnswerHead, sent: AnswerHead = {}): AnswerHead | Denial {
  const withheld = withheldHeadUrls(head, isStripeApiHost);
  if (isDenial(withheld)) return withheld;
  for (const name in withheld) {
    const value = withheld[name];
    if (value === undefined) continue;
    const secret = (v: string) => CLIENT_SECRET.test(v) && !echoes(sent[name], v);
    if (typeof value === 'string' ? secret(value) : value.some(secret)) return SECRET_IN_HEAD;
  }
  return withheld;
}

/**
 * Whether `value` is exactly what the agent sent in the header of the same name (sixteenth round, probe
 * fixes16b finding 3): Stripe echoes the agent's `Idempotency-Key` in its answer, and an agent's key
 * such as `order_secret_42` has a client secret's shape. Read as one, every answer to a call that took
 * effect, and every idempotent retry of it, was withheld (the agent's recovery, a new key, charges
 * again). A value the agent sent tells it nothing it did not know, whatever its shape; any other value,
 * in any header, is still read for a client secret (a different one, or one beside the echo, is not the
 * agent's).
 */
function echoes(sentValue: string | string[] | undefined, value: string): boolean {
  return typeof sentValue === 'string' ? sentValue === value : (sentValue?.includes(value) ?? false);
}

function isStripeApiHost(host: string): boolean {
  return host === 'api.stripe.com';
}

const SECRET_IN_HEAD = deny(
  'credential_in_response',
  "The stripe API's answer carried a client secret in a header, so Keybrake withheld the answer. The call may have taken effect.",
);

/**
 * The operation whose answer keeps its Checkout Session's url: the session it creates, priced by what
 * it charges when it names a customer (checkout.ts, ADR 0007 third round), is what the agent asked
 * for. Any other answer (a read, a list, an event, the update, a free write) may show a session the
 * merchant's storefront created with the real key, which Keybrake never priced.
 */
const CHECKOUT_CREATE = 'stripe.checkout.sessions.create';

/**
 * The body with the secrets Stripe names withheld: by field name, client secrets by shape, and the
 * `url` of a capability (`capabilityUrls`). `ownCheckout`: the answer is to a Checkout Session's
 * create, whose root session keeps its url.
 */
function withholdSecrets(body: Buffer, ownCheckout: boolean): Buffer | Denial {
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
  const rewritten = withheldJson(text, oneTimeUrls(parsed, ownCheckout));
  return rewritten === text ? body : Buffer.from(rewritten, 'utf8');
}

/**
 * The capability urls of every object in `root`, at any depth (a list, an expansion, an event's
 * `data.object`), and the ones an event about such an object shows in `data.previous_attributes`
 * (the same object's, without its `object`). `ownCheckout`: a Checkout Session at the root keeps its
 * urls (the answer to its create). An explicit stack: an answer nested deeper than the call stack is
 * walked too.
 */
function oneTimeUrls(root: unknown, ownCheckout: boolean): ReadonlySet<string> {
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
    const kept = ownCheckout && node === root && fields['object'] === CHECKOUT_SESSION;
    if (!kept && isCapability(fields)) addUrls(urls, fields);
    if (fields['object'] === PORTAL_CONFIGURATION) addLoginUrl(urls, fields);
    const data = fields['object'] === 'event' ? asRecord(fields['data']) : undefined;
    const about = asRecord(data?.['object']);
    const previous = asRecord(data?.['previous_attributes']);
    if (about && previous && isCapability(about)) addUrls(urls, previous);
    if (previous && about?.['object'] === PORTAL_CONFIGURATION) addLoginUrl(urls, previous);
    for (const name in fields) stack.push(fields[name]);
  }
  return urls;
}

/** Whether an object's urls (`url`, a Checkout Session's recovery url) are capabilities. */
function isCapability(fields: Record<string, unknown>): boolean {
  const kind = fields['object'];
  return ONE_TIME_URL_OBJECTS.has(kind) || (kind === CHECKOUT_SESSION && namesCustomer(fields));
}

/**
 * Whether a Checkout Session shows a customer's saved payment methods: it names a `customer` (an id
 * or an expanded object) or a `customer_account`. Fail closed: only a session that says it has none
 * (`customer` present and null, `customer_account` null or absent, as before v2 accounts) does not;
 * its payer pays with a card of their own, as through a Payment Link.
 */
function namesCustomer(session: Record<string, unknown>): boolean {
  const account = session['customer_account'];
  return (
    !('customer' in session) || session['customer'] !== null || (account !== undefined && account !== null)
  );
}

/** `url`, and `after_expiration.recovery.url` (a Checkout Session's: a copy of it per click). */
function addUrls(urls: Set<string>, fields: Record<string, unknown>): void {
  addUrl(urls, fields['url']);
  addUrl(urls, asRecord(asRecord(fields['after_expiration'])?.['recovery'])?.['url']);
}

/** A portal configuration's `login_page.url` (or its earlier value in `previous_attributes`). */
function addLoginUrl(urls: Set<string>, fields: Record<string, unknown>): void {
  addUrl(urls, asRecord(fields['login_page'])?.['url']);
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
