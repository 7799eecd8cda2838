import { domainToASCII, domainToUnicode } from 'node:url';
import { spaceTrimmed } from './parameter-spaces.ts';

/**
 * One e-mail mailbox as an allowlist reads it, for every vendor that takes an address (Resend's
 * recipients and senders, Twilio Verify's email channel): one reader, so a trick refused by one
 * vendor's reading is not admitted by another's.
 */

// One addr-spec: a local part and a domain, neither holding blanks, a second `@`, brackets, quotes
// or separators. Quoted local parts ("a b"@x) are not read: refused rather than guessed.
const ADDR_SPEC = /^[^\s<>@,;:"()[\]\\]+@[^\s<>@,;:"()[\]\\]+$/u;
/**
 * A display name before `<…>`: quoted (no quote, backslash, `@` or `,` inside), or plain words. Plain
 * words hold none of `:` `;` `@` `,` `(` `)` `[` `]` `\`: RFC 5322 reads `A: e@x; <b@y>` as a group
 * that names e@x too, and a comment or escape could name another. A quoted name is one word to RFC
 * 5322, but a reader that splits a field at every comma, or takes the first address it sees, reads
 * `"evil@x.com, " <bob@ok.com>` as evil@x.com (sixth round): so `"Lee, Ann"` is refused with it.
 * Anything else is refused, never guessed.
 */
const DISPLAY_NAME = /^(?:"[^"<>\\@,]*"|[^"<>:;@,()[\]\\]*)$/u;
/**
 * Control characters (CR and LF above all: `X\r\nBcc: e@x <b@y>` would be a header of its own),
 * Unicode line and paragraph separators: no mailbox holds them anywhere.
 */
const CONTROL = /[\p{Cc}\u2028\u2029]/u;
const ASCII = /^[\x21-\x7e]+$/;
const NON_ASCII = /[^\x00-\x7f]/gu;
/** The characters that part mailboxes, names, groups, comments and quotes (RFC 5322's specials but `.`). */
const SPECIALS = /[@,:;<>"()[\]\\]/;

/**
 * Whether `text` holds a non-ASCII character that compatibility decomposition (NFKD, which NFKC
 * starts with) turns into mailbox syntax: the full-width `＠` and `，`, the small `﹫` and `﹐`, `；`,
 * `＜`, the Greek question mark (`;` canonically), `≮` (`<` and a combining stroke). Keybrake reads
 * them as letters of a name or an address; a reader that folds sees `evil＠x.com，<ann@example.com>`
 * as two mailboxes (seventh round). Decomposed one character at a time, so nothing around it can
 * compose it back.
 */
function holdsSpecialLookalike(text: string): boolean {
  for (const [ch] of text.matchAll(NON_ASCII)) {
    if (SPECIALS.test(ch.normalize('NFKD'))) return true;
  }
  return false;
}

/**
 * An RFC 2047 encoded word, or anything a reader might take for one: `=?` and a later `?=`. Mail
 * readers decode an unquoted one in a From's display name, and many a quoted one too, so
 * `=?utf-8?B?Q0VPIDxjZW9AZXZpbC50ZXN0Pg==?= <bot@ok.com>` shows `CEO <ceo@evil.test>` before the real
 * address: the text the display-name rules refuse, in an encoding they did not read (thirteenth
 * round, probe fixes13x finding 5). Refused in a display name rather than decoded: a charset or an
 * encoding Keybrake decodes otherwise than the reader would be a second reading. A name a writer
 * wants in another script is sent as UTF-8, which Resend encodes itself.
 */
const ENCODED_WORD = /=\?.*\?=/su;

/** Whether `text` holds a character no mailbox holds anywhere (CONTROL). */
export function holdsControl(text: string): boolean {
  return CONTROL.test(text);
}

/**
 * Whether `name` is a display name a mailbox may carry before `<…>` once its writer quotes it, read
 * as normaliseAddress reads a quoted one: no control character, no lookalike of mailbox syntax,
 * nothing blank or invisible at its edges, and DISPLAY_NAME as it is written (plain or already
 * quoted) or in quotes: no `"` inside, `\`, `<`, `>`, `@` or `,`. For a name stored apart from its
 * address (a Resend inbox's `from_name`, written by Resend before the inbox's address in every From
 * it sends): `CEO <ceo@evil.test>` or
 * `ceo＠bank.com` there is the sender a reader sees, refused as in a `from`; `Support: Billing`
 * names no address and is taken, as `"Support: Billing" <a@x>` is in a `from` (thirteenth round,
 * fixes13r: it was refused for its `:`). Nor may it hold an encoded word (ENCODED_WORD).
 */
export function isDisplayName(name: string): boolean {
  if (CONTROL.test(name) || holdsSpecialLookalike(name) || ENCODED_WORD.test(name)) return false;
  const text = spaceTrimmed(name);
  // As written (plain or quoted), or as its writer would quote it.
  return text !== undefined && (DISPLAY_NAME.test(text) || DISPLAY_NAME.test(`"${text}"`));
}

/**
 * Normalises one mailbox (`Name <Local@Domain>` → `local@domain`, punycode domain). Undefined when
 * the text is not exactly one mailbox: `Name <a@x> b@y`, `<a@x> <b@y>`, `a@x;b@y`, `a@x,b@y`,
 * `a@x@y` or a group `G: a@x; <b@y>` could each be read by the vendor as another address than the
 * one an allowlist would check. Only ASCII spaces are trimmed around the mailbox, its name and its
 * address (spaceTrimmed): `\u00a0ann@example.com` or `<ann@example.com\ufeff>` is not the allowed
 * address it resembles. Nor does any of it hold a lookalike of mailbox syntax (holdsSpecialLookalike),
 * nor its display name an encoded word (ENCODED_WORD).
 */
export function normaliseAddress(mailbox: string): string | undefined {
  if (CONTROL.test(mailbox) || holdsSpecialLookalike(mailbox)) return undefined;
  const text = spaceTrimmed(mailbox);
  if (text === undefined) return undefined;
  let address: string | undefined = text;
  if (text.endsWith('>')) {
    const open = text.lastIndexOf('<');
    const name = open < 0 ? undefined : spaceTrimmed(text.slice(0, open));
    if (name === undefined || !DISPLAY_NAME.test(name) || ENCODED_WORD.test(name)) return undefined;
    address = spaceTrimmed(text.slice(open + 1, -1));
  }
  if (address === undefined || !ADDR_SPEC.test(address)) return undefined;
  const at = address.indexOf('@');
  const local = address.slice(0, at).toLowerCase();
  const domain = canonicalDomain(address.slice(at + 1));
  return domain === undefined ? undefined : `${local}@${domain}`;
}

/**
 * One address alone, without a display name, normalised as normaliseAddress: Twilio Verify's email
 * `To`, whose definition documents an address and no display name, so `"evil@x.com" <bob@ok.com>`
 * is refused rather than read as bob@ok.com while Twilio may read it its own way (sixth round).
 */
export function normaliseBareAddress(text: string): string | undefined {
  return text.includes('<') || text.includes('>') ? undefined : normaliseAddress(text);
}

/**
 * IDNA's deviation characters (ß, ς, ZWNJ, ZWJ) and the capital sharp s: IDNA 2008 keeps them
 * (`straße.de` is `xn--strae-oqa.de`), UTS 46 transitional processing, as IDNA 2003 and older
 * libraries and runtimes do, maps them away (`strasse.de`, another domain). Which one a vendor
 * applies is unknown, so a domain holding one, as written or once lower-cased (a capital sigma
 * ending it becomes ς), has two readings and is refused; its punycode form has one.
 */
const DEVIATION = /[\u00df\u1e9e\u03c2\u200c\u200d]/u;

/**
 * The domain in punycode, when it has one reading: its lower case is its IDNA form, or the Unicode
 * form of that punycode. IDNA mapping drops default-ignorable code points (`exa\u00ADmple.com`, a
 * zero-width space) and folds width (`ｅxample.com`), so Keybrake would check `example.com` while the
 * raw text is what travels on; such a domain is refused. The raw text is mapped, not its lower case,
 * since the vendor maps the raw text and case folding can part from IDNA's own (sixth round:
 * `x@STRAẞE.de`, lower-cased to `straße.de`, was judged as `xn--strae-oqa.de` where a transitional
 * reading is `strasse.de`). One IDNA rejects is kept, lower-cased, only when plain ASCII.
 */
function canonicalDomain(domain: string): string | undefined {
  const lower = domain.toLowerCase();
  if (DEVIATION.test(lower)) return undefined;
  const ascii = domainToASCII(domain);
  if (ascii.length === 0) return ASCII.test(domain) ? lower : undefined;
  return lower === ascii || lower === domainToUnicode(ascii) ? ascii : undefined;
}
