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
 * `scheme://userinfo@`: the userinfo runs to the last `@` before the authority ends, at `/`, `?`,
 * `#`, `\` (a `/` to a browser in an http(s) URL) or a space, as a URL parser reads it. More than
 * two slashes, or backslashes, are read as two by a WHATWG parser (`https:///user:pass@host`). The
 * look-behind starts a scheme only where a word starts, so a long run of letters is scanned once.
 */
const USERINFO = /(?<![A-Za-z0-9+.-])([A-Za-z][A-Za-z0-9+.-]*:[/\\]{2,})[^/?#\\\s]*@/g;

/**
 * A userinfo that starts with a whole host (a dotted name) ended by punctuation (`,` `;` `)` `"` `>`
 * …: no letter, digit, `-._~`, `%` or `:`): `https://shop.example.com,orders@example.com` is a URL
 * and then an address, in prose, though a URL parser reads `shop.example.com,orders` as a user name
 * (`,` is a sub-delim, which RFC 3986 allows there). Such text is left as the vendor wrote it (sixth
 * round: it reached the agent as `https://withheld_by_keybrake@example.com`). A user name that is a
 * dotted name followed by punctuation, not `:`, is the price: no webhook credential looks so.
 */
const HOST_THEN_PUNCTUATION = /^[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+[^A-Za-z0-9._~%:-]/;

/**
 * A SIP URI's password (`sip:user:password@host`, RFC 3261 allows one; it has no `//`). Lengths are
 * bounded so a text of many `sip:` starts is scanned in linear time.
 */
const SIP_USERINFO = /(?<![A-Za-z0-9+.-])(sips?:)[^/?#\\\s@:;]{1,64}:[^/?#\\\s@;]{1,128}@/gi;

/**
 * The same URL percent-encoded inside a form-encoded text (a Twilio alert's `alert_text` holds
 * `url=https%3A%2F%2Fuser%3Apass%40host…`): the userinfo ends at `%2F`, `%3F`, `%23` or `&`.
 */
const ENCODED_USERINFO =
  /(?<![A-Za-z0-9+.-])([A-Za-z][A-Za-z0-9+.-]*%3A%2F%2F)(?:[^%/?#&\\\s]|%(?!2F|3F|23)[0-9A-F]{2})*%40/gi;

/** Texts without which an answer, or a JSON string of it, holds no userinfo: no parse for most answers. */
const HINTS = ['@', '%40', '\\u0040'];
const HINT_BYTES = HINTS.map((hint) => Buffer.from(hint));

/** A JSON string literal, escapes included (it never spans a quote that an escape does not hide). */
const LITERAL = /"(?:[^"\\]|\\.)*"/g;

/**
 * The body of an answer as the agent gets it: the same Buffer when it holds no URL with a userinfo,
 * else a copy with each URL's userinfo replaced by `WITHHELD`. A JSON answer stays valid JSON: only
 * the string values holding such a URL are written again (decoded first, so a URL spelt with `\/` or
 * `\u0040` is found); every other byte is the vendor's. Any other text (Twilio's 2010 API answers XML
 * to a path without `.json`) has its URLs rewritten in place. A body that is not UTF-8 cannot be
 * rewritten without changing its other bytes: one that holds such a URL is withheld whole (a Denial),
 * any other (a recording's audio, an image) passes whole.
 */
export function withholdUrlUserinfo(body: Buffer): Buffer | Denial {
  if (!HINT_BYTES.some((hint) => body.includes(hint))) return body;
  const text = body.toString('utf8');
  if (!isUtf8(body)) return withheld(text, spansNoCharacter) === text ? body : NOT_UTF8;
  const rewritten = withheld(text, never);
  return rewritten === text ? body : Buffer.from(rewritten, 'utf8');
}

const NOT_UTF8 = deny(
  'credential_in_response',
  "The API's answer held the user name or password of a URL in bytes that are not UTF-8, which Keybrake could not take out of it, so it withheld the answer. The call may have taken effect.",
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
function withheld(text: string, kept: Kept): string {
  return isJson(text)
    ? text.replace(LITERAL, (literal) => withheldLiteral(literal, kept))
    : withheldText(text, kept);
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** A JSON string literal with the userinfo of its URLs withheld: the literal itself when it has none. */
function withheldLiteral(literal: string, kept: Kept): string {
  if (!HINTS.some((hint) => literal.includes(hint))) return literal;
  const value = JSON.parse(literal) as string;
  const out = withheldText(value, kept);
  return out === value ? literal : JSON.stringify(out);
}

/** Text with the userinfo of every URL in it, plain or percent-encoded, replaced by the marker. */
function withheldText(text: string, kept: Kept): string {
  const marker = (at: string) => (url: string, scheme: string) =>
    kept(url) ? url : `${scheme}${WITHHELD}${at}`;
  const prose = (url: string, scheme: string) =>
    HOST_THEN_PUNCTUATION.test(url.slice(scheme.length)) ? url : marker('@')(url, scheme);
  return text
    .replace(USERINFO, prose)
    .replace(SIP_USERINFO, marker('@'))
    .replace(ENCODED_USERINFO, marker('%40'));
}
