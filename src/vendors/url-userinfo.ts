import { isUtf8 } from 'node:buffer';
import { type Denial, deny } from '../decision/reasons.ts';
import { WITHHELD } from './types.ts';

/**
 * The user name and password of the URLs in a vendor's answer, withheld (the withhold stage, ADR 0007
 * §1): a customer protects its webhooks with `https://user:password@host/…` (Twilio documents it;
 * Stripe's webhook endpoint `url` and Resend's webhook `endpoint` take it as well), so a read of that
 * configuration, by any key that may read, carries the password of the customer's own server: with
 * it the agent can forge the vendor's requests to that server. The rest of the URL stays: it is where
 * the webhook points. A leaf every vendor adapter's `withholdFromAnswer` uses.
 */

/**
 * Where a URL's userinfo may start, as a WHATWG parser (Node's `URL`, browsers, most webhook clients)
 * reads one: the scheme, its `:` and the slashes after it. A scheme the parser calls special and
 * reads a userinfo in (`file` is special too, but its host never holds one) is followed by any
 * run of `/` and `\`, none or one included: `https:user:pw@host`, `https:/user:pw@host` and
 * `https:\\user:pw@host` all send `pw`. Any other scheme has a userinfo only after `//`; two or more
 * slashes or backslashes are taken for it, more than the parser takes (fail closed). A TAB, LF or CR
 * among the slashes is one the parser strips. The look-behind starts a scheme only where a word
 * starts, so a long run of letters is scanned once.
 */
const PLAIN_START =
  /(?<![A-Za-z0-9+.-])(?:(?:https?|wss?|ftp):[/\\\t\n\r]*|[A-Za-z][A-Za-z0-9+.-]*:[\t\n\r]*[/\\][\t\n\r]*[/\\][/\\\t\n\r]*)/gi;

/**
 * What ends an authority in plain text, and the userinfo it starts with: `/`, `?`, `#`, `\` (a `/`
 * to a WHATWG parser in a special URL) and every space but TAB, LF and CR, which that parser strips
 * from the middle of a URL (so `user:pw\t@host` still sends `pw`). A space ends it though the parser
 * would percent-encode one: a URL in prose ends there, and no vendor stores a webhook URL with one.
 */
const PLAIN_END = /[/?#\\\v\f \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]/g;

/**
 * The same URL percent-encoded inside a form-encoded text (a Twilio alert's `alert_text` holds
 * `url=https%3A%2F%2Fuser%3Apass%40host…`): a scheme's `+` spelt `%2B`, its slashes `%2F` or `%5C`
 * (and TAB, LF, CR as `%09`, `%0A`, `%0D`), and a userinfo that ends at `%2F`, `%5C`, `%3F`, `%23`,
 * `&` or any space, its `@` spelt `%40`.
 */
const ENCODED_START =
  /(?<![A-Za-z0-9+.-])(?:(?:https?|wss?|ftp)%3A(?:%2F|%5C|%09|%0A|%0D)*|[A-Za-z](?:[A-Za-z0-9.-]|%2B)*%3A(?:%09|%0A|%0D)*(?:%2F|%5C)(?:%09|%0A|%0D)*(?:%2F|%5C)(?:%2F|%5C|%09|%0A|%0D)*)/gi;
const ENCODED_END = /[/?#\\&\s]|%(?:2F|5C|3F|23)/gi;

/** How a text spells the URLs whose userinfo is sought: plainly, or percent-encoded. */
interface Spelling {
  start: RegExp;
  /** What ends an authority; global, a match one character long or three (`%2F`). */
  end: RegExp;
  /** The userinfo's last character, `@` as the spelling writes it. */
  at: string;
}

const PLAIN: Spelling = { start: PLAIN_START, end: PLAIN_END, at: '@' };

const ENCODED: Spelling = { start: ENCODED_START, end: ENCODED_END, at: '%40' };

/**
 * How long the end of an authority `end` found is, from its last character: `%2F`, `%5C`, `%3F` and
 * `%23` end in `F`, `C` or `3`, which end no authority alone. `RegExp.test`, not `exec`: no match
 * array for each of the hundreds of thousands of openings an agent may write.
 */
function endLength(last: string): number {
  return 'CcFf3'.includes(last) ? 3 : 1;
}

/**
 * A would-be userinfo that is prose: a URL, then punctuation that ends a URL in text (`,` `;` `)`
 * `]` `"` `'` `>`), then an e-mail address's plain local part (letters, digits, `._+-`):
 * `https://shop.example.com,orders@example.com`. A WHATWG parser reads `shop.example.com,orders` as a
 * user name (sixth round: it reached the agent as `https://withheld_by_keybrake@example.com`, its host
 * lost), so such text is left as the vendor wrote it. It holds no `:` (nor `%3A`, which a client
 * decodes into one), so no password: only a user name that is a dotted name, punctuation and a word
 * is left, which no webhook credential looks like. Anything else is withheld, whatever the user name
 * looks like (seventh round: `https://first.last+twilio:pw@host`, `https://ops.team=1:pw@host` and
 * `https://api.corp.com;pw=secret@host` reached the agent whole).
 */
const PROSE = /^[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+[,;)\]"'>]+[A-Za-z0-9._+-]*$/;

/**
 * A SIP URI's password (`sip:user:password@host`, RFC 3261 allows one; it has no `//`). Lengths are
 * bounded so a text of many `sip:` starts is scanned in linear time.
 */
const SIP_USERINFO = /(?<![A-Za-z0-9+.-])(sips?:)[^/?#\\\s@:;]{1,64}:[^/?#\\\s@;]{1,128}@/gi;

/** A SIP scheme: a text without one has no SIP password, and is not scanned for one. */
const SIP = /sips?:/i;

/** Texts without which an answer, or a JSON string of it, holds no userinfo: no parse for most answers. */
const HINTS = ['@', '%40', '\\u0040'];
const HINT_BYTES = HINTS.map((hint) => Buffer.from(hint));

/** A JSON string's `:` as it may be spelt (plain, escaped, percent-encoded): every userinfo follows one. */
const COLON = /:|\\u003a|%3a/i;

/** A JSON string literal, escapes included (unrolled, so a long literal is not one backtracking group). */
const LITERAL = /"[^"\\]*(?:\\.[^"\\]*)*"/g;

/**
 * How many userinfos one answer may have withheld: one per this many bytes of it, and never fewer than
 * `MIN_WITHHELD`. Past that the answer is refused whole, before any more work: each withheld userinfo
 * is a rewrite and may grow the answer (`a://x@` becomes `a://withheld_by_keybrake@`), and an agent
 * that writes URL-shaped metadata through free writes chooses how many a read of it holds (sixth
 * round: 500 000 in a 2.5 MB customer list, 276 ms of event loop and a 12.5 MB answer). A vendor's
 * object spends more than 64 bytes on each webhook URL it holds (the densest, a Twilio application
 * with seven short protected URLs, about 120; a Resend webhook about 150), so a page of them passes
 * at any page size, where a fixed cap would refuse Twilio's default page of 50 such applications. The
 * agent's answer grows by at most 19 bytes a userinfo (one character becomes the marker): 4.75 KiB,
 * or 30% of a larger answer, and the work stays linear in its size.
 */
const BYTES_PER_WITHHELD = 64;
const MIN_WITHHELD = 256;

/** What may still be withheld from the answer at hand; below zero, it is refused. */
interface Budget {
  left: number;
}

/**
 * The body of an answer as the agent gets it: the same Buffer when it holds no URL with a userinfo,
 * else a copy with each URL's userinfo replaced by `WITHHELD`. A JSON answer stays valid JSON: only
 * the string values holding such a URL are written again (decoded first, so a URL spelt with `\/` or
 * `\u0040` is found); every other byte is the vendor's. Any other text (Twilio's 2010 API answers XML
 * to a path without `.json`) has its URLs rewritten in place. A body that is not UTF-8 cannot be
 * rewritten without changing its other bytes: one that holds such a URL is withheld whole (a Denial),
 * any other (a recording's audio, an image) passes whole. An answer holding more userinfos than its
 * budget (`BYTES_PER_WITHHELD`) is withheld whole too.
 */
export function withholdUrlUserinfo(body: Buffer): Buffer | Denial {
  if (!HINT_BYTES.some((hint) => body.includes(hint))) return body;
  const text = body.toString('utf8');
  const budget = { left: Math.max(MIN_WITHHELD, Math.floor(body.length / BYTES_PER_WITHHELD)) };
  const utf8 = isUtf8(body);
  const rewritten = withheld(text, utf8 ? never : spansNoCharacter, budget);
  if (rewritten === undefined) return TOO_MANY;
  if (rewritten === text) return body;
  return utf8 ? Buffer.from(rewritten, 'utf8') : NOT_UTF8;
}

const NOT_UTF8 = deny(
  'credential_in_response',
  "The API's answer held the user name or password of a URL in bytes that are not UTF-8, which Keybrake could not take out of it, so it withheld the answer. The call may have taken effect.",
);

const TOO_MANY = deny(
  'credential_in_response',
  `The API's answer held the user names or passwords of more URLs than Keybrake takes out of one answer (one per ${BYTES_PER_WITHHELD} bytes, at least ${MIN_WITHHELD}), so it withheld the answer. The call may have taken effect; a read of fewer objects at a time may pass.`,
);

/**
 * Which URLs a scan leaves alone. A body that is not UTF-8 is read with each byte that is no character
 * as U+FFFD, which ends no URL, so a stray byte hides nothing; but binary data (audio, an image) spells
 * `x://…@` by chance about once in a hundred mebibytes, nearly always across such bytes, and is not
 * refused for that.
 */
type Kept = (url: string) => boolean;
const never: Kept = () => false;
const spansNoCharacter: Kept = (url) => url.includes('\uFFFD');

/** The text with the userinfo of its URLs withheld, as JSON (string values) or as plain text. */
function withheld(text: string, kept: Kept, budget: Budget): string | undefined {
  return isJson(text) ? withheldJson(text, kept, budget) : withheldText(text, kept, budget);
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * Valid JSON text with the userinfo of the URLs in its string values withheld, each literal written
 * again only when it changed. A literal without a `\` is its own value: only one with escapes is
 * parsed, and only one that spells a `:` before an `@` is looked at all.
 */
function withheldJson(text: string, kept: Kept, budget: Budget): string | undefined {
  let out = '';
  let copied = 0;
  LITERAL.lastIndex = 0;
  for (let m = LITERAL.exec(text); m !== null; m = LITERAL.exec(text)) {
    const literal = m[0];
    if (!mayHoldUserinfo(literal)) continue;
    const value = literal.includes('\\') ? (JSON.parse(literal) as string) : literal.slice(1, -1);
    const rewritten = withheldText(value, kept, budget);
    if (rewritten === undefined) return undefined;
    if (rewritten === value) continue;
    // No longer than the vendor's literal but for the markers: JSON.stringify escapes only what a
    // JSON string must, so the answer's growth stays what the budget allows.
    out += text.slice(copied, m.index) + JSON.stringify(rewritten);
    copied = m.index + literal.length;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/** Whether a JSON string literal spells an `@` after a `:`, as every userinfo of a URL has. */
function mayHoldUserinfo(literal: string): boolean {
  const colon = literal.search(COLON);
  return colon !== -1 && HINTS.some((at) => literal.lastIndexOf(at) > colon);
}

/**
 * Text with the userinfo of every URL in it, plain or percent-encoded, replaced by the marker; or
 * undefined once that would take more than the budget. A scan whose scheme or `@` the text lacks is
 * skipped: each is a pass over the whole text.
 */
function withheldText(text: string, kept: Kept, budget: Budget): string | undefined {
  const marker = (at: string) => (url: string, opening: string) =>
    kept(url) ? url : `${opening}${WITHHELD}${at}`;
  const unlessProse = (url: string, opening: string) =>
    PROSE.test(url.slice(opening.length, -1)) ? url : marker('@')(url, opening);
  const plain = text.includes('@') ? userinfosReplaced(text, PLAIN, unlessProse, budget) : text;
  if (plain === undefined) return undefined;
  const sip = SIP.test(plain) ? replaced(plain, SIP_USERINFO, marker('@'), budget) : plain;
  if (sip === undefined) return undefined;
  return sip.includes('%40') ? userinfosReplaced(sip, ENCODED, marker('%40'), budget) : sip;
}

/**
 * `text` with each URL's userinfo as `spelling` spells it replaced as `by` says (given the URL up to
 * and with its `@`, and its opening: scheme, `:` and slashes), or undefined as soon as one more
 * replacement than the budget allows is found. The userinfo runs from the opening to the last `@`
 * before the authority ends, as a WHATWG parser reads it. In linear time: the end of an authority
 * is sought once, not once for each opening in it (a regex's `[^/]+@` from each of an agent's
 * `http:http:http:…`, special schemes needing no slash, would scan to the same end again, each).
 */
function userinfosReplaced(
  text: string,
  spelling: Spelling,
  by: (url: string, opening: string) => string,
  budget: Budget,
): string | undefined {
  let out = '';
  let copied = 0;
  let authorityEnd = -1;
  let nextAt = -1;
  const { start, end, at } = spelling;
  start.lastIndex = 0;
  for (let m = start.exec(text); m !== null; m = start.exec(text)) {
    const from = m.index + m[0].length;
    if (from >= authorityEnd) {
      end.lastIndex = from;
      authorityEnd = end.test(text) ? end.lastIndex - endLength(text[end.lastIndex - 1]!) : text.length;
    }
    // The first `@` at or after the opening, sought again only once passed: linear over the text.
    if (nextAt < from) nextAt = text.indexOf(at, from);
    if (nextAt === -1) break;
    if (nextAt >= authorityEnd) continue;
    // Found backwards from the end no further than `nextAt`, once for each authority with an `@`:
    // the scan goes on after it.
    const lastAt = text.lastIndexOf(at, authorityEnd - at.length);
    // An empty userinfo (`a://@host`) holds nothing and is not withheld: an agent that wrote
    // thousands of `a://@` into metadata had each one grow to `a://withheld_by_keybrake@` (sixth round).
    if (lastAt === from) continue;
    const url = text.slice(m.index, lastAt + at.length);
    // The openings inside this userinfo are part of it: the scan goes on after its `@`.
    start.lastIndex = lastAt + at.length;
    const replacement = by(url, m[0]);
    if (replacement === url) continue;
    budget.left -= 1;
    if (budget.left < 0) return undefined;
    out += text.slice(copied, m.index) + replacement;
    copied = m.index + url.length;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/**
 * `text` with each match of a global `pattern` (whose first group is the scheme) replaced as `by`
 * says, or undefined as soon as one more replacement than the budget allows is found: an answer over
 * budget costs no more work than its budget.
 */
function replaced(
  text: string,
  pattern: RegExp,
  by: (url: string, scheme: string) => string,
  budget: Budget,
): string | undefined {
  let out = '';
  let copied = 0;
  pattern.lastIndex = 0;
  for (let m = pattern.exec(text); m !== null; m = pattern.exec(text)) {
    const url = m[0];
    const replacement = by(url, m[1]!);
    if (replacement === url) continue;
    budget.left -= 1;
    if (budget.left < 0) return undefined;
    out += text.slice(copied, m.index) + replacement;
    copied = m.index + url.length;
  }
  return copied === 0 ? text : out + text.slice(copied);
}
