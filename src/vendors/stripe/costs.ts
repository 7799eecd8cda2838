import { type Denial, deny, isDenial } from '../../decision/reasons.ts';
import { minorToMicroUsd } from '../../money/convert.ts';
import { minorUnitExponent } from '../../money/currencies.ts';
import type { ExchangeRates } from '../../money/exchange-rates.ts';
import type { MicroUsd } from '../../money/micro-usd.ts';
import type { CostLookup, Params, Parties } from '../types.ts';
import { ceilProduct, type Decimal, decimalField, decimalOf, decimalParam, minorNumber } from './amounts.ts';
import { amount, isId, isObj, objectId, scalar } from './fields.ts';

/**
 * The cost formulas of Stripe's pricing rules (price stage; classify.ts picks the formula). Amounts
 * are Stripe minor units in the call's currency, converted to micro-USD rounding up. Whatever cannot
 * be priced is denied with price_unknown; nothing that may move money is ever priced at zero.
 */

/** What a pricing rule adds to an operation: whether it moves money, its reserved cost, or a lookup. */
export interface Priced {
  readonly movesMoney: boolean;
  readonly costMicros: MicroUsd;
  readonly lookup?: CostLookup;
  /**
   * Objects the lookup's reads depend on that the request itself names (a Price, a shipping rate):
   * classify adds them to the call's own locks, so the lease step takes them before the first read,
   * in the step the call makes anyway (ADR 0007 §5, sixth round).
   */
  readonly locks?: readonly string[];
  /** The answer shows only part of what the call moves: settle never counts less (Operation). */
  readonly reservationIsFloor?: boolean;
  /** The answer is not what the call moved: settle keeps the reservation (Operation). */
  readonly settlesAtReservation?: boolean;
}

/** A call that moves no money (an intent created without `confirm`, a subscription collected by invoice). */
export const FREE: Priced = { movesMoney: false, costMicros: 0 };

/**
 * A write that moves money this time, in a way Keybrake cannot price (a Checkout Session for a saved
 * card whose payer may add taxes or shipping): `money_unpriced`, admitted only by an exact entry.
 */
export const UNPRICED = 'unpriced';
export type Unpriced = typeof UNPRICED;

type Obj = Record<string, unknown>;

/**
 * One upstream read of a priced call. The reads of one call run in order (the price stage follows
 * `CostLookup.next`); each adds `part` of its body to the cost, and `follow` may name further reads
 * from what it found (a subscription item names its subscription, which the preview needs).
 */
export interface Read {
  /** Vendor-relative path, with `?query` for a GET that takes parameters. */
  readonly path: string;
  /** POST only for a preview endpoint, which creates nothing (`/v1/invoices/create_preview`). */
  readonly method?: 'GET' | 'POST';
  /** Form body of a POST preview. */
  readonly body?: string;
  readonly describe: string;
  /**
   * Objects whose fields this read prices the call from, leased before it (ADR 0007 §5) and held
   * until the call settles, so no update can change them between the read and the forward. Those of
   * the reads a chain starts with are the request's own: chain hands them to the call's locks.
   */
  readonly locks?: readonly string[];
  /** What this read adds in micro-USD; undefined when it cannot say (the call is denied). */
  readonly part: (o: Obj) => MicroUsd | undefined;
  /**
   * Currencies the call may be charged in that the object keeps elsewhere than in `currency` and
   * `currency_options` (which lookedUpParties reads), for the currency allowlist.
   */
  readonly currencies?: (o: Obj) => readonly string[];
  /** The reads this one leads to; undefined when the body does not say what it must (denied). */
  readonly follow?: (o: Obj) => readonly Read[] | undefined;
  /** Links the answer shows that never change, for the proxy to keep (CostLookup.links). */
  readonly links?: (o: unknown) => ReadonlyArray<readonly [string, string]>;
}

/** The reads in order, as the price stage performs them; the call costs `base` plus every read's part. */
export function chain(reads: readonly [Read, ...Read[]], base: MicroUsd = 0): Priced {
  const locks = [...new Set(reads.flatMap((read) => read.locks ?? []))];
  return {
    movesMoney: true,
    costMicros: 0,
    lookup: lookupOf(reads, base),
    ...(locks.length > 0 ? { locks } : {}),
  };
}

type Step = { readonly done: MicroUsd } | { readonly more: CostLookup } | undefined;

function lookupOf(queue: readonly [Read, ...Read[]], spent: MicroUsd): CostLookup {
  const read = queue[0];
  // Pure in its body, so `next` and `price` give the same answer for the same read.
  const step = (body: unknown): Step => {
    if (!isObj(body)) return undefined;
    const part = read.part(body);
    const more = read.follow === undefined ? [] : read.follow(body);
    if (part === undefined || more === undefined) return undefined;
    const total = spent + part;
    if (!Number.isSafeInteger(total)) return undefined;
    const rest = [...more, ...queue.slice(1)];
    return rest.length === 0 ? { done: total } : { more: lookupOf(rest as [Read, ...Read[]], total) };
  };
  return {
    path: read.path,
    ...(read.method === 'POST' ? { method: 'POST' as const, body: read.body ?? '' } : {}),
    describe: read.describe,
    ...(read.locks !== undefined && read.locks.length > 0 ? { locks: read.locks } : {}),
    parties: read.currencies === undefined ? lookedUpParties : withCurrencies(read.currencies),
    ...(read.links !== undefined ? { links: read.links } : {}),
    // Only where a further read may follow: a lookup without `next` is known offline to be one read
    // (`policy-check --explain` says what it counts and leases from that).
    ...(read.follow !== undefined || queue.length > 1
      ? {
          next: (body: unknown) => {
            const s = step(body);
            return s !== undefined && 'more' in s ? s.more : undefined;
          },
        }
      : {}),
    price: (body) => {
      const s = step(body);
      return s !== undefined && 'done' in s ? s.done : undefined;
    },
  };
}

/** `minor` in `currency` as micro-USD, rounding up; undefined when it cannot be priced. */
export function micros(minor: unknown, currency: unknown, rates: ExchangeRates): MicroUsd | undefined {
  if (typeof currency !== 'string') return undefined;
  if (typeof minor === 'bigint') {
    const n = minorNumber(minor);
    return n === undefined ? undefined : minorToMicroUsd(n, currency, rates);
  }
  return typeof minor === 'number' ? minorToMicroUsd(minor, currency, rates) : undefined;
}

/**
 * The credits (micro-USD) `creditOf` reads from a list's items, each in its own currency, summed:
 * undefined when an item is not an object, its credit cannot be read (`creditOf` undefined) or
 * priced, or the sum leaves the safe integers. An item to skip is a credit of 0. The pending-items
 * reads of a new invoice (billing.ts) and of a preview's unseen lines (preview-pending.ts).
 */
export function sumItemCredits(
  items: readonly unknown[],
  creditOf: (item: Obj) => bigint | undefined,
  rates: ExchangeRates,
): MicroUsd | undefined {
  let sum = 0;
  for (const item of items) {
    if (!isObj(item)) return undefined;
    const credit = creditOf(item);
    if (credit === undefined) return undefined;
    if (credit === 0n) continue;
    const cost = micros(credit, item['currency'], rates);
    if (cost === undefined) return undefined;
    sum += cost;
  }
  return Number.isSafeInteger(sum) ? sum : undefined;
}

/** A known cost in `currency`, or the denial that says why it cannot be priced. */
export function known(minor: number | bigint, currency: string, rates: ExchangeRates): MicroUsd | Denial {
  const m = micros(minor, currency, rates);
  return m ?? deny('price_unknown', unpriceable(currency, rates));
}

/** `amount` + `currency` from the body. */
export function bodyCost(params: Params, rates: ExchangeRates): Priced | Denial {
  const a = amount(params, 'amount');
  if (isDenial(a)) return a;
  const currency = scalar(params, 'currency');
  if (isDenial(currency)) return currency;
  if (a === undefined) return deny('price_unknown', 'This call needs an "amount" for Keybrake to price it.');
  if (currency === undefined)
    return deny('price_unknown', 'This call needs a "currency" for Keybrake to price it.');
  const cost = known(a, currency, rates);
  return isDenial(cost) ? cost : { movesMoney: true, costMicros: cost };
}

/**
 * `POST /v1/climate/orders`, paid from the Stripe balance: `metric_tons` × the product's price per
 * ton (`amount_total`, fees included) in `currency` (or, without one, the dearest currency the
 * product is sold in); or `amount` in `currency`, grossed up by the product's fee share in case
 * Stripe adds its fees on top. The product is read either way.
 */
export function climateOrder(params: Params, rates: ExchangeRates): Priced | Denial {
  const a = amount(params, 'amount');
  if (isDenial(a)) return a;
  const currency = scalar(params, 'currency');
  if (isDenial(currency)) return currency;
  const tons = decimalParam(params, 'metric_tons');
  if (isDenial(tons)) return tons;
  const product = objectId(params, 'product');
  if (isDenial(product)) return product;
  if (product === undefined || (a === undefined && tons === undefined)) {
    return deny(
      'price_unknown',
      'A climate order needs a "product" and "amount" or "metric_tons" for Keybrake to price it.',
    );
  }
  if (a !== undefined && currency === undefined) {
    return deny(
      'price_unknown',
      'A climate order with an "amount" needs its "currency" for Keybrake to price it.',
    );
  }
  const code = currency?.toLowerCase();
  return chain([
    {
      path: `/v1/climate/products/${product}`,
      describe: "the product's price per metric ton, fees included",
      // Without `currency` Stripe orders in the account's default currency, which no read gives: a
      // currency allowlist must admit every currency the product is sold in. Found by a security
      // tester (fifth round): an order naming no currency passed an allowlist that refused `gbp`.
      ...(code === undefined ? { currencies: productCurrencies } : {}),
      part: (o) => {
        const prices = o['current_prices_per_metric_ton'];
        if (!isObj(prices)) return undefined;
        let best: MicroUsd | undefined;
        for (const [c, price] of Object.entries(prices)) {
          if (code !== undefined && c.toLowerCase() !== code) continue;
          if (!isObj(price)) return undefined;
          const total = price['amount_total'];
          const subtotal = price['amount_subtotal'];
          if (typeof total !== 'number' || total < 0 || !Number.isSafeInteger(total)) return undefined;
          let minor: bigint;
          if (a !== undefined) {
            if (typeof subtotal !== 'number' || subtotal <= 0 || !Number.isSafeInteger(subtotal))
              return undefined;
            const t = BigInt(Math.max(total, subtotal));
            minor = (BigInt(a) * t + BigInt(subtotal) - 1n) / BigInt(subtotal);
          } else {
            minor = ceilProduct(decimalOf(total), tons!);
          }
          const cost = micros(minor, c, rates);
          if (cost === undefined) return undefined;
          best = Math.max(best ?? 0, cost);
        }
        return best;
      },
    },
  ]);
}

/** The currencies a climate product is sold in: the keys of its prices per metric ton. */
function productCurrencies(o: Obj): string[] {
  const prices = o['current_prices_per_metric_ton'];
  return isObj(prices) ? Object.keys(prices) : [];
}

/** What is left of an amount once `done` of it was returned (refunded, reversed). */
export function remaining(total: unknown, done: unknown): unknown {
  return typeof total === 'number' && typeof done === 'number' ? total - done : total;
}

/**
 * Prices from the object Stripe holds: the requested amount (if the call has one) or `pick(object)`,
 * in the object's currency. The pipeline performs the GET with the real key before reserving.
 */
export function lookupCost(
  path: string,
  requested: number | undefined,
  pick: (o: Obj) => unknown,
  rates: ExchangeRates,
  describe = 'the looked-up object',
): Priced {
  return chain([
    {
      path,
      describe: requested === undefined ? describe : `the requested amount in the currency of ${path}`,
      part: (o) => micros(requested ?? pick(o), o['currency'], rates),
    },
  ]);
}

/**
 * Reads one Stripe Price with its other currencies (`currency_options`). The id is encoded although
 * its readers admit no character that needs it: a Plan's custom id is chosen by whoever made it, and
 * must stay one path segment whatever it holds.
 */
export function pricePath(price: string): string {
  return `/v1/prices/${encodeURIComponent(price)}?expand%5B%5D=currency_options`;
}

/**
 * `quantity` units of a looked-up Price, in the dearest of its currencies (the base one and every
 * `currency_options` entry: the invoice's currency picks one, and the others can only be cheaper).
 * A tiered or customer-chosen price has no unit amount: undefined (denied).
 */
export function priceUnits(o: Obj, quantity: Decimal, rates: ExchangeRates): MicroUsd | undefined {
  if (o['billing_scheme'] === 'tiered') return undefined;
  let best = unitsIn(o, o['currency'], quantity, rates);
  if (best === undefined) return undefined;
  const options = o['currency_options'];
  if (isObj(options)) {
    for (const [currency, option] of Object.entries(options)) {
      if (!isObj(option)) return undefined;
      const cost = unitsIn(option, currency, quantity, rates);
      if (cost === undefined) return undefined;
      best = Math.max(best, cost);
    }
  }
  return best;
}

function unitsIn(o: Obj, currency: unknown, quantity: Decimal, rates: ExchangeRates): MicroUsd | undefined {
  const unit = decimalField(o['unit_amount_decimal'] ?? o['unit_amount']);
  return unit === undefined ? undefined : micros(ceilProduct(unit, quantity), currency, rates);
}

/** An object's own currencies as Stripe writes them: `currency` and every `currency_options` key. */
export function ownCurrencies(o: unknown): string[] {
  if (!isObj(o)) return [];
  const options = o['currency_options'];
  return [o['currency'], ...(isObj(options) ? Object.keys(options) : [])].filter(
    (c): c is string => typeof c === 'string',
  );
}

/**
 * The customer (an id, or an expanded object) and currencies of a looked-up object: its `currency`
 * and every key of its `currency_options` (a Price is charged in whichever the invoice picks).
 */
export function lookedUpParties(body: unknown): Partial<Parties> {
  if (!isObj(body)) return {};
  // `customer_account` names the customer by its account, as on a request (parties.ts).
  const customers = ['customer', 'customer_account']
    .map((field) => body[field])
    .map((c) => (typeof c === 'string' ? c : isObj(c) && typeof c['id'] === 'string' ? c['id'] : undefined))
    .filter((id): id is string => id !== undefined);
  // Found by an adversarial probe: a looked-up price's other currencies passed a currency allowlist.
  const currencies = ownCurrencies(body).map((c) => c.toLowerCase());
  return {
    ...(customers.length > 0 ? { customers } : {}),
    ...(currencies.length > 0 ? { currencies: [...new Set(currencies)] } : {}),
  };
}

/** lookedUpParties, with the currencies `more` finds in the object too. */
function withCurrencies(more: (o: Obj) => readonly string[]): (body: unknown) => Partial<Parties> {
  return (body) => {
    const found = lookedUpParties(body);
    const extra = isObj(body) ? more(body).map((c) => c.toLowerCase()) : [];
    const currencies = [...new Set([...(found.currencies ?? []), ...extra])];
    return currencies.length > 0 ? { ...found, currencies } : found;
  };
}

/** The id of a field that holds an id or an expanded object (`subscription`, `invoice`), if `valid`. */
export function idOf(v: unknown, valid: (id: string) => boolean = isId): string | undefined {
  const id = typeof v === 'string' ? v : isObj(v) ? v['id'] : undefined;
  return typeof id === 'string' && valid(id) ? id : undefined;
}

export function unpriceable(currency: string, rates: ExchangeRates): string {
  // A currency that is no three-letter code is not repeated (it is the agent's text), and is named
  // as what it is: "unknown currency this" read as a garbled sentence (fifteenth round, probe money L1).
  const code = /^[A-Za-z]{3}$/.test(currency) ? currency.toLowerCase() : undefined;
  if (code === undefined)
    return 'Keybrake cannot price amounts in a currency that is not a three-letter ISO 4217 code.';
  if (minorUnitExponent(currency) === undefined)
    return `Keybrake cannot price amounts in unknown currency ${code}.`;
  if (!rates.rates.has(code)) {
    return `Keybrake has no exchange rate for ${code}; configure one to allow this call.`;
  }
  return 'The amount is too large for Keybrake to price.';
}
