/**
 * The pricing rules of Twilio's money operations, as review.ts assigns them. classify.ts prices the
 * ones it implements (PRICED_TWILIO_RULES there); every other one is denied with price_unknown until
 * it does.
 */
export type TwilioPricingRule =
  // Implemented.
  /** A message: per destination, by channel (SMS per segment, MMS, WhatsApp) and country. */
  | 'message'
  /** A call leg per destination: the reserved minutes at the destination rate, plus options and inline TwiML. */
  | 'call'
  /** A live call's update: new inline TwiML's legs, a new TimeLimit at the call's rate (looked up); else free. */
  | 'call_update'
  /** Buying a phone number. */
  | 'phone_number'
  /** Verify: the verification fee plus one contact over its channel. */
  | 'verification'
  /** Lookup v2: the paid `Fields` packages in the query string (none: free). */
  | 'lookup_v2'
  /** Lookup v1: the paid `Type`s and `AddOns` in the query string (none: free). */
  | 'lookup_v1'
  /** A Conversations message: one message per non-chat participant of the conversation (looked up). */
  | 'conversation_message';

/** The rules that may read a call's price from Twilio first (STRIPE_LOOKUP_RULES says why it matters). */
export const TWILIO_LOOKUP_RULES: ReadonlySet<TwilioPricingRule> = new Set<TwilioPricingRule>([
  'call_update',
  'conversation_message',
]);
