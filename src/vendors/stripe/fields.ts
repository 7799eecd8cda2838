import { type Denial, deny } from '../../decision/reasons.ts';
import type { Params } from '../types.ts';

/**
 * Typed reads of form parameters for classify: a money field that arrives twice, as a list or as an
 * object is refused rather than guessed, since Stripe might read a different copy than we price.
 */

const AMOUNT = /^\d{1,15}$/;
const ID = /^[A-Za-z0-9_]{1,255}$/;
// A Plan's custom id (`POST /v1/plans id=gold-monthly`) goes wherever a Price id goes. Since API
// 2018-05-21 Stripe takes only letters, digits, `_` and `-` in a custom id (changelog "Coupons, SKUs,
// customers, products, and plans now limit the valid characters for IDs"); an older plan named with
// other characters stays refused rather than risk a lookup path it could steer (`/`, `..`, `?`).
const PRICE_ID = /^[A-Za-z0-9_-]{1,255}$/;

export function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Every value of every top-level parameter that may be `name`: any name that folds to it once
 * lower-cased with everything but letters dropped (`Login_page`, `login_page%20`, `email%00`,
 * `INCLUDE`, `in_clude`). For the checks that refuse or raise a call by one parameter (the portal's
 * login page, features and email; v2's include): read by the exact name only, `Email=` and
 * `Include=` were forwarded unjudged (twelfth round, probes fixes12b and fixes12d). Stripe is believed
 * to refuse such names as unknown, but judging them costs nothing.
 */
export function valuesNamed(params: Params, name: string): unknown[] {
  const folded = lettersOf(name);
  return Object.entries(params)
    .filter(([n]) => lettersOf(n) === folded)
    .map(([, value]) => value);
}

function lettersOf(name: string): string {
  return name.toLowerCase().replace(/[^a-z]/g, '');
}

/** A single string parameter; undefined when absent. */
export function scalar(params: Params, name: string): string | undefined | Denial {
  const v = Object.hasOwn(params, name) ? params[name] : undefined;
  if (v === undefined || typeof v === 'string') return v;
  return deny('body_invalid', `Parameter "${name}" must be given once, as a single value.`);
}

/** A non-negative integer amount in minor units; undefined when absent. */
export function amount(params: Params, name: string): number | undefined | Denial {
  const v = scalar(params, name);
  if (v === undefined || typeof v !== 'string') return v;
  if (!AMOUNT.test(v) || !Number.isSafeInteger(Number(v))) {
    return deny(
      'body_invalid',
      `Parameter "${name}" must be a non-negative integer amount in the currency's minor unit.`,
    );
  }
  return Number(v);
}

/** A Stripe object id (`ch_…`, `pi_…`) safe to put into a lookup path; undefined when absent. */
export function objectId(params: Params, name: string): string | undefined | Denial {
  const v = scalar(params, name);
  if (v === undefined || typeof v !== 'string') return v;
  return ID.test(v) ? v : deny('body_invalid', `Parameter "${name}" is not a valid Stripe object id.`);
}

export function isId(v: string): boolean {
  return ID.test(v);
}

/** A Price id, or a Plan's custom id in its place, safe to put into a lookup path; undefined when absent. */
export function priceId(params: Params, name: string): string | undefined | Denial {
  const v = scalar(params, name);
  if (v === undefined || typeof v !== 'string') return v;
  return isPriceId(v)
    ? v
    : deny('body_invalid', `Parameter "${name}" is not a valid Stripe price or plan id.`);
}

export function isPriceId(v: string): boolean {
  return PRICE_ID.test(v);
}

/** A nested string (`transfer_data[destination]`) when it is one; anything else is ignored. */
export function nested(params: Params, outer: string, inner: string): string | undefined {
  const o = Object.hasOwn(params, outer) ? params[outer] : undefined;
  if (!isObj(o) || !Object.hasOwn(o, inner)) return undefined;
  const v = o[inner];
  return typeof v === 'string' ? v : undefined;
}
