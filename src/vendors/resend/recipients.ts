import { domainToASCII, domainToUnicode } from 'node:url';
import { isBlank, spaceTrimmed } from '../parameter-spaces.ts';

/**
 * Named as a recipient when a send reaches people the request does not list (a stored draft, the
 * original sender of a reply, a contact without an address): no allowlist pattern but `*` matches
 * it, so a recipient allowlist denies such a send instead of seeing no recipient at all.
 */
export const UNSEEN_RECIPIENT = '(unseen recipient)';

/**
 * Named as a sender when a send goes from an address the request does not show (a template's or an
 * inbox's, a stored broadcast's `from` Keybrake cannot read): like `UNSEEN_RECIPIENT`, only `*`
 * matches it, so a sender allowlist denies such a send instead of seeing no sender at all.
 */
export const UNSEEN_SENDER = '(unseen sender)';

/**
 * Splits one Resend address field (`"a@x.com"`, `"Ann <a@x.com>"`, `["a@x.com", …]`, or a
 * comma-separated string) into normalised addresses: lower-cased, IDN domains in punycode, so
 * `Bob@BÜCHER.de` and `bob@xn--bcher-kva.de` match the same allowlist pattern. Undefined when the
 * field is neither a string nor an array of strings, holds a control character, or names anything
 * that is not one mailbox Keybrake can read (`normaliseAddress`).
 */
export function addressList(value: unknown): string[] | undefined {
  if (value === undefined || value === null) return [];
  const items = typeof value === 'string' ? [value] : Array.isArray(value) ? value : undefined;
  if (!items?.every((v): v is string => typeof v === 'string')) return undefined;
  // Before splitting: a control character anywhere, not only around a mailbox, could start a header.
  if (items.some((v) => CONTROL.test(v))) return undefined;
  const addresses: string[] = [];
  for (const mailbox of items.flatMap(splitAddresses)) {
    const address = normaliseAddress(mailbox);
    if (address === undefined) return undefined;
    addresses.push(address);
  }
  return addresses;
}

// One addr-spec: a local part and a domain, neither holding blanks, a second `@`, brackets, quotes
// or separators. Quoted local parts ("a b"@x) are not read: refused rather than guessed.
const ADDR_SPEC = /^[^\s<>@,;:"()[\]\\]+@[^\s<>@,;:"()[\]\\]+$/u;
/**
 * A display name before `<…>`: quoted (no quote or backslash inside), or plain words. Plain words
 * hold none of `:` `;` `@` `,` `(` `)` `[` `]` `\`: RFC 5322 reads `A: e@x; <b@y>` as a group that
 * names e@x too, and a comment or escape could name another. Anything else is refused, never guessed.
 */
const DISPLAY_NAME = /^(?:"[^"<>\\]*"|[^"<>:;@,()[\]\\]*)$/u;
/**
 * Control characters (CR and LF above all: `X\r\nBcc: e@x <b@y>` would be a header of its own),
 * Unicode line and paragraph separators: no mailbox holds them anywhere.
 */
const CONTROL = /[\p{Cc}\u2028\u2029]/u;
const ASCII = /^[\x21-\x7e]+$/;

/**
 * Normalises one mailbox (`Name <Local@Domain>` → `local@domain`, punycode domain). Undefined when
 * the text is not exactly one mailbox: `Name <a@x> b@y`, `<a@x> <b@y>`, `a@x;b@y`, `a@x@y` or a group
 * `G: a@x; <b@y>` could each be read by Resend as another address than the one an allowlist would
 * check. Only ASCII spaces are trimmed around the mailbox, its name and its address (spaceTrimmed):
 * `\u00a0ann@example.com` or `<ann@example.com\ufeff>` is not the allowed address it resembles.
 */
export function normaliseAddress(mailbox: string): string | undefined {
  if (CONTROL.test(mailbox)) return undefined;
  const text = spaceTrimmed(mailbox);
  if (text === undefined) return undefined;
  let address: string | undefined = text;
  if (text.endsWith('>')) {
    const open = text.lastIndexOf('<');
    const name = open < 0 ? undefined : spaceTrimmed(text.slice(0, open));
    if (name === undefined || !DISPLAY_NAME.test(name)) return undefined;
    address = spaceTrimmed(text.slice(open + 1, -1));
  }
  if (address === undefined || !ADDR_SPEC.test(address)) return undefined;
  const at = address.indexOf('@');
  const local = address.slice(0, at).toLowerCase();
  const domain = canonicalDomain(address.slice(at + 1).toLowerCase());
  return domain === undefined ? undefined : `${local}@${domain}`;
}

/**
 * The domain in punycode, when it has one reading: as given, or the Unicode form of that punycode.
 * IDNA mapping drops default-ignorable code points (`exa\u00ADmple.com`, a zero-width space) and
 * folds width (`ｅxample.com`), so Keybrake would check `example.com` while the raw text is what
 * travels on; such a domain is refused. One IDNA rejects is kept as is only when plain ASCII.
 */
function canonicalDomain(domain: string): string | undefined {
  const ascii = domainToASCII(domain);
  if (ascii.length === 0) return ASCII.test(domain) ? domain : undefined;
  return domain === ascii || domain === domainToUnicode(ascii) ? ascii : undefined;
}

// Commas inside a quoted display name or inside <…> do not separate mailboxes.
function splitAddresses(text: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  let angled = false;
  for (const ch of text) {
    if (ch === '"' && !angled) quoted = !quoted;
    else if (ch === '<' && !quoted) angled = true;
    else if (ch === '>' && !quoted) angled = false;
    if (ch === ',' && !quoted && !angled) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts.filter((p) => !isBlank(p));
}
