import { type Snapshot, VENDORS } from '../snapshot/types.ts';
import { RUN_TOKEN_MARKER } from './run-token.ts';
import {
  defaultTokenPrefix,
  fingerprint,
  hasValidChecksum,
  TOKEN_BODY_CHARS,
  TOKEN_CHECKSUM_CHARS,
} from './token.ts';

/**
 * What Keybrake writes about a request that an agent chose to carry a credential in (ADR 0007 §1:
 * no token in any log, audit record or answer): the credential's fingerprint in its place. The agent
 * can only echo credentials it holds, but whoever reads the audit stream must not be handed them.
 */

/** `text` with every occurrence of `token` replaced by its fingerprint. */
export function withoutToken(text: string, token: string): string {
  return text.includes(token) ? text.replaceAll(token, fingerprint(token)) : text;
}

/** The token prefixes to look for: the vendors' defaults and every one a served key uses. */
export interface TokenPrefixes {
  readonly pattern: RegExp;
}

const DEFAULTS = VENDORS.map(defaultTokenPrefix);
const byPrefixes = new WeakMap<Snapshot, TokenPrefixes>();
const defaultsOnly = prefixesFrom(DEFAULTS);

/** The prefixes of a snapshot's keys (built once per snapshot); the defaults without one. */
export function tokenPrefixesOf(snapshot: Snapshot | undefined): TokenPrefixes {
  if (!snapshot) return defaultsOnly;
  let prefixes = byPrefixes.get(snapshot);
  if (!prefixes) {
    const custom = new Set(DEFAULTS);
    for (const key of snapshot.keys.values()) if (key.tokenPrefix !== undefined) custom.add(key.tokenPrefix);
    prefixes = custom.size === DEFAULTS.length ? defaultsOnly : prefixesFrom([...custom]);
    byPrefixes.set(snapshot, prefixes);
  }
  return prefixes;
}

function prefixesFrom(prefixes: readonly string[]): TokenPrefixes {
  // Longest first, so a prefix that holds another is tried whole.
  const sorted = [...prefixes].sort((a, b) => b.length - a.length);
  return { pattern: new RegExp(sorted.map((p) => p.replace(/[^A-Za-z0-9_]/g, '\\$&')).join('|'), 'g') };
}

const AFTER_PREFIX = TOKEN_BODY_CHARS + TOKEN_CHECKSUM_CHARS;
const TOKEN_CHARS = /^[A-Za-z0-9_]+$/;
const RUN_KEY_TAIL = /^[A-Za-z0-9_-]{16,512}/;

/**
 * Every vault token (a known prefix, then a body whose checksum holds) and run key (a known prefix,
 * `r1_`, then its payload) in `text`, each replaced by its fingerprint. One pass over the text and
 * one checksum per position a prefix is found at: the work stays linear in the text (times the
 * checked length of a key) whatever a caller sends.
 */
function redact(text: string, prefixes: TokenPrefixes): { text: string; held: boolean } {
  const { pattern } = prefixes;
  pattern.lastIndex = 0;
  let out = '';
  let at = 0;
  for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
    const start = m.index;
    const after = start + m[0].length;
    let end = -1;
    if (text.startsWith(RUN_TOKEN_MARKER, after)) {
      const tail = RUN_KEY_TAIL.exec(text.slice(after + RUN_TOKEN_MARKER.length, after + 600));
      if (tail) end = after + RUN_TOKEN_MARKER.length + tail[0].length;
    }
    if (end < 0) {
      const candidate = text.slice(start, after + AFTER_PREFIX);
      if (
        candidate.length === after + AFTER_PREFIX - start &&
        TOKEN_CHARS.test(candidate) &&
        hasValidChecksum(candidate)
      )
        end = after + AFTER_PREFIX;
    }
    // Not a key: another may start inside it (`kb_stripe_<x>` holds `stripe_<x>` when a served key
    // uses the prefix `stripe_`), so the search resumes one character on, not after the match.
    if (end < 0) {
      pattern.lastIndex = start + 1;
      continue;
    }
    out += text.slice(at, start) + fingerprint(text.slice(start, end));
    at = end;
    pattern.lastIndex = end;
  }
  return at === 0 ? { text, held: false } : { text: out + text.slice(at), held: true };
}

/** `%XX` escapes decoded byte by byte (Keybrake's keys are ASCII), twice over at most; never throws. */
function unescaped(text: string): string {
  let decoded = text;
  for (let round = 0; round < 3 && decoded.includes('%'); round++) {
    const next = decoded.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) =>
      String.fromCharCode(Number.parseInt(hex, 16)),
    );
    if (next === decoded) break;
    decoded = next;
  }
  return decoded;
}

function scan(text: string, prefixes: TokenPrefixes): { text: string; held: boolean } {
  const raw = redact(text, prefixes);
  if (!text.includes('%')) return raw;
  const clean = redact(unescaped(text), prefixes);
  return clean.held ? clean : raw;
}

/**
 * `text` (a request target, a run id) with every Keybrake key in it replaced by its fingerprint,
 * percent-encoded ones too (the text is then given decoded). For what is recorded about a call
 * whatever key it names: the agent may paste any key it holds, not only the one it presents, and no
 * key is known yet for a call refused before authentication.
 */
export function withoutTokenShapes(text: string, prefixes: TokenPrefixes): string {
  return scan(text, prefixes).text;
}

/** Whether `text` holds a Keybrake key (see withoutTokenShapes). */
export function holdsTokenShape(text: string, prefixes: TokenPrefixes): boolean {
  return scan(text, prefixes).held;
}
