import { domainToASCII } from 'node:url';

/**
 * Named as a recipient when a send reaches people the request does not list (a stored draft, the
 * original sender of a reply, a contact without an address): no allowlist pattern but `*` matches
 * it, so a recipient allowlist denies such a send instead of seeing no recipient at all.
 */
export const UNSEEN_RECIPIENT = '(unseen recipient)';

/**
 * Splits one Resend address field (`"a@x.com"`, `"Ann <a@x.com>"`, `["a@x.com", …]`, or a
 * comma-separated string) into normalised addresses: lower-cased, IDN domains in punycode, so
 * `Bob@BÜCHER.de` and `bob@xn--bcher-kva.de` match the same allowlist pattern. Undefined when the
 * field is neither a string nor an array of strings.
 */
export function addressList(value: unknown): string[] | undefined {
  if (value === undefined || value === null) return [];
  const items = typeof value === 'string' ? [value] : Array.isArray(value) ? value : undefined;
  if (!items?.every((v): v is string => typeof v === 'string')) return undefined;
  return items
    .flatMap(splitAddresses)
    .map(normaliseAddress)
    .filter((a) => a.length > 0);
}

/** Normalises one mailbox (`Name <Local@Domain>` → `local@domain`, punycode domain). */
export function normaliseAddress(mailbox: string): string {
  const angle = /<([^<>]*)>\s*$/.exec(mailbox);
  const address = (angle ? angle[1]! : mailbox).trim().replace(/^"+|"+$/g, '');
  const at = address.lastIndexOf('@');
  if (at < 0) return address.toLowerCase();
  const local = address.slice(0, at).toLowerCase();
  const domain = address.slice(at + 1).toLowerCase();
  const ascii = domainToASCII(domain);
  return `${local}@${ascii.length > 0 ? ascii : domain}`;
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
  return parts.map((p) => p.trim()).filter((p) => p.length > 0);
}
