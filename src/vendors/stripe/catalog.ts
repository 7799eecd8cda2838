/**
 * The Stripe operation catalog: which calls Keybrake knows, and which pricing rule each follows. The
 * classify step matches method + path here (compiled once at import), then pricing.ts applies the
 * rule. Every GET is a free read; a non-GET call missing from the table is unknown and treated as
 * money-moving, so the pipeline denies it unless a policy names its endpoint explicitly.
 */

/** How an operation is priced (see pricing.ts). */
export type PricingRule =
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

/** One row of the catalog; `:id` in a path matches one segment (`pi_…`, `cus_…`). */
export interface CatalogEntry {
  readonly id: string;
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly pricing: PricingRule;
}

export const CATALOG: readonly CatalogEntry[] = [
  // Money-moving.
  { id: 'stripe.charges.create', method: 'POST', path: '/v1/charges', pricing: 'amount' },
  {
    id: 'stripe.charges.capture',
    method: 'POST',
    path: '/v1/charges/:id/capture',
    pricing: 'charge_capture',
  },
  {
    id: 'stripe.payment_intents.create',
    method: 'POST',
    path: '/v1/payment_intents',
    pricing: 'payment_intent_create',
  },
  {
    id: 'stripe.payment_intents.confirm',
    method: 'POST',
    path: '/v1/payment_intents/:id/confirm',
    pricing: 'payment_intent_confirm',
  },
  {
    id: 'stripe.payment_intents.capture',
    method: 'POST',
    path: '/v1/payment_intents/:id/capture',
    pricing: 'payment_intent_capture',
  },
  { id: 'stripe.refunds.create', method: 'POST', path: '/v1/refunds', pricing: 'refund' },
  { id: 'stripe.transfers.create', method: 'POST', path: '/v1/transfers', pricing: 'amount' },
  { id: 'stripe.payouts.create', method: 'POST', path: '/v1/payouts', pricing: 'amount' },
  { id: 'stripe.invoices.pay', method: 'POST', path: '/v1/invoices/:id/pay', pricing: 'invoice_pay' },
  // Free writes: they create or change objects, but no money moves until a priced call above.
  { id: 'stripe.payment_intents.update', method: 'POST', path: '/v1/payment_intents/:id', pricing: 'free' },
  {
    id: 'stripe.payment_intents.cancel',
    method: 'POST',
    path: '/v1/payment_intents/:id/cancel',
    pricing: 'free',
  },
  { id: 'stripe.customers.create', method: 'POST', path: '/v1/customers', pricing: 'free' },
  { id: 'stripe.customers.update', method: 'POST', path: '/v1/customers/:id', pricing: 'free' },
  { id: 'stripe.products.create', method: 'POST', path: '/v1/products', pricing: 'free' },
  { id: 'stripe.products.update', method: 'POST', path: '/v1/products/:id', pricing: 'free' },
  { id: 'stripe.prices.create', method: 'POST', path: '/v1/prices', pricing: 'free' },
  { id: 'stripe.prices.update', method: 'POST', path: '/v1/prices/:id', pricing: 'free' },
  {
    id: 'stripe.payment_methods.attach',
    method: 'POST',
    path: '/v1/payment_methods/:id/attach',
    pricing: 'free',
  },
  {
    id: 'stripe.payment_methods.detach',
    method: 'POST',
    path: '/v1/payment_methods/:id/detach',
    pricing: 'free',
  },
  { id: 'stripe.setup_intents.create', method: 'POST', path: '/v1/setup_intents', pricing: 'free' },
  {
    id: 'stripe.setup_intents.confirm',
    method: 'POST',
    path: '/v1/setup_intents/:id/confirm',
    pricing: 'free',
  },
  // A hosted page or link: the customer pays the merchant later; nothing leaves the account.
  { id: 'stripe.payment_links.create', method: 'POST', path: '/v1/payment_links', pricing: 'free' },
  { id: 'stripe.checkout.sessions.create', method: 'POST', path: '/v1/checkout/sessions', pricing: 'free' },
  // Named reads (every other GET is `stripe.read`).
  { id: 'stripe.customers.list', method: 'GET', path: '/v1/customers', pricing: 'free' },
  { id: 'stripe.customers.retrieve', method: 'GET', path: '/v1/customers/:id', pricing: 'free' },
];

/** A catalog hit: the entry and the `:id` segments of the path, in order. */
export interface CatalogMatch {
  readonly entry: CatalogEntry;
  readonly ids: readonly string[];
}

const COMPILED = CATALOG.map((entry) => ({
  entry,
  regex: new RegExp(`^${entry.path.replaceAll(':id', '([^/]+)')}$`),
}));

/** The catalog entry for a call, or undefined when the catalog has none. */
export function matchCatalog(method: string, path: string): CatalogMatch | undefined {
  for (const { entry, regex } of COMPILED) {
    if (entry.method !== method) continue;
    const m = regex.exec(path);
    if (m) return { entry, ids: m.slice(1) as string[] };
  }
  return undefined;
}
