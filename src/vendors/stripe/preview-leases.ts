import { idOf } from './costs.ts';
import { isObj } from './fields.ts';
import { lineLinks, nameOf, priceLinks, productOf } from './price-products.ts';
import { automaticTaxOn, hasAutomaticTax, TAX_SETTINGS_READ } from './tax-settings.ts';

/**
 * What a Stripe invoice preview bills beyond what the call's body names (ADR 0007 §5, seventh round),
 * for the price stage to lease before the preview, and the check of the preview's answer against what
 * the call leased. A preview of an existing subscription bills its customer (tax ids, address,
 * balance) and its items' Prices and Products (tax behaviour, currency options, tax code), which the
 * body does not name: a tester changed each while such a preview was held, and the call was priced at
 * the figure from before.
 */

type Obj = Record<string, unknown>;

/** What a preview will bill that its body does not name, as a read under the call's lease found it. */
export interface Found {
  /** Objects leased as they are: the customer, and the subscription that was read. */
  readonly locks: readonly string[];
  /** Prices it bills: a subscription's items', a schedule's phases'. */
  readonly prices: readonly string[];
  /** The Product of each of those Prices that the answer showed (a subscription item's price object). */
  readonly products: ReadonlyMap<string, string>;
}

/** Nothing beyond the body: a preview of a new subscription or schedule. */
export const NOTHING_FOUND: Found = { locks: [], prices: [], products: new Map() };

/**
 * What a preview of subscription `o` (its answer, read under the lease of the subscription, so its
 * items cannot change until the call settles) bills: its customer, each item's Price and the Product
 * behind it. Undefined when the answer does not say (no customer, items past the list's first page):
 * the call is refused rather than priced from a preview whose reads are not all leased.
 */
export function subscriptionFound(o: Obj): Found | undefined {
  const customer = idOf(o['customer']);
  const items = isObj(o['items']) ? o['items'] : undefined;
  const data = items?.['data'];
  if (customer === undefined || !Array.isArray(data) || items?.['has_more'] !== false) return undefined;
  const prices: string[] = [];
  const products = new Map<string, string>();
  for (const item of data) {
    const price = isObj(item) ? item['price'] : undefined;
    const id = nameOf(price);
    if (id === undefined) return undefined;
    prices.push(id);
    const product = productOf(price);
    if (product !== undefined) products.set(id, product);
  }
  return { locks: [customer, ...accountOf(o), ...taxSettingsOf(o)], prices, products };
}

/**
 * The customer's account id (`customer_account`, Accounts v2) where the answer gives one: a tax id
 * written for the customer by that name (`POST /v1/tax_ids owner[customer_account]`) locks it, and
 * met only the `cus_` lease before (thirteenth round, fixes13s).
 */
function accountOf(o: Obj): string[] {
  const account = idOf(o['customer_account']);
  return account === undefined ? [] : [account];
}

/**
 * The account's tax settings, when the subscription or schedule read has automatic tax on: its
 * preview computes tax from them though neither the body nor the answer names them (tax-settings.ts).
 */
function taxSettingsOf(o: Obj): string[] {
  return hasAutomaticTax(o) ? [TAX_SETTINGS_READ] : [];
}

/**
 * What a preview of schedule `o` bills: its customer and the Prices of its phases (by id: a phase's
 * price is not expanded, so their products are known or read). Undefined without a customer.
 */
export function scheduleFound(o: Obj): Found | undefined {
  const customer = idOf(o['customer']);
  if (customer === undefined) return undefined;
  const prices = [...new Set(pricesIn(o['phases']))];
  return { locks: [customer, ...accountOf(o), ...taxSettingsOf(o)], prices, products: new Map() };
}

/** The Price → Product links a subscription answer shows, one per item (for the proxy to keep). */
export function itemLinks(o: unknown): (readonly [string, string])[] {
  const items = isObj(o) && isObj(o['items']) ? o['items']['data'] : undefined;
  if (!Array.isArray(items)) return [];
  return items.flatMap((item) => (isObj(item) ? priceLinks(item['price']) : []));
}

/**
 * Whether the preview's answer bills something the call did not lease (ADR 0007 §5, seventh round:
 * the backstop, for every preview): its customer, a line's Product, or a line's Price. A Price the
 * call could not name is let through when its Product is one the body names in `price_data` (`inline`):
 * Stripe makes that Price for the call, under an id nobody knows before it. Only the lines of the
 * answer's first page are seen. Since the thirteenth round also automatic tax computed without the
 * account's tax settings leased (an automatic tax the call did not foresee: tax-settings.ts).
 */
export function billsUnleased(o: Obj, leased: readonly string[], inline: readonly string[]): boolean {
  const customer = idOf(o['customer']);
  if (customer !== undefined && !leased.includes(customer)) return true;
  if (automaticTaxOn(o['automatic_tax']) && !leased.includes(TAX_SETTINGS_READ)) return true;
  return lineLinks(o).some(
    ([price, product]) => !leased.includes(product) || (!leased.includes(price) && !inline.includes(product)),
  );
}

/** Every `price` id at any depth of a schedule's phases (items and invoice items, ids or objects). */
function pricesIn(v: unknown): string[] {
  if (Array.isArray(v)) return v.flatMap(pricesIn);
  if (!isObj(v)) return [];
  return Object.entries(v).flatMap(([k, x]) => {
    if (k !== 'price') return pricesIn(x);
    const id = nameOf(x);
    return id === undefined ? [] : [id];
  });
}
