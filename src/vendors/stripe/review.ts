import type { ReviewRule } from '../catalog/review.ts';
import type { StripePricingRule } from './rules.ts';

/**
 * The hand-reviewed classification of every Stripe operation (ADR 0007 §1), applied in order by
 * `npm run catalogs` to the pinned definition to generate operations.ts: the first rule that matches
 * an operation gives its class. A GET no rule names is a read; every other operation must be named.
 * Money and access are reviewed one operation at a time; patterns only group what is plainly alike.
 */
export const STRIPE_REVIEW: readonly ReviewRule<StripePricingRule>[] = [
  // ── Sensitive: credentials, and links or sessions that let someone else into the account. ──────
  {
    match: '* /v1/apps/secrets/**',
    class: 'sensitive',
    note: 'Stripe Apps secrets store: reads return the secret payloads',
  },
  { match: '* /v1/ephemeral_keys/**', class: 'sensitive', note: 'mints or revokes a client API key' },
  {
    match: 'POST /v1/accounts/{account}/login_links',
    class: 'sensitive',
    note: 'a link into the Express dashboard',
  },
  {
    match: 'POST /v1/account_links',
    class: 'sensitive',
    note: 'a link to onboard or update a connected account',
  },
  {
    match: 'POST /v1/account_sessions',
    class: 'sensitive',
    note: 'a client secret for embedded Connect components acting on the account',
  },
  {
    match: 'POST /v1/customer_sessions',
    class: 'sensitive',
    note: "a client secret giving a browser access to the customer's saved payment methods",
  },
  {
    match: 'POST /v1/billing_portal/sessions',
    class: 'sensitive',
    note: "a URL that lets whoever holds it manage the customer's subscriptions and payment methods",
  },
  {
    match: 'POST /v1/terminal/connection_tokens',
    class: 'sensitive',
    note: 'a credential for a Terminal SDK',
  },
  {
    match: 'POST /v1/terminal/onboarding_links',
    class: 'sensitive',
    note: 'a link to onboard Terminal hardware',
  },
  {
    match: 'POST /v1/webhook_endpoints',
    class: 'sensitive',
    note: 'returns the signing secret, and sends the account’s events where the caller says',
  },
  {
    match: 'POST /v1/webhook_endpoints/{webhook_endpoint}',
    class: 'sensitive',
    note: 'redirects the account’s events',
  },
  {
    match: 'GET /v1/webhook_endpoints/**',
    class: 'read',
    note: 'the schema lists `secret`, but Stripe returns it only at creation',
  },
  {
    match: 'POST /v1/file_links',
    class: 'sensitive',
    note: 'a public link to a file (identity documents, disputes)',
  },
  {
    match: 'POST /v1/file_links/{link}',
    class: 'sensitive',
    note: 'extends or revives a public link to a file',
  },
  {
    match: '* /v1/forwarding/requests/**',
    class: 'sensitive',
    note: 'forwards card details to a third party; reads return the request sent, headers included',
  },
  {
    match: 'GET /v1/issuing/cards/{card}',
    class: 'sensitive',
    note: "with expand=number,cvc it reveals a card's full number and CVC: a spending credential",
  },

  // ── Test helpers: act on test-mode objects only (a live key is refused by Stripe). ───────────
  {
    match: 'POST|DELETE /v1/test_helpers/**',
    class: 'write',
    note: 'test mode only: simulates events on test objects',
  },

  // ── Payments. ───────────────────────────────────────────────────────────────────────────────
  { match: 'POST /v1/charges', class: 'money', rule: 'amount' },
  {
    match: 'POST /v1/charges/{charge}/capture',
    class: 'money',
    rule: 'charge_capture',
    locks: ['{charge}'],
  },
  {
    match: 'POST /v1/charges/{charge}/refund',
    id: 'stripe.charges.refund',
    class: 'money',
    rule: 'charge_refund',
    locks: ['{charge}'],
    note: 'legacy refund: the charge is in the path',
  },
  {
    match: 'POST /v1/charges/{charge}/refunds',
    class: 'money',
    rule: 'charge_refund',
    locks: ['{charge}'],
    note: 'legacy refund: the charge is in the path',
  },
  { match: 'POST /v1/charges/{charge}/refunds/{refund}', class: 'write', note: 'metadata of a refund' },
  { match: 'POST /v1/charges/{charge}', class: 'write', note: 'description, metadata, fraud details' },
  { match: 'GET /v1/charges/{charge}/dispute', id: 'stripe.charges.retrieve_dispute', class: 'read' },
  {
    match: 'POST /v1/charges/{charge}/dispute',
    id: 'stripe.charges.update_dispute',
    class: 'write',
    note: 'dispute evidence',
  },
  {
    match: 'POST /v1/charges/{charge}/dispute/close',
    id: 'stripe.charges.close_dispute',
    class: 'destructive',
    note: 'concedes the dispute: the disputed amount is lost for good',
  },
  { match: 'POST /v1/disputes/{dispute}', class: 'write', note: 'dispute evidence' },
  {
    match: 'POST /v1/disputes/{dispute}/close',
    class: 'destructive',
    note: 'concedes the dispute: the disputed amount is lost for good',
  },
  { match: 'POST /v1/refunds', class: 'money', rule: 'refund', locks: ['charge', 'payment_intent'] },
  { match: 'POST /v1/refunds/{refund}', class: 'write', note: 'metadata' },
  { match: 'POST /v1/refunds/{refund}/cancel', class: 'write', note: 'keeps money that was to be refunded' },
  { match: 'POST /v1/payment_intents', class: 'money', rule: 'payment_intent_create' },
  {
    match: 'POST /v1/payment_intents/{intent}',
    class: 'write',
    locks: ['{intent}'],
    note: 'changes the amount a later confirm is priced from',
  },
  {
    match: 'POST /v1/payment_intents/{intent}/confirm',
    class: 'money',
    rule: 'payment_intent_confirm',
    locks: ['{intent}'],
  },
  {
    match: 'POST /v1/payment_intents/{intent}/capture',
    class: 'money',
    rule: 'payment_intent_capture',
    locks: ['{intent}'],
  },
  {
    match: 'POST /v1/payment_intents/{intent}/increment_authorization',
    class: 'money',
    rule: 'increment_authorization',
    locks: ['{intent}'],
  },
  {
    match: 'POST /v1/payment_intents/{intent}/apply_customer_balance',
    class: 'money',
    rule: 'apply_customer_balance',
    locks: ['{intent}'],
  },
  { match: 'POST /v1/payment_intents/{intent}/cancel', class: 'write' },
  { match: 'POST /v1/payment_intents/{intent}/verify_microdeposits', class: 'write' },
  {
    match: 'POST /v1/payment_links/**',
    class: 'write',
    note: 'a hosted page: the customer pays the merchant',
  },
  {
    match: 'POST /v1/checkout/sessions/**',
    class: 'write',
    note: 'a hosted page: the payer pays the merchant; priced when it names a customer, whose saved cards it offers (checkout.ts)',
  },
  { match: 'POST /v1/setup_intents/**', class: 'write', note: 'saves a payment method; nothing is charged' },
  // Attaching a method to a customer adds to what that customer's invoices may be taxed by (its
  // billing details: payment-method-owners.ts); it locks the customer, as the method's update and
  // detach lease it (thirteenth round).
  {
    match: 'POST /v1/payment_methods/{payment_method}/attach',
    class: 'write',
    locks: ['customer', 'customer_account'],
  },
  {
    match: 'POST /v1/payment_methods/**',
    class: 'write',
    note: 'cloning a customer’s saved one onto a connected account is refused (clones.ts)',
  },
  { match: 'POST /v1/payment_method_configurations/**', class: 'write' },
  { match: 'POST /v1/payment_method_domains/**', class: 'write' },
  {
    match: 'POST /v1/sources/**',
    class: 'write',
    note: 'legacy payment sources; charging one is a charge; one cloned from a shared source or a customer’s card is refused (clones.ts)',
  },
  {
    match: 'POST /v1/tokens',
    class: 'write',
    note: 'tokenises card or bank details; a token cloned from a customer’s saved card is refused (clones.ts)',
  },
  { match: 'POST /v1/payment_records/**', class: 'write', note: 'records payments made outside Stripe' },
  {
    match: 'POST /v1/radar/payment_evaluations',
    class: 'money_unpriced',
    note: 'Radar bills every payment it evaluates; this one scores a payment processed elsewhere',
  },
  { match: 'POST /v1/radar/**', class: 'write', note: 'value lists and their items' },
  { match: 'POST /v1/reviews/{review}/approve', class: 'write' },

  // ── Money out of the account, and between its balances. ───────────────────────────────────
  { match: 'POST /v1/transfers', class: 'money', rule: 'amount' },
  { match: 'POST /v1/transfers/{transfer}', class: 'write', note: 'metadata' },
  {
    match: 'POST /v1/transfers/{id}/reversals',
    class: 'money',
    rule: 'transfer_reversal',
    locks: ['{id}'],
    note: "pulls money back from a connected account's balance",
  },
  { match: 'POST /v1/transfers/{transfer}/reversals/{id}', class: 'write', note: 'metadata' },
  { match: 'POST /v1/payouts', class: 'money', rule: 'amount' },
  { match: 'POST /v1/payouts/{payout}', class: 'write', note: 'metadata' },
  { match: 'POST /v1/payouts/{payout}/cancel', class: 'write', note: 'keeps the money in the balance' },
  {
    match: 'POST /v1/payouts/{payout}/reverse',
    class: 'money',
    rule: 'payout_reversal',
    locks: ['{payout}'],
  },
  {
    match: 'POST /v1/topups',
    class: 'money',
    rule: 'amount',
    note: "debits the business's bank account into the Stripe balance",
  },
  { match: 'POST /v1/topups/{topup}', class: 'write', note: 'metadata' },
  { match: 'POST /v1/topups/{topup}/cancel', class: 'write' },
  {
    match: 'POST /v1/application_fees/{id}/refund',
    id: 'stripe.application_fees.refund',
    class: 'money',
    rule: 'application_fee_refund',
    locks: ['{id}'],
    note: 'legacy form of POST /v1/application_fees/{id}/refunds',
  },
  {
    match: 'POST /v1/application_fees/{id}/refunds',
    class: 'money',
    rule: 'application_fee_refund',
    locks: ['{id}'],
  },
  { match: 'POST /v1/application_fees/{fee}/refunds/{id}', class: 'write', note: 'metadata' },
  { match: 'POST /v1/treasury/outbound_payments', class: 'money', rule: 'amount' },
  { match: 'POST /v1/treasury/outbound_transfers', class: 'money', rule: 'amount' },
  {
    match: 'POST /v1/treasury/inbound_transfers',
    class: 'money',
    rule: 'amount',
    note: 'debits a linked bank account into the financial account',
  },
  {
    match: 'POST /v1/treasury/credit_reversals',
    class: 'money',
    rule: 'treasury_reversal',
    locks: ['received_credit'],
  },
  {
    match: 'POST /v1/treasury/debit_reversals',
    class: 'money',
    rule: 'treasury_reversal',
    locks: ['received_debit'],
  },
  { match: 'POST /v1/treasury/*/{*}/cancel', class: 'write', note: 'stops a pending movement' },
  {
    match: 'POST /v1/treasury/financial_accounts/{financial_account}/close',
    class: 'destructive',
    note: 'closes a financial account',
  },
  {
    match: 'POST /v1/treasury/financial_accounts/{financial_account}',
    class: 'destructive',
    note: 'forwarding_settings: where the balance goes when the account closes',
  },
  { match: 'POST /v1/treasury/financial_accounts/**', class: 'write' },
  { match: 'POST /v1/climate/orders', class: 'money', rule: 'climate_order', note: 'buys carbon removal' },
  { match: 'POST /v1/climate/orders/**', class: 'write', note: 'metadata, or a cancellation' },

  // ── Billing: invoices, subscriptions, quotes, credits. ───────────────────────────────────
  {
    match: 'POST /v1/invoices',
    class: 'write',
    note: 'a draft; amounts enter through invoice items and lines, which are priced',
  },
  { match: 'POST /v1/invoices/create_preview', class: 'write', note: 'a preview: nothing is created' },
  {
    match: 'POST /v1/invoices/{invoice}',
    class: 'write',
    locks: ['{invoice}'],
    note: 'changes what a later pay is priced from',
  },
  {
    match: 'DELETE /v1/invoices/{invoice}',
    class: 'write',
    note: 'Stripe deletes only draft invoices: nothing was charged',
  },
  {
    match: 'POST /v1/invoices/{invoice}/finalize',
    class: 'money',
    rule: 'invoice_finalize',
    locks: ['{invoice}'],
    note: 'an automatically collected invoice is charged once finalised',
  },
  { match: 'POST /v1/invoices/{invoice}/pay', class: 'money', rule: 'invoice_pay', locks: ['{invoice}'] },
  {
    match: 'POST /v1/invoices/{invoice}/add_lines',
    class: 'money',
    rule: 'invoice_lines',
    locks: ['{invoice}'],
  },
  {
    match: 'POST /v1/invoices/{invoice}/update_lines',
    class: 'money',
    rule: 'invoice_lines',
    locks: ['{invoice}'],
  },
  {
    match: 'POST /v1/invoices/{invoice}/lines/{line_item_id}',
    class: 'money',
    rule: 'invoice_lines',
    locks: ['{invoice}'],
  },
  {
    match: 'POST /v1/invoices/{invoice}/remove_lines',
    class: 'money',
    rule: 'invoice_lines',
    locks: ['{invoice}'],
    note: 'removing a credit line raises what Stripe charges on its own',
  },
  {
    match: 'POST /v1/invoices/{invoice}/attach_payment',
    class: 'write',
    locks: ['{invoice}'],
    note: 'settles the invoice with a payment that was priced when it was confirmed',
  },
  {
    match: 'POST /v1/invoices/{invoice}/send',
    class: 'money',
    rule: 'invoice_finalize',
    locks: ['{invoice}'],
    note: 'finalises a draft before emailing it: priced as finalize; an invoice already finalised, free',
  },
  { match: 'POST /v1/invoices/{invoice}/void', class: 'write', note: 'cancels an open invoice' },
  { match: 'POST /v1/invoices/{invoice}/mark_uncollectible', class: 'write' },
  { match: 'POST /v1/invoice_rendering_templates/**', class: 'write' },
  { match: 'POST /v1/invoiceitems', class: 'money', rule: 'invoice_item', locks: ['invoice'] },
  {
    match: 'POST /v1/invoiceitems/{invoiceitem}',
    class: 'money',
    rule: 'invoice_item',
    locks: ['{invoiceitem}'],
    note: 'read for its currency and quantity; changes what a later finalize is priced from',
  },
  {
    match: 'DELETE /v1/invoiceitems/{invoiceitem}',
    class: 'money',
    rule: 'invoice_item',
    locks: ['{invoiceitem}'],
    note: 'deleting a credit item raises what Stripe charges on its own',
  },
  { match: 'POST /v1/credit_notes', class: 'money', rule: 'credit_note', locks: ['invoice'] },
  { match: 'POST /v1/credit_notes/{id}', class: 'write', note: 'memo and metadata' },
  {
    match: 'POST /v1/credit_notes/{id}/void',
    class: 'money_unpriced',
    note: 'removes a credit from an invoice or the customer balance: raises what Stripe collects on its own',
  },
  {
    match: 'POST /v1/customers/{customer}/balance_transactions',
    class: 'money',
    rule: 'customer_balance_transaction',
    // Changes the balance a subscription preview applies: locked as a customer update is.
    locks: ['{customer}'],
    note: "credits or debits the customer's balance, which pays future invoices",
  },
  {
    match: 'POST /v1/customers/{customer}/balance_transactions/{transaction}',
    class: 'write',
    note: 'metadata',
  },
  {
    match: 'POST /v1/billing/credit_grants',
    class: 'money',
    rule: 'credit_grant',
    note: 'billing credits given away',
  },
  {
    match: 'POST /v1/billing/credit_grants/{id}/void',
    class: 'money_unpriced',
    note: 'withdraws billing credits: Stripe bills the usage they would have paid on its own',
  },
  {
    match: 'POST /v1/billing/credit_grants/{id}/expire',
    class: 'money_unpriced',
    note: 'withdraws billing credits: Stripe bills the usage they would have paid on its own',
  },
  {
    match: 'POST /v1/billing/credit_grants/**',
    class: 'write',
    note: 'metadata; an expires_at other than empty withdraws the credits: money_unpriced by its body (withdrawals.ts)',
  },
  {
    match: 'POST /v1/billing/**',
    class: 'write',
    note: 'alerts, meters, usage events: usage is billed to the customer, not paid out',
  },
  { match: 'POST /v1/billing_portal/configurations/**', class: 'write' },
  // Subscriptions are priced by Stripe's invoice preview, which reads the customer or the subscription.
  // The customer by either name: a `customer_account` is locked as given, so a tax id written for it
  // (`POST /v1/tax_ids owner[customer_account]`) waits (thirteenth round).
  {
    match: 'POST /v1/subscriptions',
    class: 'money',
    rule: 'subscription_create',
    locks: ['customer', 'customer_account'],
  },
  {
    match: 'POST /v1/customers/{customer}/subscriptions',
    class: 'money',
    rule: 'subscription_create',
    locks: ['{customer}'],
    note: 'legacy form of POST /v1/subscriptions',
  },
  {
    match: 'POST /v1/subscriptions/{subscription_exposed_id}',
    class: 'money',
    rule: 'subscription_update',
    locks: ['{subscription_exposed_id}'],
  },
  {
    match: 'POST /v1/customers/{customer}/subscriptions/{subscription_exposed_id}',
    class: 'money',
    rule: 'subscription_update',
    locks: ['{subscription_exposed_id}'],
    note: 'legacy form of POST /v1/subscriptions/{subscription_exposed_id}',
  },
  {
    match: 'DELETE /v1/subscriptions/{subscription_exposed_id}',
    class: 'money',
    rule: 'subscription_cancel',
    locks: ['{subscription_exposed_id}'],
    note: 'may invoice now (invoice_now, prorate)',
  },
  {
    match: 'DELETE /v1/customers/{customer}/subscriptions/{subscription_exposed_id}',
    class: 'money',
    rule: 'subscription_cancel',
    locks: ['{subscription_exposed_id}'],
    note: 'legacy form of DELETE /v1/subscriptions/{subscription_exposed_id}',
  },
  {
    match: 'POST /v1/subscriptions/{subscription}/resume',
    class: 'money',
    rule: 'subscription_resume',
    locks: ['{subscription}'],
  },
  {
    match: 'POST /v1/subscriptions/{subscription}/migrate',
    class: 'write',
    // A preview of the subscription reads its billing mode (prorations follow it): locked like any
    // other change of what a priced call reads (sixth round).
    locks: ['{subscription}'],
    note: 'changes the billing mode, not what is billed',
  },
  {
    match: 'DELETE /v1/subscriptions/{subscription_exposed_id}/discount',
    class: 'money',
    rule: 'subscription_renewal',
    locks: ['{subscription_exposed_id}'],
    note: 'removes a discount: Stripe charges the renewals without it on its own',
  },
  {
    match: 'DELETE /v1/customers/{customer}/subscriptions/{subscription_exposed_id}/discount',
    class: 'money',
    rule: 'subscription_renewal',
    locks: ['{subscription_exposed_id}'],
    note: 'removes a discount: Stripe charges the renewals without it on its own',
  },
  {
    match: 'GET /v1/customers/{customer}/subscriptions/{subscription_exposed_id}/discount',
    id: 'stripe.customers.subscriptions.retrieve_discount',
    class: 'read',
  },
  {
    match: 'POST /v1/subscription_items',
    class: 'money',
    rule: 'subscription_item',
    locks: ['subscription'],
    note: 'prorations',
  },
  {
    match: 'POST|DELETE /v1/subscription_items/{item}',
    class: 'money',
    rule: 'subscription_item',
    locks: ['{item}'],
    note: 'prorations; the subscription the item belongs to is leased when it is read',
  },
  {
    match: 'POST /v1/subscription_schedules',
    class: 'money',
    rule: 'subscription_schedule',
    locks: ['customer', 'customer_account'],
  },
  {
    match: 'POST /v1/subscription_schedules/{schedule}',
    class: 'money',
    rule: 'subscription_schedule',
    locks: ['{schedule}'],
  },
  {
    match: 'POST /v1/subscription_schedules/{schedule}/cancel',
    class: 'money',
    rule: 'subscription_schedule_cancel',
    locks: ['{schedule}'],
  },
  {
    match: 'POST /v1/subscription_schedules/{schedule}/release',
    class: 'money',
    rule: 'subscription_renewal',
    locks: ['{schedule}'],
    note: 'detaches the schedule: the subscription renews past its end (which may have cancelled it)',
  },
  {
    match: 'POST /v1/quotes/{quote}/accept',
    class: 'money',
    rule: 'quote_accept',
    locks: ['{quote}'],
    note: 'creates the subscription or invoice the quote describes',
  },
  {
    match: 'POST /v1/quotes/{quote}',
    class: 'write',
    locks: ['{quote}'],
    note: 'changes the total a later accept is priced from',
  },
  {
    // Every write of an existing quote locks it: finalising or cancelling a draft an accept was
    // priced from must wait for the accept to settle (sixth round: a finalize went through mid-accept).
    match: 'POST /v1/quotes/{quote}/*',
    class: 'write',
    locks: ['{quote}'],
    note: 'finalisation (sends nothing), cancellation',
  },
  { match: 'POST /v1/quotes/**', class: 'write', note: 'drafts' },
  { match: 'POST /v1/coupons/**', class: 'write' },
  { match: 'POST /v1/promotion_codes/**', class: 'write' },
  // A Price (or a Plan, whose id goes wherever a Price id goes) and a shipping rate are read to price
  // invoice items and lines, Checkout Sessions, previews and invoice shipping: each write that can
  // change what such a read finds locks the object, so it waits for the priced call to settle
  // (sixth round: `currency_options[eur][unit_amount]` raised from €1 to €9 000 mid-call).
  {
    match: 'POST /v1/prices/{price}',
    class: 'write',
    locks: ['{price}'],
    note: 'changes currency_options a priced call reads; naming tax_behavior makes it money_unpriced (tax-inputs.ts)',
  },
  { match: 'POST /v1/prices/**', class: 'write' },
  {
    match: 'POST /v1/plans',
    class: 'write',
    locks: ['id'],
    note: 'a custom id may reuse a deleted plan’s, which a priced call reads',
  },
  { match: 'POST /v1/plans/{plan}', class: 'write', locks: ['{plan}'] },
  {
    match: 'DELETE /v1/plans/{plan}',
    class: 'destructive',
    locks: ['{plan}'],
    note: 'frees the id for a plan at another amount',
  },
  {
    // Automatic tax reads a product's `tax_code`: an update waits for a preview that leased the
    // product (seventh round). Every update, as for a customer: telling the fields apart would be a guess.
    match: 'POST /v1/products/{id}',
    class: 'write',
    locks: ['{id}'],
    note: 'changes the tax_code automatic tax reads: naming tax_code makes it money_unpriced (tax-inputs.ts)',
  },
  { match: 'POST /v1/products/**', class: 'write' },
  {
    match: 'POST /v1/shipping_rates/{shipping_rate_token}',
    class: 'write',
    locks: ['{shipping_rate_token}'],
    note: 'changes the fixed amount an invoice shipping cost reads; naming tax_behavior makes it money_unpriced (tax-inputs.ts)',
  },
  { match: 'POST /v1/shipping_rates/**', class: 'write' },
  { match: 'POST /v1/tax_rates/**', class: 'write' },
  { match: 'POST /v1/entitlements/**', class: 'write' },

  // ── Customers. ───────────────────────────────────────────────────────────────────────────
  { match: 'POST /v1/customers', class: 'write' },
  // A subscription create, a schedule and an invoice preview read the customer as it is (balance,
  // address and tax status, discount): every write of those locks the customer, so it waits for a
  // call priced from such a preview to settle (sixth round: tax_exempt, an address and a $5 000
  // balance transaction went through mid-preview). Locked whatever the update names: telling apart
  // the fields no preview reads would be a guess.
  { match: 'POST /v1/customers/{customer}', class: 'write', locks: ['{customer}'] },
  { match: 'POST /v1/customers/{customer}/cash_balance', class: 'write', note: 'reconciliation settings' },
  {
    match: 'POST /v1/customers/{customer}/funding_instructions',
    class: 'write',
    note: 'bank transfer details for the customer to pay into',
  },
  {
    match: 'POST /v1/customers/{customer}/bank_accounts/{id}/verify',
    id: 'stripe.customers.bank_accounts.verify',
    class: 'write',
  },
  // The three paths are one operation of the definition ("Create a card"): each takes a new `source`
  // (or `card`, `bank_account`), which becomes the default of a customer that has none. A new default
  // source is what makes a customer update with `source` unpriced (billing.ts NEW_CUSTOMER_SOURCE):
  // Stripe retries past_due invoices on it, amounts no single read gives (sixth round: a free write).
  {
    match: 'POST /v1/customers/{customer}/sources',
    class: 'money_unpriced',
    locks: ['{customer}'],
    note: "a new payment source, the customer's default when it has none",
  },
  {
    match: 'POST /v1/customers/{customer}/cards',
    class: 'money_unpriced',
    locks: ['{customer}'],
    note: "a new payment source, the customer's default when it has none",
  },
  {
    match: 'POST /v1/customers/{customer}/bank_accounts',
    class: 'money_unpriced',
    locks: ['{customer}'],
    note: "a new payment source, the customer's default when it has none",
  },
  // A customer's tax ids decide the automatic tax a preview computes (a VAT id makes an invoice
  // reverse charge; removing it ends that): each create or delete locks the customer, as a customer
  // update does (seventh round: all four tax id writes went through mid-preview).
  {
    match: 'POST /v1/customers/{customer}/tax_ids',
    class: 'write',
    locks: ['{customer}'],
    note: 'a tax id of the customer: changes the tax its invoices are charged',
  },
  {
    match: 'DELETE /v1/customers/{customer}/tax_ids/{id}',
    class: 'destructive',
    locks: ['{customer}'],
    note: 'removes a tax id of the customer: may end a reverse charge or an exemption',
  },
  // A source's or card's billing address (`address_country`, `owner[address]`) may decide where a
  // customer without an address is taxed under automatic tax, and removing the default source
  // changes which one does: these lock the customer a preview leases (thirteenth round, fixes13s:
  // `POST /v1/customers/cus_1/sources/card_1 address_country=DE` went through mid-preview).
  {
    match: 'POST /v1/customers/{customer}/*/**',
    class: 'write',
    locks: ['{customer}'],
    note: "the customer's payment sources and cards: what the customer pays with, whose billing address automatic tax may read",
  },
  ...['sources', 'cards', 'bank_accounts'].map((kind) => ({
    match: `DELETE /v1/customers/{customer}/${kind}/{id}`,
    class: 'destructive' as const,
    locks: ['{customer}'],
    note: 'removes a payment source of the customer, perhaps its default, whose billing address automatic tax may read',
  })),
  {
    match: 'DELETE /v1/customers/{customer}/discount',
    class: 'money_unpriced',
    locks: ['{customer}'],
    note: "removes the discount on every renewal of the customer's subscriptions, which Stripe charges on its own",
  },
  { match: 'GET /v1/customers/{customer}/discount', id: 'stripe.customers.retrieve_discount', class: 'read' },
  {
    match: 'POST /v1/tax_ids',
    class: 'write',
    locks: ['owner[customer]', 'owner[customer_account]'],
    note: 'a tax id of a customer (owner[type]=customer), of the account or of a connected account',
  },
  {
    // The request names only the tax id: classify reads it for its owner and leases that customer
    // (tax-ids.ts).
    match: 'DELETE /v1/tax_ids/{id}',
    class: 'destructive',
    note: 'removes a tax id: of a customer, it may end a reverse charge or an exemption',
  },

  // ── Connect: connected accounts and where their money is paid out to. ───────────────────────
  {
    match: 'POST /v1/accounts',
    class: 'write',
    note: 'a new connected account receives money only through transfers, which are priced',
  },
  {
    match: 'POST /v1/accounts/{account}',
    class: 'destructive',
    note: 'may replace the payout bank account (external_account) and payout settings',
  },
  {
    match: 'POST|DELETE /v1/accounts/{account}/external_accounts/**',
    class: 'destructive',
    note: 'payout destinations',
  },
  {
    match: 'POST|DELETE /v1/accounts/{account}/bank_accounts/**',
    class: 'destructive',
    note: 'payout destinations',
  },
  { match: 'POST /v1/external_accounts/{id}', class: 'destructive', note: 'a payout destination' },
  {
    match: 'POST|DELETE /v1/accounts/{account}/persons/**',
    class: 'destructive',
    note: 'owners and representatives: who Stripe verifies the account as',
  },
  {
    match: 'POST|DELETE /v1/accounts/{account}/people/**',
    class: 'destructive',
    note: 'owners and representatives: who Stripe verifies the account as',
  },
  { match: 'POST /v1/accounts/{account}/reject', class: 'destructive', note: 'closes the connected account' },
  { match: 'POST /v1/accounts/{account}/unreject', class: 'write', note: 'undoes a rejection' },
  { match: 'POST /v1/accounts/{account}/capabilities/{capability}', class: 'write' },
  {
    match: 'POST /v1/balance_settings',
    class: 'destructive',
    note: 'payout schedule and automatic transfer rules: a standing sweep of the balance to a payout_method',
  },

  // ── Issuing: the account's own cards. ────────────────────────────────────────────────────
  {
    match: 'POST /v1/issuing/authorizations/{authorization}/approve',
    class: 'money',
    rule: 'issuing_authorization_approve',
    locks: ['{authorization}'],
  },
  { match: 'POST /v1/issuing/authorizations/**', class: 'write', note: 'metadata, or a decline' },
  {
    match: 'POST /v1/issuing/cards',
    class: 'money_unpriced',
    note: 'a new card that can spend from the Issuing balance',
  },
  {
    match: 'POST /v1/issuing/cards/{card}',
    class: 'money_unpriced',
    note: 'activates cards and changes their spending limits',
  },
  {
    match: 'POST /v1/issuing/cardholders/{cardholder}',
    class: 'money_unpriced',
    note: "changes the spending limits of all the cardholder's cards",
  },
  {
    match: 'POST /v1/issuing/tokens/{token}',
    class: 'money_unpriced',
    note: 'activates a card in a digital wallet',
  },
  { match: 'POST /v1/issuing/**', class: 'write', note: 'new cardholders, disputes, designs, metadata' },

  // ── Terminal. ────────────────────────────────────────────────────────────────────────────
  {
    match: 'POST /v1/terminal/readers/{reader}/process_payment_intent',
    class: 'money',
    rule: 'terminal_process',
    locks: ['payment_intent'],
  },
  {
    match: 'POST /v1/terminal/readers/{reader}/confirm_payment_intent',
    class: 'money',
    rule: 'terminal_process',
    locks: ['payment_intent'],
  },
  {
    match: 'POST /v1/terminal/readers/{reader}/refund_payment',
    class: 'money',
    rule: 'terminal_refund',
    locks: ['charge', 'payment_intent'],
  },
  { match: 'POST /v1/terminal/refunds', class: 'money', rule: 'terminal_refund' },
  { match: 'POST /v1/terminal/**', class: 'write', note: 'readers, locations, configurations, displays' },

  // ── Everything else that writes. ─────────────────────────────────────────────────────────
  {
    match: 'POST /v1/identity/verification_sessions',
    class: 'money_unpriced',
    note: 'Stripe charges per completed verification',
  },
  {
    // Twelfth round (probe fixesr): a glob admitted it as a plain write.
    match: 'POST /v1/identity/verification_sessions/{session}/redact',
    class: 'destructive',
    note: "deletes the session's identity documents and collected data for good",
  },
  { match: 'POST /v1/identity/verification_sessions/**', class: 'write' },
  {
    match: 'POST /v1/financial_connections/accounts/{account}/refresh',
    class: 'money_unpriced',
    note: 'a paid data refresh',
  },
  {
    match: 'POST /v1/financial_connections/accounts/{account}/subscribe',
    class: 'money_unpriced',
    note: 'paid recurring transaction refreshes',
  },
  {
    match: 'POST /v1/financial_connections/sessions',
    class: 'money_unpriced',
    note: '`prefetch` buys a paid data refresh of every account the customer links',
  },
  { match: 'POST /v1/financial_connections/**', class: 'write' },
  {
    match: 'POST /v1/linked_accounts/{account}/refresh',
    id: 'stripe.linked_accounts.refresh',
    class: 'money_unpriced',
    note: 'legacy Financial Connections: a paid data refresh',
  },
  {
    match: 'POST /v1/linked_accounts/{account}/disconnect',
    id: 'stripe.linked_accounts.disconnect',
    class: 'write',
  },
  {
    match: 'POST /v1/link_account_sessions',
    class: 'money_unpriced',
    note: 'legacy Financial Connections session: `prefetch` buys a paid data refresh of every account linked',
  },
  { match: 'POST /v1/apple_pay/domains', class: 'write' },
  { match: 'POST /v1/files', class: 'write' },
  { match: 'POST /v1/reporting/report_runs', class: 'write' },
  { match: 'POST /v1/sigma/saved_queries/{id}', class: 'write' },
  {
    match: 'POST /v1/tax/calculations',
    class: 'money_unpriced',
    note: 'Stripe Tax bills every Calculation API call (beyond 10 per Transaction API call)',
  },
  {
    match: 'POST /v1/tax/transactions/**',
    class: 'money_unpriced',
    note: 'Stripe Tax bills every Transactions API call, a reversal included',
  },
  {
    match: 'POST /v1/tax/**',
    class: 'write',
    note: "tax registrations and settings: the settings and registrations lock the account's tax settings, which a preview with automatic tax leases (tax-settings.ts), and are money_unpriced when they change them (tax-inputs.ts)",
  },
  {
    match: 'DELETE /**',
    class: 'destructive',
    note: 'deletes an object for good (customers, products, webhooks, cards, tax ids…)',
  },
];
