import { type Denial, deny, isDenial } from '../../decision/reasons.ts';
import type { ExchangeRates } from '../../money/exchange-rates.ts';
import type { Params } from '../types.ts';
import {
  type Decimal,
  decimalOf,
  hasAny,
  maxDecimal,
  ONE,
  objectList,
  objectParam,
  quantityParam,
} from './amounts.ts';
import { MAX_PRICE_READS, priceDataCost } from './billing.ts';
import { chain, type Priced, pricePath, priceUnits, type Read, UNPRICED, type Unpriced } from './costs.ts';
import { priceId, scalar } from './fields.ts';
import { priceLinks } from './price-products.ts';

/**
 * Checkout Sessions (price stage). A session that names a `customer` (or `customer_account`) shows
 * that customer's saved payment methods: whoever opens its `url` pays with the saved card, so the
 * session moves the customer's money when it is created, like a confirmed payment intent. Without a
 * customer the payer pays with a card of their own, as with a Payment Link: a free write.
 */

/** Stripe's default `adjustable_quantity[maximum]`: the payer may choose up to this many. */
const ADJUSTABLE_MAXIMUM = 99;

/**
 * Parameters of a session that let the payer add money Keybrake does not see: tax, shipping, extra
 * items. `shipping_rates` is `shipping_options` by its older name, which a call pinned to an old
 * `Stripe-Version` still sets.
 */
const UNPRICEABLE = ['optional_items', 'shipping_options', 'shipping_rates'] as const;

/**
 * `subscription_data` parameters of today's definition, none of which adds a charge but
 * `default_tax_rates` (tax on every invoice: unpriced, as a line item's `tax_rates`). Any other one
 * is refused: older API versions took more there, `items` above all, the plans the subscription
 * charges for (found by a security tester, fourth round: `subscription_data[items][0][plan]` × 1000
 * under a 2020 `Stripe-Version` was priced at the $1 line item alone), and Keybrake does not guess
 * what a name it does not know adds.
 */
const SUBSCRIPTION_DATA_KEYS: ReadonlySet<string> = new Set([
  'application_fee_percent',
  'billing_cycle_anchor',
  'billing_cycle_anchor_config',
  'billing_mode',
  'default_tax_rates',
  'description',
  'invoice_settings',
  'metadata',
  'on_behalf_of',
  'pending_invoice_item_interval',
  'proration_behavior',
  'transfer_data',
  'trial_end',
  'trial_period_days',
  'trial_settings',
]);

/**
 * A line item's `amount` (with `currency` and `name`): a line item by its form before API version
 * 2022-08-01, priced by nothing here, refused even beside a `price` (whichever Stripe takes).
 */
const LEGACY_LINE_ITEM = ['amount'] as const;

/**
 * `POST /v1/checkout/sessions` with a customer, in `payment` or `subscription` mode: every line item's
 * unit amount (`price_data[unit_amount(_decimal)]` in its currency, or its `price` read from Stripe)
 * × its quantity, or the most the payer may choose (`adjustable_quantity`). UNPRICED when the payer
 * may add what Keybrake cannot price (optional items, shipping options, taxes), or when the session
 * may be recovered (recoverable). Undefined: a free write (no customer, or `setup` mode).
 */
export function checkoutSessionCreate(
  params: Params,
  rates: ExchangeRates,
): Priced | Denial | Unpriced | undefined {
  const customer = scalar(params, 'customer');
  if (isDenial(customer)) return customer;
  const account = scalar(params, 'customer_account');
  if (isDenial(account)) return account;
  const mode = scalar(params, 'mode');
  if (isDenial(mode)) return mode;
  const named = [customer, account].some((id) => id !== undefined && id !== '');
  if (!named || mode === 'setup') return undefined;
  const subscription = subscriptionData(params);
  if (isDenial(subscription)) return subscription;
  const items = objectList(params, 'line_items');
  if (isDenial(items)) return items;
  const legacyItem = (items ?? []).find((item) => hasAny(item, LEGACY_LINE_ITEM));
  if (legacyItem !== undefined) {
    return deny(
      'price_unknown',
      'Keybrake cannot price a line item by its "amount", a form of older Stripe API versions: give it price_data or a price.',
    );
  }
  if (hasAny(params, UNPRICEABLE) || taxed(params) || recoverable(params)) return UNPRICED;
  if (subscription !== undefined && hasAny(subscription, ['default_tax_rates'])) return UNPRICED;
  if (items === undefined || items.length === 0) {
    return deny('price_unknown', 'Keybrake prices a Checkout Session for a customer from its line_items.');
  }
  let micros = 0;
  const reads: Read[] = [];
  for (const item of items) {
    if (hasAny(item, ['tax_rates', 'dynamic_tax_rates'])) return UNPRICED;
    const quantity = payableQuantity(item);
    if (isDenial(quantity)) return quantity;
    const data = objectParam(item, 'price_data');
    if (isDenial(data)) return data;
    const price = priceId(item, 'price');
    if (isDenial(price)) return price;
    if (data !== undefined) {
      const cost = priceDataCost(data, quantity, rates);
      if (isDenial(cost)) return cost;
      micros += cost;
    } else if (price !== undefined) {
      reads.push({
        path: pricePath(price),
        describe: `price ${price} × the quantity the payer may choose`,
        // Leased until settled, as every Price a call is priced from (billing.ts priceRead).
        locks: [price],
        links: priceLinks,
        part: (o) => priceUnits(o, quantity, rates),
      });
    } else {
      return deny('price_unknown', 'Keybrake prices a line item from its price_data or a price id.');
    }
  }
  if (reads.length > MAX_PRICE_READS) {
    return deny(
      'price_unknown',
      `Keybrake prices at most ${MAX_PRICE_READS} line items by price in one Checkout Session, as many as Stripe takes.`,
    );
  }
  if (!Number.isSafeInteger(micros))
    return deny('price_unknown', 'The amount is too large for Keybrake to price.');
  const [first, ...rest] = reads;
  return first === undefined ? { movesMoney: true, costMicros: micros } : chain([first, ...rest], micros);
}

/** `subscription_data`, once checked for names outside SUBSCRIPTION_DATA_KEYS; undefined when absent. */
function subscriptionData(params: Params): Params | undefined | Denial {
  const data = objectParam(params, 'subscription_data');
  if (isDenial(data) || data === undefined) return data;
  const unknown = Object.keys(data).find((k) => !SUBSCRIPTION_DATA_KEYS.has(k));
  if (unknown === undefined) return data;
  return deny(
    'price_unknown',
    `Keybrake cannot price "subscription_data[${unknown}]" on a Checkout Session (a parameter of older Stripe API versions, or one it does not know): name the subscription's prices in line_items.`,
  );
}

/**
 * `after_expiration[recovery][enabled]` other than `false`: once the session expires unpaid, its
 * `recovery.url` "creates a new Checkout Session when clicked that is a copy of this expired Checkout
 * Session", the customer's saved cards included; the definition does not say how many. Keybrake
 * priced one payment, so a recoverable session for a customer is unpriced rather than counted once
 * (a tester's suggestion, fourth round).
 */
function recoverable(params: Params): boolean {
  const after = params['after_expiration'];
  const recovery = typeof after === 'object' && after !== null ? (after as Params)['recovery'] : undefined;
  return typeof recovery === 'object' && recovery !== null && (recovery as Params)['enabled'] !== 'false';
}

/** Automatic tax is added on top of the line items. */
function taxed(params: Params): boolean {
  const tax = params['automatic_tax'];
  return typeof tax === 'object' && tax !== null && (tax as Params)['enabled'] !== 'false';
}

/** `quantity`, or the most the payer may choose when `adjustable_quantity[enabled]` is set. */
function payableQuantity(item: Params): Decimal | Denial {
  const q = quantityParam(item, ONE);
  if (isDenial(q)) return q;
  const adjustable = objectParam(item, 'adjustable_quantity');
  if (isDenial(adjustable)) return adjustable;
  if (adjustable === undefined || adjustable['enabled'] === 'false') return q ?? ONE;
  const maximum = scalar(adjustable, 'maximum');
  if (isDenial(maximum)) return maximum;
  if (maximum !== undefined && !/^\d{1,15}$/.test(maximum)) {
    return deny('body_invalid', 'Parameter "adjustable_quantity[maximum]" must be a non-negative integer.');
  }
  return maxDecimal(q ?? ONE, decimalOf(BigInt(maximum ?? ADJUSTABLE_MAXIMUM)));
}
