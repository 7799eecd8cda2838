import type { IncomingHttpHeaders } from 'node:http';
import type { UpstreamCredential } from '../../snapshot/types.ts';
import type { PresentedCredential } from '../types.ts';

const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/** Reads the vault token from `Authorization: Bearer <token>` (what resend-node sends). */
export function resendCredential(headers: IncomingHttpHeaders): PresentedCredential | undefined {
  const header = headers.authorization;
  if (typeof header !== 'string') return undefined;
  const match = BEARER.exec(header);
  return match ? { token: match[1]! } : undefined;
}

/** The Authorization header value sent upstream in place of the caller's. */
export function resendUpstreamAuthorization(credential: UpstreamCredential): string {
  if (credential.kind === 'bearer') return `Bearer ${credential.token}`;
  return `Basic ${Buffer.from(`${credential.username}:${credential.password}`, 'utf8').toString('base64')}`;
}
