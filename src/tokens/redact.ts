import { RUN_TOKEN_MARKER } from './run-token.ts';
import { fingerprint, hasValidChecksum, TOKEN_BODY_CHARS, TOKEN_CHECKSUM_CHARS } from './token.ts';

/**
 * What Keybrake writes about a request that an agent chose to carry a credential in (ADR 0007 §1:
 * no token in any log, audit record or answer): the credential's fingerprint in its place. The agent
 * can only echo credentials it holds, but whoever reads the audit stream must not be handed them.
 */

/** `text` with every occurrence of `token` replaced by its fingerprint. */
export function withoutToken(text: string, token: string): string {
  return text.includes(token) ? text.replaceAll(token, fingerprint(token)) : text;
}

// A vault token Keybrake mints: a prefix of 2 to 32 of [A-Za-z0-9_], 33 body and 6 checksum
// characters (base62 of a CRC-32 of the rest), found anywhere in a run of such characters.
const SHORTEST = 2 + TOKEN_BODY_CHARS + TOKEN_CHECKSUM_CHARS;
const LONGEST = 32 + TOKEN_BODY_CHARS + TOKEN_CHECKSUM_CHARS;
const TOKEN_RUN = new RegExp(`[A-Za-z0-9_]{${SHORTEST},}`, 'g');
// A run key: a prefix, the marker, then its base64url payload, key id and MAC.
const RUN_KEY = new RegExp(`[A-Za-z0-9_]{2,32}${RUN_TOKEN_MARKER}[A-Za-z0-9_-]{16,}`, 'g');
/**
 * Bounds on the search, which reads every candidate's checksum: longer runs, or more of them, are
 * not searched but cut short in what is recorded (and refused in a request target). No honest id,
 * cursor or run id comes near them.
 */
const MAX_RUN = 256;
const MAX_RUNS = 8;

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Whether 6 characters can be a checksum: base62 of a 32-bit number (about 1 string in 13). */
function checksumShaped(s: string): boolean {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const digit = BASE62.indexOf(s[i]!);
    if (digit < 0) return false;
    n = n * 62 + digit;
  }
  return n < 2 ** 32;
}

/** The [start, end) of each vault token inside one run of token characters, leftmost first. */
function tokensIn(run: string): [number, number][] {
  const found: [number, number][] = [];
  let from = 0;
  for (let end = SHORTEST; end <= run.length; end++) {
    if (end - from < SHORTEST || !checksumShaped(run.slice(end - TOKEN_CHECKSUM_CHARS, end))) continue;
    for (let start = Math.max(from, end - LONGEST); start <= end - SHORTEST; start++) {
      if (hasValidChecksum(run.slice(start, end))) {
        found.push([start, end]);
        from = end;
        break;
      }
    }
  }
  return found;
}

/** `text` redacted; `held` says whether anything was. */
function redact(text: string): { text: string; held: boolean } {
  let held = false;
  let out = text;
  if (out.includes(RUN_TOKEN_MARKER)) {
    out = out.replace(RUN_KEY, (k) => {
      held = true;
      return fingerprint(k);
    });
  }
  let runs = 0;
  out = out.replace(TOKEN_RUN, (run) => {
    if (++runs > MAX_RUNS || run.length > MAX_RUN) {
      held = true;
      return `${run.slice(0, 8)}…`;
    }
    let redacted = '';
    let at = 0;
    for (const [start, end] of tokensIn(run)) {
      redacted += run.slice(at, start) + fingerprint(run.slice(start, end));
      at = end;
    }
    if (at === 0) return run;
    held = true;
    return redacted + run.slice(at);
  });
  return { text: out, held };
}

/**
 * `text` (a request target, a run id) with every vault token Keybrake could have minted (its
 * checksum holds) and every run key in it replaced by its fingerprint, percent-encoded ones too
 * (the text is then given decoded). For what is recorded about a call whatever key it names: the
 * agent may paste any key it holds, not only the one it presents, and no key is known yet for a
 * call refused before authentication.
 */
export function withoutTokenShapes(text: string): string {
  return scan(text).text;
}

/** Whether `text` holds a vault token or run key, or is too long to search (see withoutTokenShapes). */
export function holdsTokenShape(text: string): boolean {
  return scan(text).held;
}

function scan(text: string): { text: string; held: boolean } {
  if (text.length < SHORTEST) return { text, held: false };
  const raw = redact(text);
  if (!text.includes('%')) return raw;
  let decoded: string;
  try {
    decoded = decodeURIComponent(text);
  } catch {
    return raw;
  }
  const clean = redact(decoded);
  return clean.held ? clean : raw;
}
