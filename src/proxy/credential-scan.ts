import type { UpstreamCredential } from '../snapshot/types.ts';
import type { UpstreamResponse } from './upstreams.ts';

/** A form in which an upstream credential could come back, as text (headers) and bytes (body). */
interface Needle {
  readonly text: string;
  readonly bytes: Buffer;
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
  // for…in rather than Object.entries: no array per call on the request path.
  for (const name in res.headers) {
    const value = res.headers[name];
    if (value === undefined) continue;
    for (const n of needles) {
      if (name.includes(n.text)) return true;
      if (typeof value === 'string' ? value.includes(n.text) : value.some((v) => v.includes(n.text))) {
        return true;
      }
    }
  }
  return false;
}
