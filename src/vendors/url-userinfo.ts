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
 * What a WHATWG parser (Node's `URL`, browsers, most webhook clients) strips from anywhere in a URL
 * before reading it: TAB, LF and CR, so `ht\ttps:`, `https\t:` and `:/\n/` are a scheme and its
 * slashes. The scan allows any run of them between any two characters of an opening.
 */
const STRIPPED = String.raw`[\t\n\r]*`;

/**
 * The special schemes whose host may hold a userinfo (`file` is special too, but its host never holds
 * one), `gap` allowed between their letters.
 */
function specialSchemes(gap: string): string {
  const spelt = (letters: string) => [...letters].join(gap);
  return `(?:${spelt('http')}|${spelt('ws')})(?:${gap}s)?|${spelt('ftp')}`;
}

/**
 * Where a URL's userinfo may start, as a WHATWG parser reads one: the scheme, its `:` and the slashes
 * after it, with TAB, LF or CR anywhere among them. A special scheme (the first group, so that its
 * authority ends at `\` too) is followed by any run of `/` and `\`, none or one included:
 * `https:user:pw@host`, `https:/user:pw@host` and `https:\\user:pw@host` all send `pw`. Any other
 * scheme has a userinfo only after `//`; two or more slashes or backslashes are taken for it, more
 * than the parser takes (fail closed). A scheme starts only where a word starts (a TAB, LF or CR
 * starts one: text puts a URL after a line break), so a long run of letters is scanned once; any
 * other scheme's whole run of scheme characters, TAB, LF and CR is its opening (`see\tfoo://`), so
 * that run too is scanned once, from its start, however many words it holds.
 */
const PLAIN_START = new RegExp(
  String.raw`(?<![A-Za-z0-9+.-])(?:((?:${specialSchemes(STRIPPED)})${STRIPPED}:[/\\\t\n\r]*)` +
    String.raw`|(?<![\t\n\r])[0-9+.\-\t\n\r]*[A-Za-z][A-Za-z0-9+.\-\t\n\r]*:${STRIPPED}[/\\]${STRIPPED}[/\\][/\\\t\n\r]*)`,
  'gi',
);

/**
 * What ends an authority in plain text, and the userinfo it starts with: `/`, `?` and `#`; a special
 * scheme's at `\` too, which a WHATWG parser reads as `/` there only (`foo://u:p\w@h` sends `p%5Cw`).
 */
const PLAIN_END = /[/?#]/g;
const PLAIN_SPECIAL_END = /[/?#\\]/g;

/**
 * A space, which a WHATWG parser percent-encodes inside a userinfo (`https://u:pw @h` sends `pw%20`)
 * but which ends a URL in prose (`see https://example.com or write to bob@example.com`). TAB, LF and
 * CR are not among them: the parser strips them (`user:pw\t@host` sends `pw`).
 */
const PLAIN_SPACE = /[\v\f \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]/g;

/** A userinfo's `:`, spelt plainly or percent-encoded (a client may decode a user name). */
const COLONS = /:|%3a/gi;

/**
 * The same URL percent-encoded inside a text, wholly or in part: what one decode makes a URL of. A
 * form-encoded text spells it wholly (a Twilio alert's `alert_text` holds
 * `url=https%3A%2F%2Fuser%3Apass%40host…`); a quoting tool leaves some characters as they are (Python's
 * `quote` keeps `/`: `https%3A//user%3Apass%40host`; JavaScript's `escape` keeps `@` too), so each of
 * the scheme's `:`, its slashes and the userinfo's `@` is taken spelt either way, in any mix (eighth
 * round: those two and `https%3A%2F%2Fuser%3Apass@host` reached the agent whole). A scheme's `+` may
 * be spelt `%2B`, and TAB, LF and CR `%09`, `%0A` or `%0D` (or themselves: a form decoder keeps them)
 * anywhere in the opening. A raw `+` is a space in a form, and an escape (`%20`, `%22`) a character
 * other than the scheme's, so a scheme starts after either (`see+https%3A…`, `%22https%3A…`); any
 * other scheme's run starts after neither an escape of its own (`%2B`, `%09`) nor inside one, so it is
 * scanned once. A URL spelt wholly plainly is found here too, and left as the plain scan left it.
 */
const ENCODED_STRIPPED = String.raw`(?:%09|%0A|%0D|[\t\n\r])*`;
const ENCODED_RUN = String.raw`(?:[A-Za-z0-9.\-\t\n\r]|%2B|%09|%0A|%0D)`;
const ENCODED_COLON = '(?::|%3A)';
const ENCODED_SLASH = String.raw`(?:[/\\]|%2F|%5C)`;
const ENCODED_SLASHES = String.raw`(?:[/\\\t\n\r]|%2F|%5C|%09|%0A|%0D)*`;
/** Where a text spelling an escape (`%22`) or none (`see+`, `=`) before it may start a scheme. */
const ENCODED_WORD = '(?:(?<![A-Za-z0-9.%-])|(?<=%[0-9A-F]{2}))';
const ENCODED_START = new RegExp(
  `${ENCODED_WORD}(?:((?:${specialSchemes(ENCODED_STRIPPED)})${ENCODED_STRIPPED}${ENCODED_COLON}${ENCODED_SLASHES})` +
    String.raw`|(?<![\t\n\r]|%2B|%09|%0A|%0D)(?:[0-9.\-\t\n\r]|%2B|%09|%0A|%0D)*[A-Za-z]${ENCODED_RUN}*${ENCODED_COLON}${ENCODED_STRIPPED}${ENCODED_SLASH}${ENCODED_STRIPPED}${ENCODED_SLASH}${ENCODED_SLASHES})`,
  'gi',
);
/** A form value ends at `&`; the rest as in plain text, spelt either way. */
const ENCODED_END = /[/?#&]|%(?:2F|3F|23)/gi;
const ENCODED_SPECIAL_END = /[/?#&\\]|%(?:2F|5C|3F|23)/gi;
/** A form-encoded text's space: `+` and `%20`, and one spelt plainly. */
const ENCODED_SPACE = /[+\v\f \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]|%20/gi;

/**
 * Whether a text spells percent-encoded one of the characters an opening or a userinfo's `@` is made
 * of: a text without one holds no URL but the plain scan's, and is not scanned again.
 */
const ESCAPED = /%(?:3a|2f|5c|40|09|0a|0d|2b)/i;

/**
 * A SIP URI's password (`sip:user:password@host`, RFC 3261 allows one; it has no `//`). Its grammar
 * has no `@` in a userinfo, so the userinfo runs to the first `@`, before a `/`, `?`, `#`, `\` or any
 * space (`<sip:alice@pbx>, <sip:bob@pbx>` is two URIs), and holds a password only with a `:`.
 * Percent-encoded, wholly or in part, as a URL above (`To=sip%3Aalice%3Apw%40pbx`): each of these
 * characters spelt either way, but a form's `&` and `+`, which a SIP user part may hold (`sip:+1415…`).
 */
const SIP_START = /(?<![A-Za-z0-9+.-])sips?:/gi;
const SIP_END = /[/?#\\\s]/g;
const ENCODED_SIP_START = new RegExp(`${ENCODED_WORD}sips?${ENCODED_COLON}`, 'gi');
const ENCODED_SIP_END = /[/?#\\\s]|%(?:2F|3F|23|5C|20|09|0A|0D)/gi;

/** How a text spells the URLs whose userinfo is sought: plainly, or percent-encoded in any part. */
interface Spelling {
  /** Where a userinfo may start; its first group matched when the scheme is special. */
  start: RegExp;
  /** What ends an authority (global, as `firstFrom` takes it), for any scheme and for a special one. */
  end: RegExp;
  specialEnd: RegExp;
  /** A space and a `:` (the same): see `whatwgUserinfo`. */
  space: RegExp;
  colon: RegExp;
  /** The userinfo's last character, `@`, as the spelling may write it. */
  ats: readonly string[];
  /** A SIP URI's scheme in the text (a test), where its userinfo may start, and what ends it. */
  sip: RegExp;
  sipStart: RegExp;
  sipEnd: RegExp;
}

const PLAIN: Spelling = {
  start: PLAIN_START,
  end: PLAIN_END,
  specialEnd: PLAIN_SPECIAL_END,
  space: PLAIN_SPACE,
  colon: COLONS,
  ats: ['@'],
  sip: /sips?:/i,
  sipStart: SIP_START,
  sipEnd: SIP_END,
};

const ENCODED: Spelling = {
  start: ENCODED_START,
  end: ENCODED_END,
  specialEnd: ENCODED_SPECIAL_END,
  space: ENCODED_SPACE,
  colon: COLONS,
  ats: ['@', '%40'],
  sip: /sips?(?::|%3a)/i,
  sipStart: ENCODED_SIP_START,
  sipEnd: ENCODED_SIP_END,
};

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
 * undefined once that would take more than the budget. The plain scan goes first: a URL it withheld
 * is found again by the percent-encoded one, whose spellings include the plain, already withheld. A
 * scan whose scheme or `@` the text lacks is skipped: each is a pass over the whole text.
 */
function withheldText(text: string, kept: Kept, budget: Budget): string | undefined {
  const plain = text.includes('@') ? withheldSpelt(text, PLAIN, kept, budget) : text;
  if (plain === undefined || !ESCAPED.test(plain)) return plain;
  return plain.includes('@') || plain.includes('%40') ? withheldSpelt(plain, ENCODED, kept, budget) : plain;
}

/** Text with the userinfo of its URLs and SIP URIs spelt one way withheld, as `withheldText`. */
function withheldSpelt(text: string, spelling: Spelling, kept: Kept, budget: Budget): string | undefined {
  const marker = (url: string, opening: string) =>
    kept(url) ? url : `${opening}${WITHHELD}${url.endsWith('@') ? '@' : url.slice(-3)}`;
  const unlessProse = (url: string, opening: string) =>
    PROSE.test(url.slice(opening.length, url.endsWith('@') ? -1 : -3)) ? url : marker(url, opening);
  const urls = userinfosReplaced(text, spelling.start, whatwgUserinfo(text, spelling), unlessProse, budget);
  if (urls === undefined || !spelling.sip.test(urls)) return urls;
  return userinfosReplaced(urls, spelling.sipStart, sipPassword(urls, spelling), marker, budget);
}

/**
 * Where the userinfo after an opening (`start`'s match) ends: the index of its `@` (or `%40`), or -1
 * when it has none to withhold. Called with openings in the order of the text.
 */
type UserinfoEnd = (opening: RegExpExecArray, from: number) => number;

/**
 * `text` with the userinfo after each of `start`'s openings (scheme, `:` and slashes) replaced as `by`
 * says (given the URL up to and with its `@`, and its opening), or undefined as soon as one more
 * replacement than the budget allows is found: an answer over budget costs no more work than its
 * budget. The openings inside a userinfo are part of it: the scan goes on after its `@`.
 */
function userinfosReplaced(
  text: string,
  start: RegExp,
  userinfoEnd: UserinfoEnd,
  by: (url: string, opening: string) => string,
  budget: Budget,
): string | undefined {
  let out = '';
  let copied = 0;
  start.lastIndex = 0;
  for (let m = start.exec(text); m !== null; m = start.exec(text)) {
    const atIndex = userinfoEnd(m, m.index + m[0].length);
    if (atIndex === -1) continue;
    const afterAt = atIndex + (text.charCodeAt(atIndex) === AT ? 1 : 3);
    const url = text.slice(m.index, afterAt);
    start.lastIndex = afterAt;
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
 * The first match of a global `pattern` at or after a position, or the text's end; sought again only
 * once that position is passed, so that a scan asking in order reads the text once (a regex's
 * `[^/]+@` from each of an agent's `http:http:http:…`, special schemes needing no slash, would scan to
 * the same end again, each). Each match is one character, or a three-character escape (`%2F`), whose
 * last character is a letter or digit, as no one-character match's is. `RegExp.test`, not `exec`:
 * no match array for each of the hundreds of thousands of openings an agent may write (and not a
 * zero-width lookahead, four times slower to find).
 */
function firstFrom(text: string, pattern: RegExp): (from: number) => number {
  let found = -1;
  return (from) => {
    if (from > found) {
      pattern.lastIndex = from;
      found = pattern.test(text)
        ? pattern.lastIndex - matchLength(text.charCodeAt(pattern.lastIndex - 1))
        : text.length;
    }
    return found;
  };
}

function matchLength(last: number): number {
  const letter = last | 0x20;
  return (last >= 0x30 && last <= 0x39) || (letter >= 0x61 && letter <= 0x7a) ? 3 : 1;
}

const AT = 0x40;

/** The `@`s of a text, as any of `ats` spells one; sought from positions in order, as `firstFrom`. */
interface Ats {
  /** The first at or after a position, or the text's end. */
  first(from: number): number;
  /** The last that ends before `before` and starts at or after `from`, or -1. */
  last(from: number, before: number): number;
}

/**
 * Each spelling is sought backwards only when it has an `@` past `from`: `lastIndexOf` has no lower
 * bound, and a `%40` sought back from each of an agent's `a://@…` would read the text again each time.
 */
function atsOf(text: string, ats: readonly string[]): Ats {
  const seekers = ats.map((at) => ({ at, first: firstOf(text, at) }));
  return {
    first: (from) => {
      let first = text.length;
      for (const seeker of seekers) first = Math.min(first, seeker.first(from));
      return first;
    },
    last: (from, before) => {
      let last = -1;
      for (const { at, first } of seekers) {
        if (first(from) + at.length <= before)
          last = Math.max(last, text.lastIndexOf(at, before - at.length));
      }
      return last;
    },
  };
}

function firstOf(text: string, at: string): (from: number) => number {
  let found = -1;
  return (from) => {
    if (from > found) {
      const index = text.indexOf(at, from);
      found = index === -1 ? text.length : index;
    }
    return found;
  };
}

/**
 * A URL's userinfo as a WHATWG parser reads it: from the opening to the last `@` before the authority
 * ends (`/`, `?`, `#`; a special scheme's at `\` too). A space inside it is percent-encoded by the
 * parser, which reads a password after a `:` (`https://u:pw @h` sends `pw%20`), so a userinfo holding
 * a space and a `:` is withheld whole (seventh round). Without a `:` it holds no password, and a space
 * ends it, as it ends a URL in prose (`see https://example.com or write to bob@example.com`). In
 * linear time: every boundary is sought once; the end is searched backwards for its last `@` only
 * when there is one, and the scan goes on after it.
 */
function whatwgUserinfo(text: string, spelling: Spelling): UserinfoEnd {
  const anyEnd = firstFrom(text, spelling.end);
  const specialEnd = firstFrom(text, spelling.specialEnd);
  const space = firstFrom(text, spelling.space);
  const colon = firstFrom(text, spelling.colon);
  const ats = atsOf(text, spelling.ats);
  return (opening, from) => {
    const end = (opening[1] === undefined ? anyEnd : specialEnd)(from);
    const first = ats.first(from);
    if (first >= end) return -1;
    let last = ats.last(from, end);
    const spaced = space(from);
    if (spaced < last && colon(from) >= last) {
      if (first >= spaced) return -1;
      last = ats.last(from, spaced);
    }
    // An empty userinfo (`a://@host`) holds nothing and is not withheld: an agent that wrote
    // thousands of `a://@` into metadata had each one grow to `a://withheld_by_keybrake@` (sixth round).
    return last === from ? -1 : last;
  };
}

/**
 * A SIP URI's password: its userinfo runs to the first `@` (its grammar allows none inside), before
 * a `/`, `?`, `#`, `\` or any space, and is withheld only when it holds a `:` (or `%3A`, which a client
 * decodes into one). In linear time, as above (fourth round's bounded regex scanned up to 192
 * characters from each `sip:`, 280 ms for a 2.5 MB answer of `sip:x:`).
 */
function sipPassword(text: string, spelling: Spelling): UserinfoEnd {
  const end = firstFrom(text, spelling.sipEnd);
  const colon = firstFrom(text, spelling.colon);
  const ats = atsOf(text, spelling.ats);
  return (_opening, from) => {
    const first = ats.first(from);
    return first < end(from) && colon(from) < first ? first : -1;
  };
}
