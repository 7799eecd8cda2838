import { type PresentKinds, tokenKindsOf } from '../snapshot/token-kinds.ts';
import { type Snapshot, VENDORS } from '../snapshot/types.ts';
import { type BroughtTails, type BroughtTokens, broughtSpans, broughtTailsOf } from './brought.ts';
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

/**
 * `text` with every occurrence of `token` replaced by its fingerprint; percent-encoded ones too (up
 * to three times over, as `carriesToken` finds them: the text is then given decoded).
 */
export function withoutToken(text: string, token: string): string {
  if (text.includes(token)) return text.replaceAll(token, fingerprint(token));
  const decoded = decodedCarrying(text, token);
  return decoded === undefined ? text : decoded.replaceAll(token, fingerprint(token));
}

/**
 * Whether `text` (a request target, a run id) carries `token`, as it is or percent-encoded up to
 * three times over: a server further along may decode as often as it likes (a probe had the token
 * sent encoded twice, forwarded, and recorded).
 */
export function carriesToken(text: string, token: string): boolean {
  return text.includes(token) || decodedCarrying(text, token) !== undefined;
}

/** `text` decoded (bytes as Latin-1, or as UTF-8 for a token that is not ASCII) if it then holds `token`. */
function decodedCarrying(text: string, token: string): string | undefined {
  if (!text.includes('%')) return undefined;
  const bytes = unescaped(text);
  if (bytes.includes(token)) return bytes;
  const utf8 = Buffer.from(bytes, 'latin1').toString('utf8');
  return utf8.includes(token) ? utf8 : undefined;
}

/** Shorter credentials are no key (key_unknown), and would match ordinary text by chance. */
const MIN_PRESENTED_LENGTH = 16;
const TWILIO_SID = /^(?:AC|SK)[0-9a-f]{32}$/;
const BASE64 = /^[A-Za-z0-9+/=_-]+$/;

/**
 * What a Basic user name is: `credential` where it may carry the key (Stripe's `-u <key>:`, and
 * wherever the vendor is not known yet), `name` where the vendor reads only the password (Twilio).
 */
export type BasicUser = 'credential' | 'name';

/**
 * The credentials `Authorization` presents, whatever the scheme (`Bearer`, `Token`, none…): every
 * word after the scheme (the value itself when it is one word), or for Basic the password and, unless
 * `basicUser` is `name`, the user name it encodes, each at least 16 characters. For keeping a token an
 * agent brought (which may have any shape, so no pattern finds it) out of what is recorded and
 * forwarded before, or without, its key being known. A user name the vendor does not read is the
 * caller's free text, as a run id is: taken out by value, it would take that text out of the record
 * (ninth round: a Twilio user name equal to the run id hid the run); a key shaped one is still found
 * by the shape search (withoutTokenShapes).
 */
export function presentedCredentials(
  authorization: string | string[] | undefined,
  basicUser: BasicUser = 'credential',
): string[] {
  if (typeof authorization !== 'string') return [];
  const words = authorization.split(/[ \t]+/).filter((w) => w !== '');
  const [scheme, ...rest] = words;
  if (scheme === undefined) return [];
  const basic = rest.length === 1 && scheme.toLowerCase() === 'basic' ? rest[0]! : undefined;
  if (basic === undefined || !BASE64.test(basic))
    return (rest.length === 0 ? [scheme] : rest).filter((c) => c.length >= MIN_PRESENTED_LENGTH);
  const decoded = Buffer.from(basic, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const password = decoded.slice(colon + 1);
  const parts =
    colon === -1 ? [decoded] : basicUser === 'name' ? [password] : [decoded.slice(0, colon), password];
  // A Twilio Account or API key SID as the user name is an identifier the path names all the time.
  return parts.filter((p) => p.length >= MIN_PRESENTED_LENGTH && !TWILIO_SID.test(p));
}

/** `text` with every credential `Authorization` presents replaced by its fingerprint (see withoutToken). */
export function withoutPresented(
  text: string,
  authorization: string | string[] | undefined,
  basicUser: BasicUser = 'credential',
): string {
  let clean = text;
  for (const token of presentedCredentials(authorization, basicUser)) clean = withoutToken(clean, token);
  return clean;
}

/**
 * What finds a table's tokens in text: the token prefixes (the vendors' defaults and every one a
 * served key uses), and the tokens users brought that it serves, if any (brought.ts).
 */
export interface TokenPrefixes {
  readonly pattern: RegExp;
  readonly brought?: BroughtTokens;
}

const DEFAULTS = VENDORS.map(defaultTokenPrefix);
const byPrefixes = new WeakMap<Snapshot, TokenPrefixes>();
const defaultsOnly = prefixesFrom(DEFAULTS);
/** What is built from a table's kinds, shared by every table with the same kinds (token-kinds.ts). */
const byKinds = new WeakMap<PresentKinds, { shapes: TokenPrefixes; brought?: BroughtTails }>();

/**
 * What finds a snapshot's tokens (built once per snapshot); the default prefixes without one. From
 * the kinds recorded where the table was built: a table from change sets (a proxy's, `serve`'s
 * serving thread) costs a call nothing when its kinds are those of the table before, and never a
 * walk of its keys.
 */
export function tokenPrefixesOf(snapshot: Snapshot | undefined): TokenPrefixes {
  if (!snapshot) return defaultsOnly;
  let prefixes = byPrefixes.get(snapshot);
  if (!prefixes) {
    const { present } = tokenKindsOf(snapshot);
    let built = byKinds.get(present);
    if (!built) {
      const custom = new Set([...DEFAULTS, ...present.prefixes]);
      const shapes = custom.size === DEFAULTS.length ? defaultsOnly : prefixesFrom([...custom]);
      const brought = broughtTailsOf(present.brought);
      built = brought === undefined ? { shapes } : { shapes, brought };
      byKinds.set(present, built);
    }
    // A table without brought tokens keeps an object without the field: its calls pay nothing more.
    prefixes =
      built.brought === undefined
        ? built.shapes
        : { ...built.shapes, brought: { ...built.brought, served: snapshot.keys } };
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
 * Every token the table serves that a user brought, then every Keybrake key shape, in `text`, each
 * replaced by its fingerprint. Brought tokens first: one could hold a Keybrake shape, whose
 * replacement would leave the rest of the brought token behind.
 */
function redact(text: string, prefixes: TokenPrefixes): { text: string; held: boolean } {
  const brought = prefixes.brought === undefined ? undefined : withoutBrought(text, prefixes.brought);
  const shapes = redactShapes(brought ?? text, prefixes);
  return brought === undefined ? shapes : { text: shapes.text, held: true };
}

/** `text` with every brought token the table serves replaced by its fingerprint; undefined if it holds none. */
function withoutBrought(text: string, brought: BroughtTokens): string | undefined {
  const spans = broughtSpans(text, brought);
  if (spans.length === 0) return undefined;
  let out = '';
  let at = 0;
  for (const [start, end] of spans) {
    out += text.slice(at, start) + fingerprint(text.slice(start, end));
    at = end;
  }
  return out + text.slice(at);
}

/**
 * Every vault token (a known prefix, then a body whose checksum holds) and run key (a known prefix,
 * `r1_`, then its payload) in `text`, each replaced by its fingerprint. One pass over the text and
 * one checksum per position a prefix is found at: the work stays linear in the text (times the
 * checked length of a key) whatever a caller sends.
 */
function redactShapes(text: string, prefixes: TokenPrefixes): { text: string; held: boolean } {
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

/** `%XX` escapes decoded byte by byte (Keybrake's keys are ASCII), three times over at most; never throws. */
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
 * `text` (a request target, a run id) with every Keybrake key in it, and every token a user brought
 * that the table serves, replaced by its fingerprint, percent-encoded ones too (the text is then
 * given decoded). For what is recorded about a call whatever key it names: the agent may paste any
 * key it holds, not only the one it presents, and no key is known yet for a call refused before
 * authentication.
 */
export function withoutTokenShapes(text: string, prefixes: TokenPrefixes): string {
  return scan(text, prefixes).text;
}

/** Whether `text` holds a Keybrake key or a served brought token (see withoutTokenShapes). */
export function holdsTokenShape(text: string, prefixes: TokenPrefixes): boolean {
  return scan(text, prefixes).held;
}

/**
 * Whether `text` carries `token` in any letter case, as it is or percent-encoded (see carriesToken).
 * For text whose case is not kept on the way to the vendor: a header name, which node and undici
 * lower-case (eleventh round: the presented token sent as a header name reached the vendor as
 * `kb_stripe_0xwv…`, and its checksum gives the case back offline).
 */
export function carriesTokenAnyCase(text: string, token: string): boolean {
  const lower = token.toLowerCase();
  if (text.toLowerCase().includes(lower)) return true;
  if (!text.includes('%')) return false;
  const bytes = unescaped(text);
  return (
    bytes.toLowerCase().includes(lower) ||
    Buffer.from(bytes, 'latin1').toString('utf8').toLowerCase().includes(lower)
  );
}

/** Each table's prefixes found in any letter case, built once per TokenPrefixes. */
const anyCasePatterns = new WeakMap<TokenPrefixes, RegExp>();
const BODY_ANY_CASE = new RegExp(`^[A-Za-z0-9]{${AFTER_PREFIX}}`);

/**
 * Whether `text` holds a Keybrake key in any letter case, percent-encoded ones too: a known prefix
 * (any case) followed by a run key's `r1_` and payload, or by as many letters and digits as a vault
 * token's body and checksum. The checksum is not asked: the case it was computed over is what was
 * lost, and it can be solved for offline (a lower-cased token leaves 4 candidates), so the shape
 * alone decides. Wider than holdsTokenShape by design, for text no honest caller fills with such a
 * shape (a header name). Served brought tokens are not found here (only their digest is known, which
 * needs the exact case): holdsTokenShape finds them as sent.
 */
export function holdsTokenShapeAnyCase(text: string, prefixes: TokenPrefixes): boolean {
  let pattern = anyCasePatterns.get(prefixes);
  if (pattern === undefined) {
    pattern = new RegExp(prefixes.pattern.source, 'gi');
    anyCasePatterns.set(prefixes, pattern);
  }
  if (anyCaseShape(text, pattern)) return true;
  return text.includes('%') && anyCaseShape(unescaped(text), pattern);
}

function anyCaseShape(text: string, pattern: RegExp): boolean {
  pattern.lastIndex = 0;
  for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
    const after = text.slice(m.index + m[0].length, m.index + m[0].length + 600);
    if (after.slice(0, RUN_TOKEN_MARKER.length).toLowerCase() === RUN_TOKEN_MARKER) {
      if (RUN_KEY_TAIL.test(after.slice(RUN_TOKEN_MARKER.length))) return true;
    }
    if (BODY_ANY_CASE.test(after)) return true;
    // A prefix inside another's match (see redactShapes): the search resumes one character on.
    pattern.lastIndex = m.index + 1;
  }
  return false;
}
