import type { UpstreamCredential } from '../snapshot/types.ts';
import { textCarriesCredential } from './credential-scan.ts';
import type { UpstreamResponse } from './upstreams.ts';

/** What vendors' request ids look like (Stripe `req_…`, Twilio `RQ…`, Resend UUIDs), with room to spare. */
const REQUEST_ID = /^[A-Za-z0-9._:+/=-]{1,128}$/;

/**
 * The vendor's request id as the audit record may hold it (DESIGN.md §7), or null. The header is the
 * vendor's to fill like the rest of its answer: one that carries the upstream credential, or that is
 * not shaped like an id (long, spaces, control characters), is never written.
 */
export function recordableRequestId(
  res: UpstreamResponse,
  header: string,
  cred: UpstreamCredential,
): string | null {
  const value = res.headers[header];
  const id = Array.isArray(value) ? value[0] : value;
  if (id === undefined || !REQUEST_ID.test(id)) return null;
  return textCarriesCredential(id, cred) ? null : id;
}
