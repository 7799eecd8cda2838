import { trimOws } from '../http-whitespace.ts';
import type { UpstreamCredential } from '../snapshot/types.ts';
import {
  escapedRegions,
  jsonUnescaped,
  latin1Narrowed,
  mergedRegions,
  nulsRemoved,
  percentUnescaped,
} from './escapes.ts';
import { lineBreaksRemoved, wrappedRegions } from './line-breaks.ts';
import type { UpstreamResponse } from './upstreams.ts';
import { isZlibStream } from './zlib-stream.ts';

/** A form in which an upstream credential could come back, as text (head, decoded body) and bytes (body). */
interface Needle {
  readonly text: string;
  readonly bytes: Buffer;
}

/** Every form of one credential the scan looks for, built once per credential (`credentialNeedles`). */
interface Needles {
  /** The secrets as they are, and their base64 and base64url at each alignment: in the body, the head, decoded text. */
  readonly forms: readonly Needle[];
  /**
   * The secrets whose letters are all of one case (a Twilio auth token: 32 lowercase hex digits),
   * lower-cased: such a secret in any other case is still the secret (lower-casing it gives it back,
   * losing nothing), so it is sought in any case. Their base64 forms are not: a change of case there
   * changes the bytes they encode. A mixed-case secret (Stripe, Resend, a Twilio API key secret)
   * loses information with its case, and is sought as it is.
   */
  readonly folded: readonly string[];
  /** `folded` as one case-insensitive search (V8's is some 5 times faster than a lower-cased copy). */
  readonly anyCase: RegExp | undefined;
  /** The shortest and longest of `forms`: text shorter than the one holds none of them. */
  readonly shortest: number;
  readonly longest: number;
  /**
   * By character code: whether an escape of that character may spell part of a form: a character of
   * one, or one that begins an escape or a line break once decoded (escapes of anything else spell
   * none).
   */
  readonly alphabet: Uint8Array;
  /**
   * By character code: whether a line break after, or before, that character may split a form as the
   * answer spells it (line-breaks.ts).
   */
  readonly ends: Uint8Array;
  readonly begins: Uint8Array;
}

/**
 * How many layers of escapes are read through, JSON's `\u` and `\/`, URL's `%XX` and line breaks, in
 * any order: `%5Cu0073` is `\u0073` in a URL query (a `state` holding JSON), so `s` once both are
 * decoded (tenth round: that was relayed, read JSON's first only).
 */
const MAX_LAYERS = 3;
/**
 * At most this many bytes of an answer spell one character of a form through MAX_LAYERS layers: a
 * JSON `\uXXXX`, the longest escape, is six bytes a byte.
 */
const MAX_ESCAPE_BYTES = 6 ** MAX_LAYERS;
/** At most this many bytes of line breaks sit between two characters of a wrapped form (`\r\n`), but in a run found whole. */
const MAX_BREAK_BYTES = 4;
const PERCENT = 0x25;
const BACKSLASH = 0x5c;
const LF = 0x0a;
const CR = 0x0d;

/**
 * Signatures of compressed or archived data Keybrake cannot read through: an answer that starts with
 * one carries its bytes out of sight of a byte search, whatever its headers say. Each holds a byte
 * no JSON or text answer starts with (bzip2's is ten bytes long for the same reason). Raw deflate and
 * brotli streams have no signature and are not recognised.
 */
const COMPRESSED: ReadonlyArray<readonly [string, Buffer]> = [
  ['gzip', Buffer.from([0x1f, 0x8b])],
  ['zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd])],
  ['xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])],
  ['zip', Buffer.from([0x50, 0x4b, 0x03, 0x04])],
  ['7z', Buffer.from([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c])],
];
const BZIP2 = /^BZh[1-9]1AY&SY/;
/** The first byte of a zlib header (deflate, any window: `08`, `18`, … `78`) and of a zstd skippable frame. */
const ZLIB_STARTS = [0x08, 0x18, 0x28, 0x38, 0x48, 0x58, 0x68, 0x78];
const SKIPPABLE_STARTS = Array.from({ length: 16 }, (_, i) => 0x50 + i);
const SIGNATURE_STARTS: ReadonlySet<number> = new Set([
  ...COMPRESSED.map(([, magic]) => magic[0]!),
  0x42,
  ...ZLIB_STARTS,
  ...SKIPPABLE_STARTS,
]);

/** A zstd skippable frame (magic 0x184D2A50 to 0x184D2A5F, little-endian), which may open a zstd stream. */
function isZstdSkippable(body: Buffer): boolean {
  return (
    body.length >= 4 && (body[0]! & 0xf0) === 0x50 && body[1] === 0x2a && body[2] === 0x4d && body[3] === 0x18
  );
}

/** Transfer codings Keybrake reads through: undici undoes `chunked`, and `identity` changes nothing. */
const FRAMING_CODINGS: ReadonlySet<string> = new Set(['chunked', 'identity']);

/**
 * Why Keybrake cannot read the answer's body to scan it, or undefined when it can: a Content-Encoding
 * (gzip, br…) or a Transfer-Encoding other than chunked (`deflate, chunked`: undici undoes the chunks
 * only, and the relayed body is the compressed bytes), or a body that is compressed data all the
 * same. Keybrake asks for no encoding (Accept-Encoding and TE are not forwarded), so such an answer
 * is unexpected, and one that cannot be scanned is withheld, like one that carries the credential
 * (fail closed); `identity` with anything but spaces and tabs around it is such an encoding. The
 * text completes "answered with …".
 */
export function unscannableBody(res: UpstreamResponse): string | undefined {
  const encoding = res.headers['content-encoding'];
  if (encoding !== undefined) {
    const value = trimOws(typeof encoding === 'string' ? encoding : encoding.join(',')).toLowerCase();
    if (value !== '' && value !== 'identity') return `Content-Encoding: ${value}`;
  }
  const transfer = res.headers['transfer-encoding'];
  if (transfer !== undefined) {
    const value = (typeof transfer === 'string' ? transfer : transfer.join(',')).toLowerCase();
    if (value.split(',').some((coding) => !FRAMING_CODINGS.has(trimOws(coding))))
      return `Transfer-Encoding: ${trimOws(value)}`;
  }
  const body = res.body;
  // A body whose first byte opens no signature is not compared: a JSON object (`{`) and most text.
  // A JSON array (`[`, a zstd skippable frame's first byte) and text starting with `( 7 8 B H h x` or
  // `P` to `_` are: a few byte comparisons, and for `( 8 H X h x` isZlibStream, whose header check
  // refuses 30 in 31 of them before any inflate.
  if (body.length === 0 || !SIGNATURE_STARTS.has(body[0]!)) return undefined;
  for (const [format, magic] of COMPRESSED) {
    if (body.length >= magic.length && body.compare(magic, 0, magic.length, 0, magic.length) === 0) {
      return `a body compressed with ${format}`;
    }
  }
  if (isZlibStream(body)) return 'a body compressed with zlib';
  if (isZstdSkippable(body)) return 'a body compressed with zstd';
  if (body[0] === 0x42 && BZIP2.test(body.toString('latin1', 0, 10))) return 'a body compressed with bzip2';
  return undefined;
}

/** Shorter strings would match by chance; every real vendor secret is far longer. */
const MIN_SECRET_LENGTH = 8;

/** Per credential object: a snapshot swap brings new objects, and the old entries go with them. */
const NEEDLES = new WeakMap<UpstreamCredential, Needles>();

/**
 * The forms of a key's upstream credential the scan looks for. The secrets: a bearer token (Stripe,
 * Resend); a Basic password (Twilio auth token or API key secret). Never the user part: account and
 * API key SIDs are identifiers that vendor answers carry all the time. Each secret as it is, and as
 * base64 / base64url at the three alignments it can have inside a longer encoded text: the encoding
 * of its whole 3-byte groups from offset 0, 1 or 2, which appears verbatim in the encoding of
 * anything that contains the secret (the Basic `user:password` of the Authorization header
 * included). A body is also searched for them in its UTF-16 text (`bodyCarries`).
 */
export function credentialNeedles(cred: UpstreamCredential): Needles {
  let needles = NEEDLES.get(cred);
  if (!needles) {
    const secrets = (cred.kind === 'bearer' ? [cred.token] : [cred.password]).filter(
      (s) => s.length >= MIN_SECRET_LENGTH,
    );
    const texts = new Set<string>();
    for (const secret of secrets) {
      texts.add(secret);
      const raw = Buffer.from(secret, 'utf8');
      for (let start = 0; start < 3; start++) {
        const slice = raw.subarray(start, start + Math.floor((raw.length - start) / 3) * 3);
        texts.add(slice.toString('base64'));
        texts.add(slice.toString('base64url'));
      }
    }
    const lengths = [...texts].map((t) => t.length);
    const folded = secrets.filter(isSingleCase).map((s) => s.toLowerCase());
    // The characters a folded secret may be spelt with in any case: escapes of them, and line breaks
    // beside them, are read through as for the forms' own.
    const spellings = [...texts, ...folded, ...folded.map((s) => s.toUpperCase())];
    needles = {
      forms: [...texts].map((text) => ({ text, bytes: Buffer.from(text, 'latin1') })),
      folded,
      anyCase:
        folded.length === 0
          ? undefined
          : new RegExp(folded.map((f) => f.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|'), 'i'),
      shortest: Math.min(...lengths),
      longest: Math.max(0, ...lengths),
      alphabet: alphabetOf(spellings),
      ...neighboursOf(spellings),
    };
    NEEDLES.set(cred, needles);
  }
  return needles;
}

/**
 * Whether a secret has letters and all of them are of one case (thirteenth round: a Twilio auth token
 * echoed upper-cased reached the agent, and lower-casing it again gave the token back).
 */
function isSingleCase(secret: string): boolean {
  const lower = secret.toLowerCase();
  const upper = secret.toUpperCase();
  return lower !== upper && (secret === lower || secret === upper);
}

/**
 * The characters of the forms, and those an escape of which may begin another escape or a line break
 * once decoded: `%` (`\u0025` may start a percent-escape of a form's character), `\` (`%5C` a JSON
 * escape, tenth round), CR and LF (`%0D%0A`, `\u000a`: a line break once decoded, which a MIME
 * decoder skips). The forms are ASCII (every vendor's secrets and their base64 are), and are matched
 * as Latin-1 bytes.
 */
function alphabetOf(texts: Iterable<string>): Uint8Array {
  const alphabet = new Uint8Array(128);
  for (const c of [PERCENT, BACKSLASH, LF, CR]) alphabet[c] = 1;
  for (const text of texts) for (let i = 0; i < text.length; i++) alphabet[text.charCodeAt(i) & 0x7f] = 1;
  return alphabet;
}

/**
 * What may sit either side of a line break inside a form as the answer spells it: before it, a
 * character of a form or the end of an escape of one (a hex digit, the `/` of `\/`); after it, a
 * character of a form or the start of an escape (`%`, `\`). Tenth round: in `\u0041\r\n\u0042` the
 * break sits between a `1` and a `\`, and a wrapped form \u-escaped throughout was relayed. A `\`
 * before a break begins none (`\\n` is JSON's backslash and an `n`), nor does a `%`.
 */
function neighboursOf(texts: Iterable<string>): { ends: Uint8Array; begins: Uint8Array } {
  const ends = new Uint8Array(128);
  for (const text of texts) for (let i = 0; i < text.length; i++) ends[text.charCodeAt(i) & 0x7f] = 1;
  const begins = ends.slice();
  for (const c of '0123456789abcdefABCDEF') ends[c.charCodeAt(0)] = 1;
  begins[PERCENT] = 1;
  begins[BACKSLASH] = 1;
  return { ends, begins };
}

/**
 * Whether a vendor answer carries the upstream credential, in its head or its body (ADR 0007 §1,
 * defence in depth), in any of the forms `credentialNeedles` lists, also once JSON `\u` and `\/`
 * escapes and URL percent-escapes are decoded, once wrapped base64's line breaks are taken out, and
 * in a body's UTF-16 text. The common case is one `Buffer.indexOf` per form over the body, and a few
 * more for the bytes that could begin an escape or a line break (candidates.ts), no string
 * conversion of it.
 */
export function carriesCredential(res: UpstreamResponse, cred: UpstreamCredential): boolean {
  const needles = credentialNeedles(cred);
  if (needles.forms.length === 0) return false;
  if (bodyCarries(res.body, needles)) return true;
  // for…in rather than Object.entries: no array per call on the request path.
  for (const name in res.headers) {
    const value = res.headers[name];
    if (value === undefined) continue;
    if (textCarries(name, needles)) return true;
    if (typeof value === 'string') {
      if (textCarries(value, needles)) return true;
    } else if (value.some((v) => textCarries(v, needles))) return true;
  }
  return false;
}

/** Whether one piece of an answer's head (a header name or value, a request id) carries the credential. */
export function textCarriesCredential(text: string, cred: UpstreamCredential): boolean {
  return textCarries(text, credentialNeedles(cred));
}

function bodyCarries(body: Buffer, needles: Needles): boolean {
  if (hasForm(body, needles) || readingCarries(body, needles)) return true;
  // Text in UTF-16 holds NUL bytes, which UTF-8 JSON never does: read once more without them, its
  // characters (LE or BE, from any byte) are ASCII text, where every form, escaped, wrapped or not,
  // is sought as in any answer (ninth round: only the secret was sought in UTF-16, not its base64,
  // and a Twilio echo of the Authorization header in UTF-16 was relayed).
  if (body.indexOf(0) === -1) return false;
  const narrow = nulsRemoved(body);
  return hasForm(narrow, needles) || readingCarries(narrow, needles);
}

/**
 * Whether Latin-1 text spells a form once its escapes are decoded or its wrapped lines joined, through
 * up to MAX_LAYERS layers (`layer` is the one this text is). Read again, decoded, are the parts of it
 * around each escape of a character of the alphabet (escapes.ts) and each run of line breaks between
 * two of its neighbours (line-breaks.ts): a form spelt with escapes and breaks lies within `radius`
 * of each of them. Each byte is in one part at most and each part is decoded once per kind, so a
 * layer is a few passes over its text however many escapes or breaks an agent had it hold (ninth
 * round: a regex callback per escape took 100 times a plain answer's scan); a layer's text is the
 * decoded parts of the one before, never longer, so the whole is at most MAX_LAYERS times that.
 */
function readingCarries(text: Buffer, needles: Needles, layer = 1): boolean {
  const radius = needles.longest * (MAX_ESCAPE_BYTES + MAX_BREAK_BYTES);
  const escaped = escapedRegions(text, needles.alphabet, radius);
  const wrapped = wrappedRegions(text, needles.ends, needles.begins, radius);
  const regions = mergedRegions(escaped, wrapped);
  const joins = wrapped.length > 0;
  // Each escaped region lies inside one merged region: `next` walks them alongside.
  let next = 0;
  for (const [start, end] of regions) {
    let unescapes = false;
    for (; next < escaped.length && escaped[next]![0] < end; next++) unescapes = true;
    if (decodedCarries(text.subarray(start, end), needles, layer, joins, unescapes)) return true;
  }
  return false;
}

/** What makes a text worth reading again: an escape (`\` or `%`), or a line break (raw or `\n`). */
const LATER_READ = /[\\%\r\n]/;

function textCarries(text: string, needles: Needles): boolean {
  // A form spelt with escapes is longer still: most header names and values are shorter than any form.
  if (text.length < needles.shortest) return false;
  if (hasFormText(text, needles)) return true;
  // A header may hold JSON (a debug or error header) as well as a URL: both escapes and wrapped
  // base64, as in bodies (a probe had the key relayed \u-escaped in a header while the same body
  // was withheld).
  return LATER_READ.test(text) && readingCarries(latin1Narrowed(text), needles);
}

/**
 * Whether Latin-1 text spells a form once one layer of its escapes and breaks is decoded: JSON's
 * `\u` and `\/`, then URL's `%XX` (`\u0025\u0034\u0031` is `%41`, so `A`), then line breaks,
 * searched after each that changed it; then, what that left, as the next layer (`%5Cu0041` is
 * `\u0041` after the first, `A` after the second). Breaks are taken out where the layer's text had a
 * run of them inside a form (`joins`) or a raw CR or LF (`%0A` is one once decoded); a `\n` that
 * decoding formed (`\u005cn`) the next layer finds. The text as it is was searched already.
 *
 * `unescapes`: whether the part holds an escape of a character of the alphabet (it overlaps one of
 * escapedRegions'). A part read only for its breaks holds none: its escapes, if any, are of other
 * characters, which decode to a byte that is in no form and begins no escape or break, so decoding
 * them finds nothing the breaks' removal alone does not. Skipping the two decoders there keeps a
 * break-dense answer (`1\n\\u` throughout, whose every backslash made the JSON decoder copy it
 * whole) near the ninth round's cost (tenth round, LOW: 2.5 to 3 times it).
 */
function decodedCarries(
  text: Buffer,
  needles: Needles,
  layer: number,
  joins: boolean,
  unescapes: boolean,
): boolean {
  let decoded = text;
  // Each decoder runs only where the byte its escapes begin with is: one native search for one byte
  // (a search for two, `\u`, costs a look at every backslash of an answer full of them).
  if (unescapes && decoded.includes(BACKSLASH)) {
    const next = jsonUnescaped(decoded);
    if (next.length !== decoded.length) {
      if (hasForm(next, needles)) return true;
      decoded = next;
    }
  }
  if (unescapes && decoded.includes(PERCENT)) {
    const next = percentUnescaped(decoded);
    if (next.length !== decoded.length) {
      if (hasForm(next, needles)) return true;
      decoded = next;
    }
  }
  if (joins || decoded.includes(LF) || decoded.includes(CR)) {
    const next = lineBreaksRemoved(decoded);
    if (next.length !== decoded.length) {
      if (hasForm(next, needles)) return true;
      decoded = next;
    }
  }
  return (
    decoded !== text &&
    layer < MAX_LAYERS &&
    mayHoldMore(decoded) &&
    readingCarries(decoded, needles, layer + 1)
  );
}

/**
 * Whether text holds a byte an escape or a line break begins with (`%`, `\`, CR, LF): without one,
 * the next layer finds no part to read, and four native searches spare its two walks.
 */
function mayHoldMore(text: Buffer): boolean {
  return text.includes(BACKSLASH) || text.includes(PERCENT) || text.includes(LF) || text.includes(CR);
}

function hasFormText(text: string, needles: Needles): boolean {
  for (const n of needles.forms) if (text.includes(n.text)) return true;
  return needles.anyCase?.test(text) === true;
}

function hasForm(bytes: Buffer, needles: Needles): boolean {
  for (const n of needles.forms) if (bytes.indexOf(n.bytes) !== -1) return true;
  // Only a credential with a folded secret (a Twilio auth token's key) pays for the text of the bytes.
  return needles.anyCase?.test(bytes.toString('latin1')) === true;
}
