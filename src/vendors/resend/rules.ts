/**
 * The pricing rules of Resend's money operations, as review.ts assigns them; classify.ts applies
 * them (broadcast.ts builds the lookups a broadcast is priced by).
 */
export type ResendPricingRule =
  /** One email object in the body: a delivery per `to`, `cc` and `bcc` address. */
  | 'email'
  /** An array of email objects, each priced like `email`. */
  | 'batch'
  /** An inbox email forwarded to the recipients in the body. */
  | 'forward'
  /**
   * A reply: `cc`/`bcc` plus the people of the email it answers, looked up (its `from` and
   * `reply_to`; reply-all: its `to`, `cc` and `bcc` too).
   */
  | 'reply'
  /** A stored draft sent as is: looked up (the draft's to/cc/bcc; a reply draft's email as for `reply`). */
  | 'draft_send'
  /**
   * A stored broadcast sent to its segment: looked up (the broadcast, then its segment's contacts,
   * counted page by page up to `maxBroadcastContacts`), one delivery per contact.
   */
  | 'broadcast_send'
  /** Free as a draft; with `send` it goes to the segment in the body at once, priced like `broadcast_send`. */
  | 'broadcast_create'
  /**
   * An edit of a stored broadcast: a free write, unless it names a segment (`segment_id`, legacy
   * `audience_id`), which retargets a send already scheduled: then checked and priced like a
   * scheduled send to that segment.
   */
  | 'broadcast_update';

/** The rules that may read a call's price from Resend first (STRIPE_LOOKUP_RULES says why it matters). */
export const RESEND_LOOKUP_RULES: ReadonlySet<ResendPricingRule> = new Set<ResendPricingRule>([
  'reply',
  'draft_send',
  'broadcast_send',
  'broadcast_create',
  'broadcast_update',
]);
