import { type Denial, deny, isDenial } from '../../decision/reasons.ts';
import type { Params } from '../types.ts';
import { isObj, scalar } from './fields.ts';

/**
 * Reads of the amounts Stripe's billing calls carry beside `amount` (price stage, for costs.ts and
 * billing.ts): signed amounts (a negative invoice item is a credit), decimal unit amounts and
 * quantities (`unit_amount_decimal`, `quantity_decimal`, at most 12 places), and nested objects and
 * lists. A value Keybrake cannot read the way Stripe would is refused, never guessed.
 */

const SIGNED = /^-?\d{1,15}$/;
const DECIMAL = /^(-?)(\d{1,15})(?:\.(\d{1,12}))?$/;

/** An exact decimal: `units / 10^scale`. */
export interface Decimal {
  readonly units: bigint;
  readonly scale: number;
}

export const ONE: Decimal = { units: 1n, scale: 0 };

/** A decimal from an integer amount or quantity. */
export function decimalOf(n: number | bigint): Decimal {
  return { units: BigInt(n), scale: 0 };
}

/** A Stripe decimal string (`"12.5"`, `"-0.001"`); undefined when it is not one. */
export function parseDecimal(text: string): Decimal | undefined {
  const m = DECIMAL.exec(text);
  if (!m) return undefined;
  const frac = m[3] ?? '';
  const units = BigInt(`${m[2]}${frac}`);
  return { units: m[1] === '-' ? -units : units, scale: frac.length };
}

/** A decimal Stripe returns as a string or a number (`unit_amount_decimal`, `quantity`). */
export function decimalField(v: unknown): Decimal | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? decimalOf(v) : undefined;
  return typeof v === 'string' ? parseDecimal(v) : undefined;
}

/** ⌈a × b⌉ in minor units, and never below 0: a credit never pays for a charge. */
export function ceilProduct(a: Decimal, b: Decimal): bigint {
  const units = a.units * b.units;
  if (units <= 0n) return 0n;
  const d = 10n ** BigInt(a.scale + b.scale);
  return (units + d - 1n) / d;
}

/** a + b, exactly. */
export function addDecimal(a: Decimal, b: Decimal): Decimal {
  const scale = Math.max(a.scale, b.scale);
  const units = a.units * 10n ** BigInt(scale - a.scale) + b.units * 10n ** BigInt(scale - b.scale);
  return { units, scale };
}

/** The larger of two decimals. */
export function maxDecimal(a: Decimal, b: Decimal): Decimal {
  const scale = Math.max(a.scale, b.scale);
  const ua = a.units * 10n ** BigInt(scale - a.scale);
  const ub = b.units * 10n ** BigInt(scale - b.scale);
  return ua >= ub ? a : b;
}

/** A bigint minor amount as a safe number (undefined beyond safe integers: denied). */
export function minorNumber(v: bigint): number | undefined {
  return v >= 0n && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : undefined;
}

/** A signed integer amount in minor units (`amount=-500` credits); undefined when absent. */
export function signedAmount(params: Params, name: string): number | undefined | Denial {
  const v = scalar(params, name);
  if (v === undefined || typeof v !== 'string') return v;
  if (!SIGNED.test(v) || !Number.isSafeInteger(Number(v))) {
    return deny(
      'body_invalid',
      `Parameter "${name}" must be an integer amount in the currency's minor unit.`,
    );
  }
  return Number(v);
}

/** A decimal parameter (`unit_amount_decimal`, `quantity_decimal`, `metric_tons`); undefined when absent. */
export function decimalParam(params: Params, name: string): Decimal | undefined | Denial {
  const v = scalar(params, name);
  if (v === undefined || typeof v !== 'string') return v;
  return parseDecimal(v) ?? deny('body_invalid', `Parameter "${name}" must be a decimal number.`);
}

/** A nested object parameter (`price_data`, `pricing`); undefined when absent, refused when not an object. */
export function objectParam(params: Params, name: string): Params | undefined | Denial {
  const v = Object.hasOwn(params, name) ? params[name] : undefined;
  if (v === undefined) return undefined;
  return isObj(v) ? v : deny('body_invalid', `Parameter "${name}" must be an object.`);
}

/** A list of objects (`lines`, `items`); undefined when absent, refused when anything else. */
export function objectList(params: Params, name: string): Params[] | undefined | Denial {
  const v = Object.hasOwn(params, name) ? params[name] : undefined;
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every(isObj)) {
    return deny('body_invalid', `Parameter "${name}" must be a list of objects.`);
  }
  return v as Params[];
}

/**
 * The quantity of a line or item: `quantity_decimal` or `quantity` (the larger if both are given),
 * `fallback` when neither is.
 */
export function quantityParam(params: Params, fallback: Decimal | undefined): Decimal | undefined | Denial {
  const whole = scalar(params, 'quantity');
  if (isDenial(whole)) return whole;
  let q: Decimal | undefined;
  if (whole !== undefined) {
    if (!/^\d{1,15}$/.test(whole)) {
      return deny('body_invalid', 'Parameter "quantity" must be a non-negative integer.');
    }
    q = decimalOf(BigInt(whole));
  }
  const dec = decimalParam(params, 'quantity_decimal');
  if (isDenial(dec)) return dec;
  if (dec !== undefined) q = q === undefined ? dec : maxDecimal(q, dec);
  return q ?? fallback;
}

/** The unit amount a `price_data` (or an item's own fields) sets: `unit_amount_decimal` or `unit_amount`, the larger if both. */
export function unitParam(params: Params): Decimal | undefined | Denial {
  const whole = signedAmount(params, 'unit_amount');
  if (isDenial(whole)) return whole;
  const dec = decimalParam(params, 'unit_amount_decimal');
  if (isDenial(dec)) return dec;
  if (whole === undefined) return dec;
  return dec === undefined ? decimalOf(whole) : maxDecimal(decimalOf(whole), dec);
}

/** Whether any of `names` is a parameter of the call. */
export function hasAny(params: Params, names: readonly string[]): boolean {
  return names.some((n) => Object.hasOwn(params, n));
}
