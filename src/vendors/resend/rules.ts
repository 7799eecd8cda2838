/**
 * The pricing rules of Resend's money operations, as review.ts assigns them; classify.ts applies
 * them (a broadcast send is denied with price_unknown until its audience can be counted).
 */
export type ResendPricingRule =
  /** One email object in the body: a delivery per `to`, `cc` and `bcc` address. */
  | 'email'
  /** An array of email objects, each priced like `email`. */
  | 'batch'
  /** An inbox email forwarded to the recipients in the body. */
  | 'forward'
  /** A reply: `cc`/`bcc` plus the original sender the request does not name (reply-all: everyone). */
  | 'reply'
  /** A stored draft sent as is: its recipients are not in the request. */
  | 'draft_send'
  /** To a whole segment whose size Keybrake cannot know yet: denied with price_unknown. */
  | 'broadcast_send'
  /** Free, unless `send: true` makes it a broadcast send. */
  | 'broadcast_create';
