/**
 * The customers a Stripe search names (`GET /v1/charges/search?query=customer:'cus_1'`), for the
 * customer allowlist as a `customer` parameter is (parties.ts). Stripe's search API is one endpoint
 * per resource, `/v1/<resource>/search`, its filter a query string in Stripe's own language.
 */

/**
 * A search endpoint of Stripe's API (`customers/search` among them: a search, not a customer id), for
 * a GET only: a POST there is a write of the object the segment names (parties.ts).
 */
export const SEARCH_PATH = /^\/v1\/[a-z_]+\/search\/?$/;

/**
 * Named as a customer when a search mentions `customer` in a way Keybrake does not read as one clause
 * naming one customer id: no allowlist holds it, so a customer allowlist refuses such a search.
 */
export const UNSEEN_CUSTOMER = '(unseen customer)';

/**
 * A clause naming one customer: `customer:'cus_1'` or `customer:"acct_1"`, any spacing around `:`,
 * ending the query, before a blank or `)`. Tried where `customer` starts: sticky, case-insensitive.
 */
const CLAUSE = /customer\s*:\s*(['"])((?:cus|acct)_[A-Za-z0-9]+)\1(?=$|[\s)])/iy;
/** What may come before a clause's field: the query's start, a blank, `(` or a negation `-`. */
const CLAUSE_START = /[\s(-]/;

/**
 * Every customer the search `query` names, or UNSEEN_CUSTOMER for each mention of `customer` that is
 * not such a clause (`customer~'cus_'`, `customer:cus_1`, `customer_x:`, a mention inside a quoted
 * value). Every mention of the word counts, wherever it stands, so no reading of quotes or escapes
 * can hide a clause Stripe would read: found by a security tester (sixth round), a search named
 * `customer:'cus_other'` under `allow.customers: [cus_allowed]` and was forwarded. A query that
 * does not mention `customer` names none, as the list without `customer` does (an allowlist does not
 * govern it).
 */
export function searchCustomers(query: unknown): string[] {
  if (query === undefined) return [];
  if (typeof query !== 'string') return [UNSEEN_CUSTOMER];
  const customers: string[] = [];
  for (const { index } of query.matchAll(/customer/gi)) {
    CLAUSE.lastIndex = index;
    const clause = index === 0 || CLAUSE_START.test(query[index - 1]!) ? CLAUSE.exec(query) : null;
    customers.push(clause?.[2] ?? UNSEEN_CUSTOMER);
  }
  return customers;
}
