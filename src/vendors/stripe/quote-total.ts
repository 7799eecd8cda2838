import { isObj } from './fields.ts';

/**
 * What accepting a quote counts, in the quote's minor units (price and settle): the largest of its
 * `amount_total`, its `computed.upfront.amount_total` and its `computed.recurring.amount_total`. The
 * recurring total is a subscription's first period, as a subscription create counts it: a trial or a
 * coupon for one period makes the upfront $0, and Stripe charges every later period on its own.
 * Undefined when one present is not a number.
 */
export function quoteTotal(quote: Record<string, unknown>): number | undefined {
  const computed = quote['computed'];
  const part = (name: string) =>
    isObj(computed) && isObj(computed[name]) ? computed[name]['amount_total'] : 0;
  const totals = [quote['amount_total'], part('upfront'), part('recurring')];
  return totals.every((t): t is number => typeof t === 'number') ? Math.max(...totals) : undefined;
}
