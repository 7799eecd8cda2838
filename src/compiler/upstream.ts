import { type Secret, secretValue } from '../api/v1alpha1/index.ts';
import type { UpstreamCredential, VendorName } from '../snapshot/types.ts';
import { hasValidChecksum } from '../tokens/token.ts';

/** The real credential read from a Secret, or why it cannot be (never quoting a value). */
export type UpstreamResult = { ok: true; credential: UpstreamCredential } | { ok: false; message: string };

/** The fields a Twilio key's upstream credential is read from (no upstreamSecretRef.key). */
export const TWILIO_CREDENTIAL_FIELDS: ReadonlySet<string> = new Set([
  'accountSid',
  'authToken',
  'apiKeySid',
  'apiKeySecret',
]);

/**
 * Secret → the credential the proxy swaps in. Surrounding whitespace is trimmed (a Secret made with
 * `echo` ends in a newline, which would break the Authorization header).
 */
export function readUpstreamCredential(
  vendor: VendorName,
  secret: Secret,
  key: string | undefined,
): UpstreamResult {
  const ref = `Secret ${secret.metadata.namespace}/${secret.metadata.name}`;
  const field = (name: string): string | undefined => {
    const v = secretValue(secret, name)?.trim();
    return v === undefined || v === '' ? undefined : v;
  };
  /** `field "x" of Secret ns/name <why>`, when the field cannot be sent upstream as it is. */
  const unsafe = (name: string): string | undefined => {
    const value = secretValue(secret, name)?.trim() ?? '';
    const why = headerProblem(value) ?? vaultTokenProblem(value);
    return why === undefined ? undefined : `field "${name}" of ${ref} ${why}`;
  };

  if (vendor !== 'twilio') {
    if (key === undefined) return { ok: false, message: `upstreamSecretRef.key is required for ${vendor}` };
    const token = field(key);
    if (token === undefined) return { ok: false, message: `${ref} has no non-empty field "${key}"` };
    const problem = unsafe(key);
    if (problem !== undefined) return { ok: false, message: problem };
    return { ok: true, credential: { kind: 'bearer', token } };
  }

  const accountSid = field('accountSid');
  if (accountSid === undefined) {
    return {
      ok: false,
      message: `${ref} needs accountSid with authToken, or apiKeySid + apiKeySecret + accountSid`,
    };
  }
  if (!/^AC[A-Za-z0-9]+$/.test(accountSid))
    return { ok: false, message: `field "accountSid" of ${ref} must start with AC` };
  const apiKeySid = field('apiKeySid');
  if (apiKeySid !== undefined) {
    const apiKeySecret = field('apiKeySecret');
    if (apiKeySecret === undefined) return { ok: false, message: `${ref} has apiKeySid but no apiKeySecret` };
    if (!/^SK[A-Za-z0-9]+$/.test(apiKeySid))
      return { ok: false, message: `field "apiKeySid" of ${ref} must start with SK` };
    const problem = unsafe('apiKeySecret');
    if (problem !== undefined) return { ok: false, message: problem };
    return {
      ok: true,
      credential: { kind: 'basic', username: apiKeySid, password: apiKeySecret, accountSid },
    };
  }
  const authToken = field('authToken');
  if (authToken === undefined)
    return { ok: false, message: `${ref} has accountSid but no authToken (or apiKeySid + apiKeySecret)` };
  const problem = unsafe('authToken');
  if (problem !== undefined) return { ok: false, message: problem };
  return { ok: true, credential: { kind: 'basic', username: accountSid, password: authToken, accountSid } };
}

/**
 * A Keybrake token (its checksum holds) is a vault token, never a vendor's key: a key naming another
 * key's token Secret as its upstream would send that token to the vendor (seventh round), and follow
 * it through every re-mint. The chance that a vendor's key passes the checksum by accident is 62^-6.
 */
function vaultTokenProblem(value: string): string | undefined {
  return hasValidChecksum(value)
    ? "holds a Keybrake vault token, not the vendor's key: a vault token is never sent upstream (is upstreamSecretRef naming a token Secret?)"
    : undefined;
}

/**
 * Why a credential cannot be sent as it is, or undefined. Vendors' keys are printable ASCII; anything
 * else is a mistake in the Secret (bytes that are not UTF-8 read as U+FFFD), and undici refuses such a
 * header at forward time: the key looked Ready while every call was 502 upstream_unavailable.
 */
function headerProblem(value: string): string | undefined {
  if (/[\s\p{Cc}]/u.test(value)) return 'contains whitespace or control characters';
  if (/[^\x21-\x7e]/.test(value))
    return 'holds invalid upstream key bytes: header-unsafe characters (a vendor key is printable ASCII; the value may not be UTF-8 text)';
  return undefined;
}
