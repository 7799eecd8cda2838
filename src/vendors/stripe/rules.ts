/**
 * The pricing rules of Stripe's money operations, as review.ts assigns them. classify.ts prices every
 * one (PRICED_STRIPE_RULES there; docs/pricing.md gives each formula and its source); a rule added
 * here and not there is denied with price_unknown: a money operation Keybrake cannot price is never
 * let through as free.
 */
export type StripePricingRule =
  /** `amount` + `currency` in the body (charges, transfers, payouts, top-ups, Treasury movements). */
  | 'amount'
  /** PaymentIntent create: priced like `amount` when `confirm` is set, else free. */
  | 'payment_intent_create'
  /** The amount lives on the PaymentIntent: look it up. */
  | 'payment_intent_confirm'
  /** `amount_to_capture`, else the intent's `amount_capturable`, in the intent's currency. */
  | 'payment_intent_capture'
  /** `amount`, else the charge's amount, in the charge's currency. */
  | 'charge_capture'
  /** `amount`, else what is left on the charge or payment intent named in the body, in its currency. */
  | 'refund'
  /** The invoice's `amount_remaining`. */
  | 'invoice_pay'
  /** A legacy refund of the charge in the path: `amount`, else what is left on it. */
  | 'charge_refund'
  /** `amount`, else what is left of the application fee in the path. */
  | 'application_fee_refund'
  /** `amount`, else what is left of the transfer in the path, pulled back from the connected account. */
  | 'transfer_reversal'
  /** The payout in the path, sent back to the Stripe balance. */
  | 'payout_reversal'
  /** The new authorised total `amount` of the PaymentIntent, in its currency. */
  | 'increment_authorization'
  /** `amount`, else the PaymentIntent's, paid from the customer's cash balance. */
  | 'apply_customer_balance'
  /** Finalising an automatically collected invoice charges it: its `amount_due`. */
  | 'invoice_finalize'
  /** Lines added to or changed on an invoice: their amounts. */
  | 'invoice_lines'
  /** An invoice item: `amount`, or `quantity` × the price, on the invoice or the next one. */
  | 'invoice_item'
  /** A credit note: its total, from Stripe's credit note preview. */
  | 'credit_note'
  /** A customer balance adjustment: `amount` (a credit is money given away). */
  | 'customer_balance_transaction'
  /** A billing credit grant: its monetary amount. */
  | 'credit_grant'
  /** A new subscription: its first invoice, previewed. */
  | 'subscription_create'
  /** A subscription change: the proration it invoices, previewed. */
  | 'subscription_update'
  /** A cancellation that may invoice now (`invoice_now`) or prorate. */
  | 'subscription_cancel'
  /** A resumed subscription: the invoice it issues, previewed. */
  | 'subscription_resume'
  /** A subscription item added, changed or removed: the proration it invoices, previewed. */
  | 'subscription_item'
  /** A subscription schedule created or changed: the subscription it starts, previewed. */
  | 'subscription_schedule'
  /** Cancelling a schedule cancels its subscription: like `subscription_cancel`. */
  | 'subscription_schedule_cancel'
  /**
   * A change after which Stripe charges a subscription's renewals on its own (a schedule released, a
   * discount removed): its next renewal, previewed.
   */
  | 'subscription_renewal'
  /** Accepting a quote creates its subscription or invoice: the quote's total. */
  | 'quote_accept'
  /** Approving an Issuing authorisation spends its `amount` from the Issuing balance. */
  | 'issuing_authorization_approve'
  /** A Terminal reader charging a PaymentIntent: the intent's amount. */
  | 'terminal_process'
  /** A Terminal (Interac) refund: `amount`, else what is left on the charge. */
  | 'terminal_refund'
  /** A Treasury credit or debit reversal: the amount of the received credit or debit. */
  | 'treasury_reversal'
  /** A Climate order: `metric_tons` × the product's price per ton, or `amount` grossed up by its fees. */
  | 'climate_order';

/** The rules that price a call from its own body alone (no read first). */
export const STRIPE_BODY_RULES: ReadonlySet<StripePricingRule> = new Set<StripePricingRule>([
  'amount',
  'payment_intent_create',
  'customer_balance_transaction',
  'credit_grant',
]);

/**
 * The rules priced from Stripe's invoice preview (previews.ts): lookup rules whose automatic tax
 * reads the tax settings of the account the call makes liable (classify.ts, tax-liability.ts).
 */
export const STRIPE_PREVIEW_RULES: readonly StripePricingRule[] = [
  'subscription_create',
  'subscription_update',
  'subscription_cancel',
  'subscription_resume',
  'subscription_item',
  'subscription_schedule',
  'subscription_schedule_cancel',
  'subscription_renewal',
];

/**
 * The rules that may read a call's price from Stripe before it is forwarded (a lookup: the object it
 * acts on, or a preview), every priced rule but those that price the body alone. Each read counts
 * against the key's `requestsPerMinute` (ADR 0003), so `policy-check` warns when a limit of 1 admits
 * them: such a call needs at least 2 and can never pass.
 */
export const STRIPE_LOOKUP_RULES: ReadonlySet<StripePricingRule> = new Set<StripePricingRule>([
  'payment_intent_confirm',
  'payment_intent_capture',
  'charge_capture',
  'refund',
  'invoice_pay',
  'charge_refund',
  'application_fee_refund',
  'transfer_reversal',
  'payout_reversal',
  'increment_authorization',
  'apply_customer_balance',
  'invoice_finalize',
  'invoice_lines',
  'invoice_item',
  'credit_note',
  ...STRIPE_PREVIEW_RULES,
  'quote_accept',
  'issuing_authorization_approve',
  'terminal_process',
  'terminal_refund',
  'treasury_reversal',
  'climate_order',
]);
