import type { UpstreamCredential } from '../snapshot/types.ts';
import type { UpstreamResponse } from './upstreams.ts';

/** A form in which an upstream credential could come back, as text (headers) and bytes (body). */
interface Needle {
  readonly text: string;
  readonly bytes: Buffer;
}

const UNICODE_ESCAPE = Buffer.from('\\u');

/**
 * Whether Keybrake can read the answer's body to scan it: not when it is content-encoded (gzip, br…).
 * Keybrake asks for none (Accept-Encoding is not forwarded), so such an answer is unexpected, and
 * one that cannot be scanned is withheld, like one that carries the credential (fail closed).
 */
export function encodedBody(res: UpstreamResponse): string | undefined {
  const encoding = res.headers['content-encoding'];
  if (encoding === undefined) return undefined;
  const value = (typeof encoding === 'string' ? encoding : encoding.join(',')).trim().toLowerCase();
  return value === '' || value === 'identity' ? undefined : value;
}

/** Shorter strings would match by chance; every real vendor secret is far longer. */
const MIN_SECRET_LENGTH = 8;

/** Per credential object: a snapshot swap brings new objects, and the old entries go with them. */
const NEEDLES = new WeakMap<UpstreamCredential, readonly Needle[]>();

/**
 * The secret parts of a key's upstream credential: a bearer token (Stripe, Resend); a Basic password
 * (Twilio auth token or API key secret) and the base64 of `user:password` as it travels in the
 * Authorization header. Never the user part: account and API key SIDs are identifiers that vendor
 * answers carry all the time.
 */
export function credentialNeedles(cred: UpstreamCredential): readonly Needle[] {
  let needles = NEEDLES.get(cred);
  if (!needles) {
    const secrets =
      cred.kind === 'bearer'
        ? [cred.token]
        : [cred.password, Buffer.from(`${cred.username}:${cred.password}`).toString('base64')];
    needles = secrets
      .filter((s) => s.length >= MIN_SECRET_LENGTH)
      .map((text) => ({ text, bytes: Buffer.from(text) }));
    NEEDLES.set(cred, needles);
  }
  return needles;
}

/**
 * Whether a vendor answer carries the upstream credential, in its head or its body (ADR 0007 §1,
 * defence in depth): one `Buffer.indexOf` per secret over the body, no string conversion of it.
 */
export function carriesCredential(res: UpstreamResponse, cred: UpstreamCredential): boolean {
  const needles = credentialNeedles(cred);
  for (const n of needles) if (res.body.indexOf(n.bytes) !== -1) return true;
  // JSON may spell any character as \uXXXX, and JSON.parse in the client turns it back: read the
  // body once more with those escapes decoded. Vendor answers rarely hold one, so this is rare work.
  if (res.body.indexOf(UNICODE_ESCAPE) !== -1) {
    const text = res.body
      .toString('utf8')
      .replace(/\\u([0-9a-fA-F]{4})/g, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
    for (const n of needles) if (text.includes(n.text)) return true;
  }
  // for…in rather than Object.entries: no array per call on the request path.
  for (const name in res.headers) {
    const value = res.headers[name];
    if (value === undefined) continue;
    if (textCarriesCredential(name, cred)) return true;
    if (typeof value === 'string') {
      if (textCarriesCredential(value, cred)) return true;
    } else if (value.some((v) => textCarriesCredential(v, cred))) return true;
  }
  return false;
}

/** Whether one piece of an answer's head (a header name or value, a request id) carries the credential. */
export function textCarriesCredential(text: string, cred: UpstreamCredential): boolean {
  for (const n of credentialNeedles(cred)) if (text.includes(n.text)) return true;
  return false;
}
