import type { UpstreamCredential } from '../snapshot/types.ts';
import {
  carriesTokenAnyCase,
  holdsTokenShape,
  holdsTokenShapeAnyCase,
  type TokenPrefixes,
} from '../tokens/redact.ts';
import { textCarriesCredential } from './credential-scan.ts';
import type { UpstreamResponse } from './upstreams.ts';

/** What vendors' request ids look like (Stripe `req_…`, Twilio `RQ…`, Resend UUIDs), with room to spare. */
const REQUEST_ID = /^[A-Za-z0-9._:+/=-]{1,128}$/;

/** The Keybrake keys a request id must not hold: the table's shapes and the credentials presented. */
export interface KeysToKeepOut {
  readonly prefixes: TokenPrefixes;
  /** What the call's Authorization presents (presentedCredentials: a brought token has no shape). */
  readonly presented: readonly string[];
}

/**
 * The vendor's request id as the audit record may hold it (DESIGN.md §7), or null. The header is the
 * vendor's to fill like the rest of its answer: one that carries the upstream credential, or that is
 * not shaped like an id (long, spaces, control characters), is never written; nor one that holds a
 * Keybrake key in any letter case, or the credential presented (eleventh round: a vendor that takes
 * the caller's X-Request-Id as its own, as Rails does after dropping the characters it does not keep,
 * rebuilt the vault token from `kb_stripe_0XWV….wr4j…`, and the record held it in plain). No vendor
 * request id looks like a key, so such an id is dropped, not recorded in part.
 */
export function recordableRequestId(
  res: UpstreamResponse,
  header: string,
  cred: UpstreamCredential,
  keys: KeysToKeepOut,
): string | null {
  const value = res.headers[header];
  const id = Array.isArray(value) ? value[0] : value;
  if (id === undefined || !REQUEST_ID.test(id)) return null;
  if (textCarriesCredential(id, cred)) return null;
  const { prefixes, presented } = keys;
  if (holdsTokenShape(id, prefixes) || holdsTokenShapeAnyCase(id, prefixes)) return null;
  return presented.some((token) => carriesTokenAnyCase(id, token)) ? null : id;
}
