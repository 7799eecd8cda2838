import type { ExchangeRates } from '../../money/exchange-rates.ts';
import type { MicroUsd } from '../../money/micro-usd.ts';
import { idOf, type Read, sumItemCredits } from './costs.ts';
import { isObj } from './fields.ts';
import { hiddenCredit, pageSeen } from './preview-credits.ts';

/**
 * The pending invoice items a Stripe invoice preview takes in past the first page of its lines
 * (fourteenth round, probe credits14, finding 1, MEDIUM over-refusal). The preview's answer holds
 * the first page of its lines only, and Stripe lists pending invoice items (prorations included)
 * before the subscription items: a page without a subscription item's line may hide pending credits
 * the invoice uses up (preview-credits.ts, d96e821). Such a page is what every plan change moving 5
 * or more items shows (10 or more of the change's own prorations come first), and every new
 * subscription for a customer with 10 or more pending charges: refusing it refused everyday calls.
 *
 * Stripe's definition gives no read of a preview's further lines (`GET /v1/invoices/upcoming/lines`
 * is gone from API version 2025-03-31, and a preview "has not yet been created"), so the customer's
 * pending invoice items are read as a new invoice's sweep reads them (billing.ts pendingSweep):
 * `GET /v1/invoiceitems?customer=…&pending=true`, 100 a page, at most PENDING_PAGES pages, each a
 * read of the call's lookup (counted against the key's reads like any) leasing what the preview
 * leased. The credit of every item whose line the page did not show is added (hiddenCredit); an item
 * whose line it showed was counted from that line, tax as Stripe computed it. Refused
 * (price_unknown) past the bound, and for a hidden credit the preview's automatic tax would tax at a
 * rate no read shows.
 */

type Obj = Record<string, unknown>;

/** The most pages of 100 pending invoice items read for one preview: a customer with more is refused. */
export const PENDING_PAGES = 5;

/**
 * The reads of the pending items preview `o` may take in past its first page of lines, each leasing
 * `locks`: none when the page shows them all; undefined when the answer does not say whose invoice it
 * is (no `customer` or `customer_account`).
 */
export function hiddenPendingReads(
  o: Obj,
  locks: readonly string[],
  rates: ExchangeRates,
): readonly Read[] | undefined {
  const seen = pageSeen(o);
  if (seen === undefined) return undefined;
  if (seen.whole) return [];
  const customer = idOf(o['customer']);
  const account = idOf(o['customer_account']);
  const party =
    customer !== undefined
      ? (['customer', customer] as const)
      : account !== undefined
        ? (['customer_account', account] as const)
        : undefined;
  if (party === undefined) return undefined;
  const page = (n: number, after: string | undefined): Read => ({
    path: `/v1/invoiceitems?${party[0]}=${encodeURIComponent(party[1])}&pending=true&limit=100${after === undefined ? '' : `&starting_after=${encodeURIComponent(after)}`}`,
    describe: `the customer's pending invoice items (page ${n} of at most ${PENDING_PAGES}), read because the preview's first page of lines ended before its subscription items' lines and Stripe lists pending items first: a customer with more than ${PENDING_PAGES * 100} pending items, or a pending credit the preview's automatic tax would tax at a rate no read shows, is not priced`,
    ...(locks.length > 0 ? { locks } : {}),
    part: (list) =>
      list['has_more'] !== false && n >= PENDING_PAGES ? undefined : pageCredits(list, o, seen.items, rates),
    follow: (list) => {
      if (list['has_more'] === false) return [];
      const data = list['data'];
      const last = Array.isArray(data) && isObj(data.at(-1)) ? idOf((data.at(-1) as Obj)['id']) : undefined;
      return n < PENDING_PAGES && last !== undefined ? [page(n + 1, last)] : undefined;
    },
  });
  return [page(1, undefined)];
}

/** The credits (micro-USD) of a page of pending items whose lines preview `o`'s page did not show. */
function pageCredits(
  list: Obj,
  o: Obj,
  shown: readonly string[],
  rates: ExchangeRates,
): MicroUsd | undefined {
  const data = list['data'];
  if (!Array.isArray(data)) return undefined;
  return sumItemCredits(
    data,
    (item) => {
      const id = idOf(item['id']);
      if (id === undefined) return undefined;
      return shown.includes(id) ? 0n : hiddenCredit(item, o);
    },
    rates,
  );
}
