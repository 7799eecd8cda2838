import type { IncomingHttpHeaders } from 'node:http';
import type { UpstreamCredential } from '../../snapshot/types.ts';
import type { PresentedCredential } from '../types.ts';

const BASIC = /^Basic[ \t]+([A-Za-z0-9+/=_-]+)[ \t]*$/i;

/**
 * Reads the vault token a Twilio client presents: twilio-node sends `Basic base64(SID:secret)`, so the
 * token travels as the password and the Account SID or API key SID as the user name.
 */
export function twilioCredential(headers: IncomingHttpHeaders): PresentedCredential | undefined {
  const header = headers.authorization;
  if (typeof header !== 'string') return undefined;
  const match = BASIC.exec(header);
  if (!match) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon <= 0) return undefined;
  const username = decoded.slice(0, colon);
  const token = decoded.slice(colon + 1);
  if (token.length === 0) return undefined;
  return { token, username };
}

/**
 * The user name is never checked nor forwarded (the real one is sent upstream): whatever the caller
 * writes there, the Account or API key SID twilio-node sends or any text, it is a name, not a credential.
 */
export const TWILIO_BASIC_USER = 'name';

/** The Authorization header value sent upstream in place of the caller's. */
export function twilioUpstreamAuthorization(credential: UpstreamCredential): string {
  if (credential.kind === 'bearer') return `Bearer ${credential.token}`;
  return `Basic ${Buffer.from(`${credential.username}:${credential.password}`, 'utf8').toString('base64')}`;
}

/** The Twilio account a key may act on: the explicit account SID, else the user name (an `AC…` SID). */
export function upstreamAccountSid(credential: UpstreamCredential): string | undefined {
  if (credential.kind !== 'basic') return undefined;
  return credential.accountSid ?? credential.username;
}
