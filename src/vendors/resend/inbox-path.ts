import { normaliseBareAddress } from '../mailbox.ts';
import { isResendId } from './broadcast.ts';

/**
 * The inbox a path's `{inbox_id}` names, spelt as Keybrake's own lookups put it in a path (price
 * stage; inbox-sends.ts builds the lookups). resend-node 6.38 names an inbox by its id or by its
 * address (`InboxSelector`: `{ inboxId }` or `{ emailAddress }`, sent as
 * `/inboxes/${encodeURIComponent(…)}`, so `/inboxes/support%40inbox.acme.test/…`). Only an id was
 * read before (twelfth round, probe legit finding 1): a draft send or reply by address was refused
 * `path_invalid` while the draft's create and update by address went through.
 *
 * An address is taken only when the segment decodes to exactly one mailbox as every other Resend
 * address is read (mailbox.ts, without a display name: a path holds none), and in a narrow spelling
 * a path segment reads one way only: ASCII letters, digits, `.`, `_`, `+` (escaped: `%2B`, as
 * resend-node sends it; a raw `+` is a blank to a form decoder) and `-` around one `@`,
 * dot-separated labels, no trailing dot. So two addresses (`a@x.com,b@y.com`), an encoded slash,
 * `?`, `#` or `%` (a second decoding), blanks, quotes, a display name, a non-ASCII or
 * trailing-dot domain are refused rather than guessed. The lookup spells it as resend-node does
 * (`encodeURIComponent` of the decoded text, its case kept), so the read goes to the inbox the send
 * goes to.
 */

/** One mailbox in the spelling a path reads one way only; normaliseBareAddress judges it too. */
const PATH_ADDRESS = /^[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$/;
/** RFC 5321's limit on a path (an address): longer is no mailbox Resend issues. */
const MAX_ADDRESS = 254;

/** The inbox segment as Keybrake's lookups spell it; undefined when it names no id or single mailbox. */
export function inboxSegment(segment: unknown): string | undefined {
  if (typeof segment !== 'string') return undefined;
  // A raw `+` reads as a blank to a form decoder: the lookup spells it `%2B`, and the send, forwarded
  // as the agent spelt it, might name another inbox (twelfth round, probe fixes12e). resend-node
  // escapes it; only `%2B` is taken. (No id holds one.)
  if (segment.includes('+')) return undefined;
  if (isResendId(segment)) return segment;
  let decoded: string;
  try {
    decoded = decodeURIComponent(segment);
  } catch {
    // The route stage refuses a malformed escape before this runs; fails closed on its own too.
    return undefined;
  }
  if (decoded.length > MAX_ADDRESS || !PATH_ADDRESS.test(decoded)) return undefined;
  if (normaliseBareAddress(decoded) === undefined) return undefined;
  return encodeURIComponent(decoded);
}
