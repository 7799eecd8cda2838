import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { type Denial, deny } from '../../decision/reasons.ts';
import type { CompiledKey, Snapshot } from '../../snapshot/types.ts';
import type { VendorAdapter } from '../../vendors/types.ts';

/**
 * Finds the vault key a call presents. The table holds only SHA-256 digests, so the lookup compares
 * digests, never plaintext: a Map hit reveals nothing usable about other tokens' values.
 */
export function authenticate(
  adapter: VendorAdapter,
  headers: IncomingHttpHeaders,
  snapshot: Snapshot,
  now: number,
): CompiledKey | Denial {
  const presented = adapter.credential(headers);
  if (!presented || presented.token.length < 16 || presented.token.length > 512) {
    return deny('key_unknown', 'Missing or malformed credentials for a Keybrake vault key.');
  }
  const digest = createHash('sha256').update(presented.token).digest('hex');
  const key = snapshot.keys.get(digest);
  if (!key || key.vendor !== adapter.name) return deny('key_unknown');
  if (key.suspended) return deny('key_suspended');
  if (key.expiresAt !== undefined && now >= key.expiresAt) return deny('key_expired');
  return key;
}
