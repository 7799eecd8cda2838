import { compileOperations, type OperationRow } from '../operation-table.ts';

/**
 * The Stripe operations Keybrake knows, one row per method + path as Stripe's API definition writes
 * it, with the pricing rule each follows (applied by classify.ts). Every GET missing here is a free
 * read; any other call missing here is unknown and treated as money-moving, so the pipeline denies it
 * unless a policy names its endpoint explicitly.
 */

/** How an operation is priced (classify.ts applies it, costs.ts holds the formulas). */
export type StripePricingRule =
  /** Moves no money: creating customers, products, links, sessions; every read. */
  | 'free'
  /** `amount` + `currency` in the body (charges, transfers, payouts). */
  | 'amount'
  /** PaymentIntent create: priced like `amount` when `confirm` is set, else free. */
  | 'payment_intent_create'
  /** The amount lives on the PaymentIntent: look it up. */
  | 'payment_intent_confirm'
  /** `amount_to_capture`, else the intent's `amount_capturable`, in the intent's currency. */
  | 'payment_intent_capture'
  /** `amount`, else the charge's amount, in the charge's currency. */
  | 'charge_capture'
  /** `amount`, else what is left on the charge or payment intent, in its currency. */
  | 'refund'
  /** The invoice's `amount_remaining`. */
  | 'invoice_pay';

/** One row of the Stripe operations table. */
export type StripeOperationRow = OperationRow<StripePricingRule>;

export const STRIPE_OPERATIONS: readonly StripeOperationRow[] = [
  // Money-moving.
  { id: 'stripe.charges.create', method: 'POST', path: '/v1/charges', rule: 'amount' },
  {
    id: 'stripe.charges.capture',
    method: 'POST',
    path: '/v1/charges/{charge}/capture',
    rule: 'charge_capture',
  },
  {
    id: 'stripe.payment_intents.create',
    method: 'POST',
    path: '/v1/payment_intents',
    rule: 'payment_intent_create',
  },
  {
    id: 'stripe.payment_intents.confirm',
    method: 'POST',
    path: '/v1/payment_intents/{intent}/confirm',
    rule: 'payment_intent_confirm',
  },
  {
    id: 'stripe.payment_intents.capture',
    method: 'POST',
    path: '/v1/payment_intents/{intent}/capture',
    rule: 'payment_intent_capture',
  },
  { id: 'stripe.refunds.create', method: 'POST', path: '/v1/refunds', rule: 'refund' },
  { id: 'stripe.transfers.create', method: 'POST', path: '/v1/transfers', rule: 'amount' },
  { id: 'stripe.payouts.create', method: 'POST', path: '/v1/payouts', rule: 'amount' },
  { id: 'stripe.invoices.pay', method: 'POST', path: '/v1/invoices/{invoice}/pay', rule: 'invoice_pay' },
  // Free writes: they create or change objects, but no money moves until a priced call above.
  { id: 'stripe.payment_intents.update', method: 'POST', path: '/v1/payment_intents/{intent}', rule: 'free' },
  {
    id: 'stripe.payment_intents.cancel',
    method: 'POST',
    path: '/v1/payment_intents/{intent}/cancel',
    rule: 'free',
  },
  { id: 'stripe.customers.create', method: 'POST', path: '/v1/customers', rule: 'free' },
  { id: 'stripe.customers.update', method: 'POST', path: '/v1/customers/{customer}', rule: 'free' },
  { id: 'stripe.products.create', method: 'POST', path: '/v1/products', rule: 'free' },
  { id: 'stripe.products.update', method: 'POST', path: '/v1/products/{id}', rule: 'free' },
  { id: 'stripe.prices.create', method: 'POST', path: '/v1/prices', rule: 'free' },
  { id: 'stripe.prices.update', method: 'POST', path: '/v1/prices/{price}', rule: 'free' },
  {
    id: 'stripe.payment_methods.attach',
    method: 'POST',
    path: '/v1/payment_methods/{payment_method}/attach',
    rule: 'free',
  },
  {
    id: 'stripe.payment_methods.detach',
    method: 'POST',
    path: '/v1/payment_methods/{payment_method}/detach',
    rule: 'free',
  },
  { id: 'stripe.setup_intents.create', method: 'POST', path: '/v1/setup_intents', rule: 'free' },
  {
    id: 'stripe.setup_intents.confirm',
    method: 'POST',
    path: '/v1/setup_intents/{intent}/confirm',
    rule: 'free',
  },
  // A hosted page or link: the customer pays the merchant later; nothing leaves the account.
  { id: 'stripe.payment_links.create', method: 'POST', path: '/v1/payment_links', rule: 'free' },
  { id: 'stripe.checkout.sessions.create', method: 'POST', path: '/v1/checkout/sessions', rule: 'free' },
  // Named reads (every other GET is `stripe.read`).
  { id: 'stripe.customers.list', method: 'GET', path: '/v1/customers', rule: 'free' },
  { id: 'stripe.customers.retrieve', method: 'GET', path: '/v1/customers/{customer}', rule: 'free' },
];

/** The row for a Stripe call and the object ids in its path; undefined when the table has none. */
export const matchStripeOperation = compileOperations(STRIPE_OPERATIONS);
