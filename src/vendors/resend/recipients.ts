import { holdsControl, normaliseAddress } from '../mailbox.ts';
import { isBlank } from '../parameter-spaces.ts';

/**
 * Named as a recipient when a send reaches people the request does not list (a contact import, an
 * event's contact named by id, a contact without an address): no allowlist pattern but `*` matches
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
  if (items.some(holdsControl)) return undefined;
  const addresses: string[] = [];
  for (const mailbox of items.flatMap(splitAddresses)) {
    const address = normaliseAddress(mailbox);
    if (address === undefined) return undefined;
    addresses.push(address);
  }
  return addresses;
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
