/**
 * The pricing rules of Twilio's money operations, as review.ts assigns them. classify.ts prices the
 * ones it implements (PRICED_TWILIO_RULES there); every other one is denied with price_unknown until
 * it does.
 */
export type TwilioPricingRule =
  // Implemented.
  /** A message: per destination, by channel (SMS per segment, MMS, WhatsApp) and country. */
  | 'message'
  /** A call leg per destination: the reserved minutes at the destination rate, plus options. */
  | 'call'
  /** Buying a phone number. */
  | 'phone_number'
  /** Verify: the verification fee plus one contact over its channel. */
  | 'verification'
  /** Lookup v2: the paid `Fields` packages in the query string (none: free). */
  | 'lookup_v2'
  /** Lookup v1: the paid `Type`s and `AddOns` in the query string (none: free). */
  | 'lookup_v1'
  // Not implemented yet: denied with price_unknown.
  /** A Conversations message: one message per non-chat participant of the conversation (SMS, WhatsApp). */
  | 'conversation_message';
