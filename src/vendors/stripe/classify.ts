import { type Denial, deny, isDenial, refusing } from '../../decision/reasons.ts';
import type { ExchangeRates } from '../../money/exchange-rates.ts';
import {
  sensitiveDenial,
  uncountedOperation,
  unknownOperation,
  unpricedRuleDenial,
} from '../operation-class.ts';
import { compileOperations, resolveLocks } from '../operation-table.ts';
import {
  type CostLookup,
  type KnownLinks,
  NO_LINKS,
  type Operation,
  type Params,
  type Parties,
  type VendorRequest,
} from '../types.ts';
import { hasAny } from './amounts.ts';
import {
  creditGrant,
  creditNote,
  customerBalance,
  customerBalanceSet,
  customerUpdate,
  invoiceCreate,
  invoiceFinalize,
  invoiceItemCreate,
  invoiceItemDelete,
  invoiceItemUpdate,
  invoiceLines,
  invoiceRemoveLines,
  invoiceUpdate,
  issuingApprove,
  quoteAccept,
} from './billing.ts';
import { checkoutSessionCreate } from './checkout.ts';
import { cloneDenial } from './clones.ts';
import {
  bodyCost,
  climateOrder,
  FREE,
  lookupCost,
  type Priced,
  remaining,
  UNPRICED,
  type Unpriced,
} from './costs.ts';
import { amount, isId, isObj, objectId, scalar } from './fields.ts';
import { chargeCapture, invoicePay } from './intent-reads.ts';
import { stripeLeaseAccount } from './lease-account.ts';
import { legacyInvoiceDenial } from './legacy-names.ts';
import { STRIPE_OPERATIONS, type StripeOperationRow } from './operations.ts';
import {
  accountHolderCustomers,
  alertCustomers,
  type NestedCustomers,
  nestedOwnerLookup,
  ownerLookup,
  paymentCustomer,
  relatedCustomers,
} from './owners.ts';
import { meterCustomers, stripeParties, withPlatformAccount } from './parties.ts';
import { leasedOwner } from './payment-method-owners.ts';
import { portalAccessRaise, portalLoginDenial } from './portal-access.ts';
import {
  scheduleCancel,
  scheduleCreate,
  scheduleRelease,
  scheduleUpdate,
  subscriptionCancel,
  subscriptionCreate,
  subscriptionDiscountDelete,
  subscriptionItemCreate,
  subscriptionItemDelete,
  subscriptionItemUpdate,
  subscriptionResume,
  subscriptionUpdate,
} from './previews.ts';
import { refundCost, transferReversal } from './refunds.ts';
import {
  STRIPE_BODY_RULES,
  STRIPE_LOOKUP_RULES,
  STRIPE_PREVIEW_RULES,
  type StripePricingRule,
} from './rules.ts';
import { taxIdDelete } from './tax-ids.ts';
import { taxInputRaise } from './tax-inputs.ts';
import { heldToActingAccount } from './tax-liability.ts';
import { scheduledRegistrationDenial, TAX_SETTINGS, TAX_SETTINGS_WRITES } from './tax-settings.ts';
import { v2RevealDenial } from './v2-reveals.ts';
import { v2SensitiveDenial } from './v2-sensitive.ts';
import { withdrawalRaise } from './withdrawals.ts';

const METER_EVENT = 'stripe.billing.meter_events.create';

/** A meter event's parties, with the customers its payload names; a denial when one cannot be read. */
function withMeterCustomers(parties: Parties, params: Params): Parties | Denial {
  const customers = meterCustomers(params);
  if (isDenial(customers)) return customers;
  return { ...parties, customers: [...new Set([...parties.customers, ...customers])] };
}

/**
 * The rules priced from Stripe's invoice preview (previews.ts), whose automatic tax reads the tax
 * settings of the account the call makes liable: held to the account the call acts as (tax-liability.ts).
 */
const PREVIEW_PRICED: ReadonlySet<string> = new Set<string>(STRIPE_PREVIEW_RULES);

/** The Stripe table, indexed once. */
export const matchStripeOperation = compileOperations(STRIPE_OPERATIONS);

/** The pricing rules applyRule implements; a money row with any other rule is denied with price_unknown. */
export const PRICED_STRIPE_RULES: ReadonlySet<StripePricingRule> = new Set<StripePricingRule>([
  ...STRIPE_BODY_RULES,
  ...STRIPE_LOOKUP_RULES,
]);

/**
 * Identifies and prices one Stripe call (price stage): its row of the generated operations table,
 * its class, parties and cost. A sensitive operation is refused; a call the table does not have
 * (any `/v2/…` path included) is `stripe.unknown`, money-moving at cost 0, so the pipeline lets it
 * through only when a policy names it exactly. `known`: the Price → Product links the proxy keeps
 * for this call's account (price-products.ts); without them every Price a preview names is read.
 */
export function classifyStripe(
  req: VendorRequest,
  params: Params,
  rates: ExchangeRates,
  known: KnownLinks = NO_LINKS,
): Operation | Denial {
  // Before the catalog: no v2 operation is in it, and what a v2 `include` reveals is judged here.
  const revealed = v2SensitiveDenial(req.method, req.path) ?? v2RevealDenial(req.path, params);
  if (revealed) return revealed;
  const match = matchStripeOperation(req.method, req.path);
  const named = stripeParties(req, params);
  if (!match) return isDenial(named) ? named : withPlatformAccount(unknownOperation('stripe', named), req);
  const row = isDenial(named) ? named : classifyRow(match.row, match.segments, named, params, rates, known);
  // A preview's automatic tax computed for another account than the call acts as (tax-liability.ts).
  const held = PREVIEW_PRICED.has(match.row.rule ?? '')
    ? heldToActingAccount(row, params, stripeLeaseAccount.named(req))
    : row;
  const op = isDenial(held)
    ? held
    : raiseClass(
        raiseToUnpriced(held, withdrawalRaise(match.row.id, params) ?? taxInputRaise(match.row.id, params)),
        portalAccessRaise(match.row.id, params),
      );
  return isDenial(op) ? refusing(match.row.id, op) : withPlatformAccount(op, req);
}

/**
 * A write (or priced money call) whose body makes it need an exact entry (portal-access.ts): raised to
 * `destructive`, its price kept. A call already needing one (unpriced) keeps its own class and words.
 */
function raiseClass(op: Operation | Denial, by: string | undefined): Operation | Denial {
  if (by === undefined || isDenial(op) || (op.class !== 'write' && op.class !== 'money')) return op;
  return { ...op, class: 'destructive', raisedBy: by };
}

/**
 * A free write whose body withdraws a credit (withdrawals.ts), or changes what automatic tax reads
 * for every later line (tax-inputs.ts): raised to `money_unpriced`, so only an exact entry admits
 * it; the read of its object's customer (CUSTOMER_FOUND_BY_READ) and its locks are kept, so a
 * customer allowlist still governs it and a preview that leased its object still waits for it.
 */
function raiseToUnpriced(op: Operation | Denial, by: string | undefined): Operation | Denial {
  if (by === undefined || isDenial(op) || op.class !== 'write') return op;
  return { ...op, class: 'money_unpriced', movesMoney: true, raisedBy: by };
}

/** The operation of a call the catalog recognised as `row`, or why it is refused. */
function classifyRow(
  row: StripeOperationRow,
  segments: readonly string[],
  named: Parties,
  params: Params,
  rates: ExchangeRates,
  known: KnownLinks,
): Operation | Denial {
  if (row.class === 'sensitive') return sensitiveDenial(row.id);
  const login = portalLoginDenial(row.id, params);
  if (login) return login;
  const clone = cloneDenial(row.id, params);
  if (clone) return clone;
  const legacy = legacyInvoiceDenial(row.method, row.path, params);
  if (legacy) return legacy;
  const scheduled = scheduledRegistrationDenial(row.id, params);
  if (scheduled) return scheduled;
  const parties = row.id === METER_EVENT ? withMeterCustomers(named, params) : named;
  if (isDenial(parties)) return parties;
  const revealed = secretExpansion(params, row.id.startsWith(IDENTITY));
  if (revealed !== undefined) {
    const what = revealed.identity
      ? "an identity number or a verified person's personal data (an id or document number, a date or place of birth, a sex, a document's expiry)"
      : 'a bank account or card number, a credential for moving money';
    return deny(
      'credential_operation',
      `expand ${revealed.path} reveals ${what}: Keybrake never forwards it.`,
    );
  }
  const resolved = resolveLocks(row, segments, params, stripeLockField);
  if (isDenial(resolved)) return resolved;
  // The account's tax settings, which a preview with automatic tax leases (tax-settings.ts).
  const locks = TAX_SETTINGS_WRITES.has(row.id)
    ? { locks: heldLocks(resolved.locks, [TAX_SETTINGS]) }
    : resolved;
  const moneyWrite = MONEY_WHEN_NAMED.get(row.id);
  if (moneyWrite) {
    // A write, unless it names money (a balance set outright, a shipping charge): then it is priced.
    const object = segments[0];
    if (object !== undefined && !isId(object)) {
      return deny('path_invalid', 'The path does not name a valid Stripe object id.');
    }
    const priced = moneyWrite.price(object, params, rates);
    if (isDenial(priced)) return priced;
    if (priced === UNPRICED) {
      const raisedBy = moneyWrite.unpricedBy;
      return {
        ...uncountedOperation(row.id, 'money_unpriced', parties),
        ...locks,
        ...(raisedBy !== undefined && { raisedBy }),
      };
    }
    if (priced) {
      // The row's own locks stand (an invoice update locks its invoice); an object the price is
      // read from is leased too, until settled, like any lookup.
      const read = moneyWrite.readsPathObject && object !== undefined ? [object] : [];
      const held = heldLocks(locks.locks, read, priced.locks);
      return { id: row.id, class: 'money', ...priced, parties, locks: held };
    }
  }
  const inBody = CUSTOMER_NAMED_IN_BODY.get(row.id);
  if (inBody) {
    const object = objectId(params, inBody.field);
    if (isDenial(object)) return object;
    if (object === undefined) {
      return deny(
        'price_unknown',
        `This call must name its "${inBody.field}" for Keybrake to read whose it is.`,
      );
    }
    const lookup = ownerLookup(`/v1/${inBody.collection}/${object}`, inBody.what);
    return { ...uncountedOperation(row.id, row.class, parties), ...locks, lookup };
  }
  const found = LOCKS_FOUND_BY_READ.get(row.id);
  const owner = CUSTOMER_FOUND_BY_READ.get(row.id);
  if (found || owner) {
    // The object changed is the path's last (a charge's refund: the refund); every id must be plain.
    const object = segments[segments.length - 1]!;
    if (!segments.every(isId))
      return deny('path_invalid', 'The path does not name a valid Stripe object id.');
    const lookup = found ? found(object) : owner!.lookup(object);
    const bills = owner?.bills ? { billsCustomer: true } : {};
    return { ...uncountedOperation(row.id, row.class, parties), ...bills, ...locks, lookup };
  }
  if (row.class !== 'money') {
    // Usage Stripe bills later to the customer the meter maps: a customer allowlist must see one
    // (found by an adversarial probe: any customer, or none, was free under an allowlist).
    const bills = row.id === METER_EVENT ? { billsCustomer: true } : {};
    return { ...uncountedOperation(row.id, row.class, parties), ...bills, ...locks, ...hostOf(row.id) };
  }
  // Path ids of a money call may go into a lookup path: only plain Stripe ids.
  if (!segments.every(isId)) return deny('path_invalid', 'The path does not name a valid Stripe object id.');
  const priced = applyRule(row, segments, params, rates, known);
  if (isDenial(priced)) return priced;
  // The row's locks and the objects the price is read from, taken together before the lookup.
  const held = heldLocks(locks.locks, priced.locks);
  return { id: row.id, class: row.class, ...priced, parties, ...(held.length > 0 ? { locks: held } : {}) };
}

/** The objects a call leases: those of every list given, each once, in the order first named. */
function heldLocks(...lists: ReadonlyArray<readonly string[] | undefined>): string[] {
  return [...new Set(lists.flatMap((list) => list ?? []))];
}

// Fields Stripe returns only when `expand` names them, and which are credentials to move money or
// identity documents: a Treasury financial account's full ABA account number
// (`financial_addresses.aba.account_number`), an Issuing card's `number` and `cvc` (that read is
// sensitive anyway), an Identity verification's `id_number` (a national id such as an SSN).
const SECRET_EXPANSIONS = new Set(['account_number', 'number', 'cvc', 'id_number']);

/** Identity operations (verification sessions and reports), whose expansions are a person's data. */
const IDENTITY = 'stripe.identity.';

/**
 * What an Identity verification answers only when expanded besides its id and document numbers
 * (Stripe's definition: `gelato_verified_outputs`, `gelato_document_report`, `gelato_id_number_report`):
 * the verified person's date of birth, sex and place of birth, and the document's expiry. Beside the
 * name and address a read answers anyway, they are what the `id_number` refusal keeps from the agent
 * (twelfth round, reveals probe: `verified_outputs.dob`, `document.dob`, `document.expiration_date`
 * were forwarded).
 */
const IDENTITY_EXPANSIONS = new Set([
  'dob',
  'sex',
  'unparsed_sex',
  'unparsed_place_of_birth',
  'expiration_date',
]);

/**
 * The first `expand` path that names a secret field, and whether it is a person's identity data (an
 * `id_number` anywhere, and anything on an Identity operation: its `number` is a document's, not a
 * card's); undefined when there is none. Every value counts, however `expand` is given (`expand[]`,
 * `expand[0]`, `expand[a]`: Stripe reads a list from each), and every segment of a path, read with
 * every character but letters, digits and `_` dropped (`….account_number.`, `… account_number ` and
 * `…account_number%00` were forwarded; Ruby's `strip` also drops a NUL): Keybrake does not guess which
 * characters Stripe ignores. `identity`: the call is an Identity operation, where IDENTITY_EXPANSIONS
 * are refused too.
 */
export function secretExpansion(
  params: Params,
  identity = false,
): { path: string; identity: boolean } | undefined {
  const expand = Object.hasOwn(params, 'expand') ? params['expand'] : undefined;
  for (const path of stringsIn(expand)) {
    const names = path.split('.').map(fieldNameOf);
    const personal = names.some(
      (name) => name === 'id_number' || (identity && IDENTITY_EXPANSIONS.has(name)),
    );
    if (personal || names.some((name) => SECRET_EXPANSIONS.has(name))) {
      return { path, identity: identity || personal };
    }
  }
  return undefined;
}

/** A segment as a field name: lower case, with anything a field name cannot hold dropped. */
function fieldNameOf(segment: string): string {
  return segment.toLowerCase().replace(/[^a-z0-9_]/g, '');
}

/** Every string a parameter holds, at any depth (a list, an object of strings, a nested one). */
function stringsIn(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (typeof value !== 'object' || value === null) return [];
  return Object.values(value).flatMap(stringsIn);
}

/**
 * Write operations that move money when they name it: the rule that prices them then (the object id
 * of their path, if any, comes first; undefined: an ordinary write), and whether that price is read
 * from the path's object, which is then leased; for a rule that can find a call unpriced, the
 * fields that make it so, as a refusal names them.
 */
interface MoneyWhenNamed {
  readonly price: (
    object: string | undefined,
    params: Params,
    rates: ExchangeRates,
  ) => Priced | Denial | Unpriced | undefined;
  readonly readsPathObject: boolean;
  readonly unpricedBy?: string;
}

const MONEY_WHEN_NAMED: ReadonlyMap<string, MoneyWhenNamed> = new Map([
  [
    'stripe.customers.create',
    {
      price: (_object, params, rates) => customerBalanceSet(undefined, params, rates),
      readsPathObject: false,
    },
  ],
  [
    'stripe.customers.update',
    {
      price: (customer, params, rates) => customerUpdate(customer!, params, rates),
      readsPathObject: true,
      unpricedBy: 'a discount or a new payment source (coupon, promotion_code, discounts, source or card)',
    },
  ],
  [
    'stripe.checkout.sessions.create',
    {
      price: (_object, params, rates) => checkoutSessionCreate(params, rates),
      readsPathObject: false,
      unpricedBy:
        "what the payer may add or be taxed for a customer (optional_items, shipping_options or shipping_rates, automatic_tax, a line item's tax_rates or dynamic_tax_rates, subscription_data[default_tax_rates]), or after_expiration[recovery]",
    },
  ],
  [
    // Whether the session has a customer takes a read; new line items or shipping options: unpriced.
    'stripe.checkout.sessions.update',
    {
      price: (_object, params) => (hasAny(params, ['line_items', 'shipping_options']) ? UNPRICED : undefined),
      readsPathObject: false,
      unpricedBy: 'line_items or shipping_options',
    },
  ],
  [
    // A shipping cost, and the invoice a revision (`from_invoice`) takes its customer and lines from.
    'stripe.invoices.create',
    { price: (_object, params, rates) => invoiceCreate(params, rates), readsPathObject: false },
  ],
  [
    'stripe.invoices.update',
    {
      // A shipping cost, and what the invoice charges when the call switches on automatic collection.
      price: (invoice, params, rates) => invoiceUpdate(invoice!, params, rates),
      readsPathObject: true,
    },
  ],
]);

/**
 * Writes that change what a preview reads of an object the request does not name (ADR 0007 §5): a
 * read of the path's object finds it, and it is leased before a read that follows; the lookup prices
 * nothing (0), and the call keeps its row's class.
 */
const LOCKS_FOUND_BY_READ: ReadonlyMap<string, (object: string) => CostLookup> = new Map([
  ['stripe.tax_ids.delete', taxIdDelete],
  // A payment method's billing details may decide where automatic tax taxes its customer
  // (payment-method-owners.ts, thirteenth round): read for the customer, as before, and leased.
  [
    'stripe.payment_methods.update',
    (pm: string) => leasedOwner(`/v1/payment_methods/${pm}`, 'payment method'),
  ],
  [
    'stripe.payment_methods.detach',
    (pm: string) => leasedOwner(`/v1/payment_methods/${pm}`, 'payment method'),
  ],
  ['stripe.sources.update', (source: string) => leasedOwner(`/v1/sources/${source}`, 'source')],
]);

/**
 * Writes on an existing object of one customer that name no customer: the path's object is read for
 * its customer (priced 0; the call keeps its class), so a customer allowlist governs them as it does
 * the calls on that object that name or are priced from its customer (DESIGN §2: an allowlist applies
 * to every call that names such a party). An answer naming no customer leaves the call naming none,
 * unless the row `bills` that customer: then, under a customer allowlist, it is refused.
 *
 * Verifying micro-deposits starts the debit of the customer's bank account (the payment intent moves
 * to `processing`), and completes the bank account a setup intent saves for later debits. Found by an
 * adversarial probe (tenth round): another customer's verify was forwarded unread while its confirm
 * was refused. A payment intent's verify bills its customer (the debit follows): under a customer
 * allowlist an intent naming none is refused, as its confirm is.
 *
 * Found by the next probe (tenth round, fixes10a): a setup intent's confirm (it saves the payment
 * method the agent picks on the intent's customer and creates its mandate for off-session debits),
 * its update with a `payment_method` and its cancel, a payment intent's update (`receipt_email` sends
 * that customer's receipts to the agent; `payment_method` swaps what the merchant's later confirm
 * charges) and cancel, and a subscription's `migrate` (its billing mode, and so how every later change
 * is prorated) were forwarded unread. The sweep that followed reads the customer of every other free
 * write on an object Stripe keeps a `customer` on: a quote's update, cancel and finalize; an invoice's
 * delete, void, mark_uncollectible, attach_payment and free update; a charge's update (its
 * `receipt_email` too) and its dispute's update and close; a credit note's update; a payment method's
 * update and detach; a source's update and verify; a Checkout Session's free update and expire. None
 * bills the customer by itself.
 *
 * Eleventh round: the dispute's own path (`/v1/disputes/{dispute}[/close]`, what the official Stripe
 * MCP server's `update_dispute` calls) was forwarded unread while the charge's was refused. A sweep of
 * Stripe's definition for every POST/DELETE on an object that keeps a customer, itself or through its
 * payment, added: a dispute's update and close, a Radar review's approve, a refund's update and cancel
 * (either path, and the test helper's expire), read through their charge or payment intent
 * (paymentCustomer); a credit note's void (an unpriced call: unread, it named no customer and was
 * refused for every credit note, the allowed customer's too); a billing credit grant's update, expire
 * and void; a promotion code's update; a Treasury outbound payment's cancel and its test helpers.
 * Left unread, and why (docs/vendors/stripe.md, "Parties"): a payment record's reports record a
 * payment made outside Stripe and move nothing; calls under `/v1/customers/{customer}` (and the test
 * helper under `/v1/test_helpers/customers/{customer}`) name theirs in the path; a tax id's delete is
 * read for its owner (tax-ids.ts); invoice items and lines are read by their own rules (billing.ts); a
 * mandate has no write; Terminal reader calls name their intent in the body (CUSTOMER_NAMED_IN_BODY).
 *
 * Twelfth round (probe fixesr): objects that keep their customer one level down, which that sweep
 * (top-level `customer` only) missed, were forwarded unread: a Financial Connections account's
 * disconnect, unsubscribe, refresh and subscribe (`account_holder.customer`; by either path, the
 * legacy `/v1/linked_accounts/…` too) and an Identity verification session's update, cancel and
 * redact (`related_customer`). They are read for it now (owners.ts nestedOwnerLookup); an answer that
 * cannot say whose the object is leaves the call unpriced.
 *
 * Twelfth round (probe fixes12a): that sweep missed a billing alert, which keeps its customer two
 * levels down (`usage_threshold.filters[].customer`): another customer's alert was archived,
 * deactivated or activated unread. Its three writes read it now (owners.ts alertCustomers: every
 * filter's customer is a party). A sweep of every POST/DELETE answer in Stripe's definition
 * (stripe-mock 0.203, spec3.json) for a field naming a customer at any depth inside the object
 * answered, other objects not followed, found no other write on an existing object that keeps one
 * only below the top level: the rest are creates that name theirs in the body (a Financial
 * Connections session, a Radar payment evaluation, an alert), payment records (above), a test
 * helper's confirmation token (a new test-mode object), or keep a flag or evidence text (a Terminal
 * reader's action, a dispute's evidence), and every object with a top-level customer is read for it.
 */
const FC_ACCOUNT = 'Financial Connections account';
const CUSTOMER_FOUND_BY_READ: ReadonlyMap<
  string,
  { lookup: (object: string) => CostLookup; bills: boolean }
> = new Map([
  ['stripe.payment_intents.verify_microdeposits', readOwner('payment_intents', 'payment intent', true)],
  ['stripe.payment_intents.update', readOwner('payment_intents', 'payment intent')],
  ['stripe.payment_intents.cancel', readOwner('payment_intents', 'payment intent')],
  ['stripe.setup_intents.verify_microdeposits', readOwner('setup_intents', 'setup intent')],
  ['stripe.setup_intents.confirm', readOwner('setup_intents', 'setup intent')],
  ['stripe.setup_intents.update', readOwner('setup_intents', 'setup intent')],
  ['stripe.setup_intents.cancel', readOwner('setup_intents', 'setup intent')],
  ['stripe.subscriptions.migrate', readOwner('subscriptions', 'subscription')],
  ['stripe.quotes.update', readOwner('quotes', 'quote')],
  ['stripe.quotes.cancel', readOwner('quotes', 'quote')],
  ['stripe.quotes.finalize_quote', readOwner('quotes', 'quote')],
  ['stripe.invoices.update', readOwner('invoices', 'invoice')],
  ['stripe.invoices.delete', readOwner('invoices', 'invoice')],
  ['stripe.invoices.void_invoice', readOwner('invoices', 'invoice')],
  ['stripe.invoices.mark_uncollectible', readOwner('invoices', 'invoice')],
  ['stripe.invoices.attach_payment', readOwner('invoices', 'invoice')],
  ['stripe.charges.update', readOwner('charges', 'charge')],
  ['stripe.charges.update_dispute', readOwner('charges', 'charge')],
  ['stripe.charges.close_dispute', readOwner('charges', 'charge')],
  ['stripe.disputes.update', readPayment('disputes', 'dispute')],
  ['stripe.disputes.close', readPayment('disputes', 'dispute')],
  ['stripe.reviews.approve', readPayment('reviews', 'review')],
  ['stripe.refunds.update', readPayment('refunds', 'refund')],
  ['stripe.refunds.cancel', readPayment('refunds', 'refund')],
  ['stripe.charges.refunds.update', readPayment('refunds', 'refund')],
  ['stripe.test_helpers.refunds.expire', readPayment('refunds', 'refund')],
  ['stripe.credit_notes.update', readOwner('credit_notes', 'credit note')],
  ['stripe.credit_notes.void_credit_note', readOwner('credit_notes', 'credit note')],
  ['stripe.billing.credit_grants.update', readOwner('billing/credit_grants', 'credit grant')],
  ['stripe.billing.credit_grants.expire', readOwner('billing/credit_grants', 'credit grant')],
  ['stripe.billing.credit_grants.void_grant', readOwner('billing/credit_grants', 'credit grant')],
  ['stripe.promotion_codes.update', readOwner('promotion_codes', 'promotion code')],
  ['stripe.treasury.outbound_payments.cancel', readOwner('treasury/outbound_payments', 'outbound payment')],
  ...[
    'stripe.test_helpers.treasury.outbound_payments.update',
    'stripe.test_helpers.treasury.outbound_payments.fail',
    'stripe.test_helpers.treasury.outbound_payments.post',
    'stripe.test_helpers.treasury.outbound_payments.return_outbound_payment',
  ].map((id) => [id, readOwner('treasury/outbound_payments', 'outbound payment')] as const),
  ['stripe.sources.verify', readOwner('sources', 'source')],
  ['stripe.checkout.sessions.update', readOwner('checkout/sessions', 'Checkout Session')],
  ['stripe.checkout.sessions.expire', readOwner('checkout/sessions', 'Checkout Session')],
  ...[
    'stripe.financial_connections.accounts.disconnect',
    'stripe.financial_connections.accounts.unsubscribe',
    'stripe.financial_connections.accounts.refresh',
    'stripe.financial_connections.accounts.subscribe',
  ].map(
    (id) => [id, readNested('financial_connections/accounts', FC_ACCOUNT, accountHolderCustomers)] as const,
  ),
  ...['stripe.linked_accounts.disconnect', 'stripe.linked_accounts.refresh'].map(
    (id) => [id, readNested('linked_accounts', FC_ACCOUNT, accountHolderCustomers)] as const,
  ),
  ...[
    'stripe.identity.verification_sessions.update',
    'stripe.identity.verification_sessions.cancel',
    'stripe.identity.verification_sessions.redact',
  ].map(
    (id) =>
      [id, readNested('identity/verification_sessions', 'verification session', relatedCustomers)] as const,
  ),
  ...[
    'stripe.billing.alerts.activate',
    'stripe.billing.alerts.archive',
    'stripe.billing.alerts.deactivate',
  ].map((id) => [id, readNested('billing/alerts', 'billing alert', alertCustomers)] as const),
]);

/**
 * Free writes that act on one customer's object their body names, not their path: it is read for its
 * customer, as CUSTOMER_FOUND_BY_READ reads a path's. A Terminal reader's `process_setup_intent` is a
 * setup intent's confirm done at the reader (it saves the card presented there on the intent's
 * customer, with a mandate), and `collect_payment_method` attaches the card presented to the payment
 * intent named, which the reader's confirm then charges. Found by an adversarial probe (eleventh
 * round, fixesr): both were forwarded unread with another customer's intent, while
 * `process_payment_intent` (priced from its intent) was refused. Stripe requires the field; a call
 * without it is refused here, since no read can say whose intent it is.
 */
const CUSTOMER_NAMED_IN_BODY: ReadonlyMap<string, { field: string; collection: string; what: string }> =
  new Map([
    [
      'stripe.terminal.readers.process_setup_intent',
      { field: 'setup_intent', collection: 'setup_intents', what: 'setup intent' },
    ],
    [
      'stripe.terminal.readers.collect_payment_method',
      { field: 'payment_intent', collection: 'payment_intents', what: 'payment intent' },
    ],
  ]);

/**
 * The read of `/v1/{collection}/{object}` and then of its charge or payment intent, for the payment's
 * customer (owners.ts paymentCustomer).
 */
function readPayment(
  collection: string,
  what: string,
): { lookup: (object: string) => CostLookup; bills: boolean } {
  return { lookup: (object) => paymentCustomer(`/v1/${collection}/${object}`, what), bills: false };
}

/**
 * The read of `/v1/{collection}/{object}` for the customer it keeps one level down (a Financial
 * Connections account's holder, an Identity verification session's related customer).
 */
function readNested(
  collection: string,
  what: string,
  customers: NestedCustomers,
): { lookup: (object: string) => CostLookup; bills: boolean } {
  return {
    lookup: (object) => nestedOwnerLookup(`/v1/${collection}/${object}`, what, customers),
    bills: false,
  };
}

/** The read of `/v1/{collection}/{object}` for its customer (CUSTOMER_FOUND_BY_READ). */
function readOwner(
  collection: string,
  what: string,
  bills = false,
): { lookup: (object: string) => CostLookup; bills: boolean } {
  return { lookup: (object) => ownerLookup(`/v1/${collection}/${object}`, what), bills };
}

/**
 * Operations Stripe serves on its files host, files.stripe.com (each has that server of its own in
 * Stripe's definition): uploads (https://docs.stripe.com/api/files/create) and a quote's PDF (twelfth
 * round, reveals probe: sent to api.stripe.com, it got Stripe's 404).
 */
const FILES_HOST: ReadonlySet<string> = new Set(['stripe.files.create', 'stripe.quotes.pdf']);

function hostOf(id: string): { upstreamHost?: string } {
  return FILES_HOST.has(id) ? { upstreamHost: 'files' } : {};
}

/**
 * A body parameter a Stripe row locks by (ADR 0007 §5), top-level or one level down
 * (`owner[customer]`): the one object id it names, none when the call omits it; given more than once,
 * or under something that is not an object, it is refused.
 */
export function stripeLockField(params: Params, field: string): readonly string[] | Denial {
  const inner = /^([a-z_]+)\[([a-z_]+)\]$/.exec(field);
  let holder: Params = params;
  if (inner) {
    const outer = Object.hasOwn(params, inner[1]!) ? params[inner[1]!] : undefined;
    if (outer === undefined) return [];
    if (!isObj(outer)) return deny('body_invalid', `Parameter "${inner[1]}" is malformed.`);
    holder = outer;
  }
  const id = scalar(holder, inner ? inner[2]! : field);
  if (isDenial(id)) return id;
  return id === undefined ? [] : [id];
}

/**
 * Prices a money call by its row's rule; `ids` are the object ids in its path (the intent, charge,
 * invoice). docs/pricing.md lists every rule with its formula and the Stripe reference it follows.
 */
function applyRule(
  row: StripeOperationRow,
  ids: readonly string[],
  params: Params,
  rates: ExchangeRates,
  known: KnownLinks,
): Priced | Denial {
  const last = ids[ids.length - 1]!;
  switch (row.rule) {
    case 'amount':
      return bodyCost(params, rates);
    case 'payment_intent_create': {
      // Without confirm the intent only records an amount; anything but an explicit false may confirm.
      const confirm = scalar(params, 'confirm');
      if (isDenial(confirm)) return confirm;
      if (confirm === undefined || confirm === 'false') {
        const a = amount(params, 'amount');
        return isDenial(a) ? a : FREE;
      }
      return bodyCost(params, rates);
    }
    case 'payment_intent_confirm': {
      // `amount_to_confirm` ("defaults to amount") may name another amount: the larger one counts.
      const requested = amount(params, 'amount_to_confirm');
      if (isDenial(requested)) return requested;
      return lookupCost(
        `/v1/payment_intents/${ids[0]}`,
        undefined,
        (o) => (typeof o['amount'] === 'number' ? Math.max(o['amount'], requested ?? 0) : undefined),
        rates,
        requested === undefined
          ? "the payment intent's amount"
          : "the larger of amount_to_confirm and the intent's amount",
      );
    }
    case 'payment_intent_capture': {
      const requested = amount(params, 'amount_to_capture');
      if (isDenial(requested)) return requested;
      return lookupCost(
        `/v1/payment_intents/${ids[0]}`,
        requested,
        (o) => o['amount_capturable'] ?? o['amount'],
        rates,
        "the payment intent's amount_capturable",
      );
    }
    case 'charge_capture': {
      const requested = amount(params, 'amount');
      if (isDenial(requested)) return requested;
      return chargeCapture(ids[0]!, requested, rates);
    }
    case 'refund':
      return refundCost(params, rates);
    case 'charge_refund':
      return refundCost(params, rates, ids[0]);
    case 'application_fee_refund':
      return returned(`/v1/application_fees/${ids[0]}`, 'amount_refunded', params, rates);
    case 'transfer_reversal':
      // With `refund_application_fee`, the fee it returns too (refunds.ts, twelfth round).
      return transferReversal(ids[0]!, params, rates);
    case 'payout_reversal':
      return lookupCost(`/v1/payouts/${ids[0]}`, undefined, (o) => o['amount'], rates, "the payout's amount");
    case 'increment_authorization': {
      // The new total the card is authorised for, in the intent's currency (counted in full again).
      const total = amount(params, 'amount');
      if (isDenial(total)) return total;
      if (total === undefined) {
        return deny(
          'price_unknown',
          'An incremental authorisation needs its new "amount" for Keybrake to price it.',
        );
      }
      return lookupCost(`/v1/payment_intents/${ids[0]}`, total, () => total, rates);
    }
    case 'apply_customer_balance': {
      const requested = amount(params, 'amount');
      if (isDenial(requested)) return requested;
      // An intent an invoice created takes its full amount whatever is requested: price the larger.
      return lookupCost(
        `/v1/payment_intents/${ids[0]}`,
        undefined,
        (o) => (typeof o['amount'] === 'number' ? Math.max(o['amount'], requested ?? 0) : undefined),
        rates,
        "the payment intent's amount",
      );
    }
    case 'invoice_pay':
      return invoicePay(ids[0]!, rates);
    case 'invoice_finalize':
      return invoiceFinalize(ids[0]!, rates);
    case 'invoice_lines':
      return row.path.endsWith('/remove_lines')
        ? invoiceRemoveLines(ids[0]!, params, rates)
        : invoiceLines(ids[0]!, params, ids[1], rates);
    case 'invoice_item':
      if (ids.length === 0) return invoiceItemCreate(params, rates);
      return row.method === 'DELETE'
        ? invoiceItemDelete(ids[0]!, rates)
        : invoiceItemUpdate(ids[0]!, params, rates);
    case 'credit_note':
      return creditNote(params, rates);
    case 'customer_balance_transaction':
      return customerBalance(params, rates);
    case 'credit_grant':
      return creditGrant(params, rates);
    case 'subscription_create':
      return subscriptionCreate(params, rates, known, ids[0]);
    case 'subscription_update':
      return subscriptionUpdate(last, params, rates, known);
    case 'subscription_cancel':
      return subscriptionCancel(last, params, rates);
    case 'subscription_resume':
      return subscriptionResume(last, params, rates);
    case 'subscription_item':
      if (ids.length === 0) return subscriptionItemCreate(params, rates, known);
      return row.method === 'DELETE'
        ? subscriptionItemDelete(last, params, rates)
        : subscriptionItemUpdate(last, params, rates, known);
    case 'subscription_schedule':
      return ids.length === 0
        ? scheduleCreate(params, rates, known)
        : scheduleUpdate(last, params, rates, known);
    case 'subscription_schedule_cancel':
      return scheduleCancel(last, params, rates);
    case 'subscription_renewal':
      return row.path.startsWith('/v1/subscription_schedules/')
        ? scheduleRelease(last, rates)
        : subscriptionDiscountDelete(last, rates);
    case 'quote_accept':
      return quoteAccept(last, rates);
    case 'issuing_authorization_approve':
      return issuingApprove(last, params, rates);
    case 'terminal_process': {
      const intent = objectId(params, 'payment_intent');
      if (isDenial(intent)) return intent;
      if (intent === undefined) {
        return deny(
          'price_unknown',
          'A Terminal payment must name its "payment_intent" for Keybrake to price it.',
        );
      }
      return lookupCost(
        `/v1/payment_intents/${intent}`,
        undefined,
        (o) => o['amount'],
        rates,
        "the payment intent's amount",
      );
    }
    case 'terminal_refund':
      return refundCost(params, rates);
    case 'treasury_reversal': {
      const credit = row.path === '/v1/treasury/credit_reversals';
      const name = credit ? 'received_credit' : 'received_debit';
      const id = objectId(params, name);
      if (isDenial(id)) return id;
      if (id === undefined)
        return deny('price_unknown', `A reversal must name its "${name}" for Keybrake to price it.`);
      return lookupCost(
        `/v1/treasury/${name}s/${id}`,
        undefined,
        (o) => o['amount'],
        rates,
        `the ${name.replace('_', ' ')}'s amount`,
      );
    }
    case 'climate_order':
      return climateOrder(params, rates);
    default:
      // A money operation whose rule is not implemented yet (or a row without one): fail closed.
      return unpricedRuleDenial(row.id, row.rule ?? 'none');
  }
}

/** `amount`, else what is left of the object (`total − done`), in the object's currency. */
function returned(path: string, done: string, params: Params, rates: ExchangeRates): Priced | Denial {
  const requested = amount(params, 'amount');
  if (isDenial(requested)) return requested;
  return lookupCost(
    path,
    requested,
    (o) => remaining(o['amount'], o[done]),
    rates,
    `the amount less ${done}`,
  );
}
