import { looksLikeRunToken } from './run-token.ts';
import { fingerprint, hasValidChecksum } from './token.ts';

/**
 * What Keybrake writes about a request that an agent chose to carry a credential in (ADR 0007 §1:
 * no token in any log, audit record or answer): the credential's fingerprint in its place. The agent
 * can only echo credentials it holds, but whoever reads the audit stream must not be handed them.
 */

/** `text` with every occurrence of `token` replaced by its fingerprint. */
export function withoutToken(text: string, token: string): string {
  return text.includes(token) ? text.replaceAll(token, fingerprint(token)) : text;
}

// The shortest vault token: a 2-character prefix, 33 body and 6 checksum characters.
const SHORTEST_TOKEN = 41;

/**
 * `path` with every segment shaped like a vault token (its checksum holds) or a run key replaced by
 * its fingerprint: for paths no vendor or key was found for, where the presented credential is not
 * known.
 */
export function withoutTokenShapes(path: string): string {
  if (path.length < SHORTEST_TOKEN) return path;
  return path
    .split('/')
    .map((s) =>
      s.length >= SHORTEST_TOKEN && (hasValidChecksum(s) || looksLikeRunToken(s)) ? fingerprint(s) : s,
    )
    .join('/');
}
