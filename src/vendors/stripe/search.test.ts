import { describe, expect, it } from 'vitest';
import { SEARCH_PATH, searchCustomers, UNSEEN_CUSTOMER } from './search.ts';

// Sixth round: a search named customer:'cus_other' under allow.customers [cus_allowed] and was
// forwarded, while ?customer=cus_other on the list was refused.
describe('searchCustomers', () => {
  it.each([
    ['a single-quoted clause', "customer:'cus_1'", ['cus_1']],
    ['a double-quoted clause', 'customer:"cus_1"', ['cus_1']],
    ['spaces around the colon', "customer : 'cus_1'", ['cus_1']],
    ['a clause among others', "status:'succeeded' AND customer:'cus_1'", ['cus_1']],
    ['two clauses joined by OR', "customer:'cus_1' OR customer:'cus_2'", ['cus_1', 'cus_2']],
    ['a negated clause', "-customer:'cus_2'", ['cus_2']],
    ['a customer named by its account id', "customer:'acct_1'", ['acct_1']],
  ])('reads %s', (_name, query, expected) => {
    expect(searchCustomers(query)).toEqual(expected);
  });

  it.each([
    ['a substring match', "customer~'cus_'"],
    ['an unquoted value', 'customer:cus_1'],
    ['a value that is no customer id', "customer:'cus_1 OR x'"],
    ['mismatched quotes', 'customer:\'cus_1"'],
    ['a field that starts with customer', "customer_account:'acct_1'"],
    ['a clause run into the one before it', "customer:'cus_1'customer:'cus_2'"],
    ['a mention inside a quoted value', "metadata['note']:'customer'"],
    ['a query that is not one string', ["customer:'cus_1'"]],
  ])('names an unseen customer for %s', (_name, query) => {
    expect(searchCustomers(query)).toContain(UNSEEN_CUSTOMER);
  });
});

describe('SEARCH_PATH', () => {
  it('takes customers/search for a search, not a customer id', () => {
    expect(SEARCH_PATH.test('/v1/customers/search')).toBe(true);
  });
});
