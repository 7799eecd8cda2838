import type { IncomingHttpHeaders } from 'node:http';
import type { UpstreamCredential } from '../../snapshot/types.ts';
import type { PresentedCredential } from '../types.ts';

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;
const BASIC = /^Basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i;
// Printable ASCII without spaces: what Stripe keys and Keybrake vault tokens are made of.
const TOKEN = /^[\x21-\x7e]{1,512}$/;

/**
 * Reads the vault token a Stripe client presents (authenticate stage): stripe-node sends
 * `Authorization: Bearer <key>`; curl and Stripe's own docs use `-u <key>:`, i.e. Basic auth with the
 * key as the user name and an empty password. Anything else is malformed: undefined.
 */
export function stripeCredential(headers: IncomingHttpHeaders): PresentedCredential | undefined {
  const header = headers.authorization;
  if (typeof header !== 'string') return undefined;
  const bearer = BEARER.exec(header);
  if (bearer) return TOKEN.test(bearer[1]!) ? { token: bearer[1]! } : undefined;
  const basic = BASIC.exec(header);
  if (!basic) return undefined;
  const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return undefined;
  const user = decoded.slice(0, colon);
  // A password would be ignored by Stripe; refusing it keeps one meaning per header.
  if (decoded.length !== colon + 1 || !TOKEN.test(user)) return undefined;
  return { token: user };
}

/** The Authorization header sent upstream in place of the caller's: the real key as a Bearer token. */
export function stripeUpstreamAuthorization(credential: UpstreamCredential): string {
  if (credential.kind === 'bearer') return `Bearer ${credential.token}`;
  return `Basic ${Buffer.from(`${credential.username}:${credential.password}`, 'utf8').toString('base64')}`;
}
