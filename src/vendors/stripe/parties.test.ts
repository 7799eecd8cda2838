import { describe, expect, it } from 'vitest';
import { isDenial } from '../../decision/reasons.ts';
import type { VendorRequest } from '../types.ts';
import { accountsOf, stripeParties, UNSEEN_RECIPIENT } from './parties.ts';

describe('accountsOf (Stripe-Account and Stripe-Context)', () => {
  it.each([
    ['no header: the platform account', {}, []],
    ['Stripe-Account', { 'stripe-account': 'acct_1Abc' }, ['acct_1Abc']],
    ['Stripe-Context with one account', { 'stripe-context': 'acct_1Abc' }, ['acct_1Abc']],
    ['a Stripe-Context path', { 'stripe-context': 'acct_1Abc/acct_2Def' }, ['acct_1Abc', 'acct_2Def']],
    ['a Stripe-Context path naming one account twice', { 'stripe-context': 'acct_1/acct_1' }, ['acct_1']],
    ['both naming the same account', { 'stripe-account': 'acct_1', 'stripe-context': 'acct_1' }, ['acct_1']],
    [
      'surrounding spaces and tabs',
      { 'stripe-account': ' \tacct_1 \t', 'stripe-context': '\tacct_1 ' },
      ['acct_1'],
    ],
  ])('%s', (_name, headers, expected) => {
    expect(accountsOf(headers)).toEqual(expected);
  });

  it.each([
    ['an empty Stripe-Account', { 'stripe-account': '' }],
    ['a Stripe-Account that is no account id', { 'stripe-account': 'cus_1' }],
    ['the reserved word platform as an account', { 'stripe-account': 'platform' }],
    ['two Stripe-Account values joined by node', { 'stripe-account': 'acct_1, acct_2' }],
    ['Stripe-Account given as an array', { 'stripe-account': ['acct_1', 'acct_2'] }],
    ['an empty Stripe-Context', { 'stripe-context': '' }],
    ['a Stripe-Context with an empty segment', { 'stripe-context': 'acct_1//acct_2' }],
    ['a Stripe-Context with a trailing slash', { 'stripe-context': 'acct_1/' }],
    ['a Stripe-Context segment that is no account id', { 'stripe-context': 'org_1/acct_2' }],
    ['a Stripe-Context with spaces', { 'stripe-context': 'acct_1 / acct_2' }],
    ['two Stripe-Context values joined by node', { 'stripe-context': 'acct_1, acct_2' }],
    // Only spaces and tabs are HTTP whitespace; the header travels to Stripe as it came.
    ['a Stripe-Account ending in a no-break space', { 'stripe-account': 'acct_1\u00a0' }],
    ['a Stripe-Account after a byte-order mark', { 'stripe-account': '\ufeffacct_1' }],
    ['a Stripe-Context ending in a no-break space', { 'stripe-context': 'acct_1/acct_2\u00a0' }],
    ['a Stripe-Context after an ideographic space', { 'stripe-context': '\u3000acct_1' }],
  ])('refuses %s with header_invalid', (_name, headers) => {
    expect(accountsOf(headers)).toMatchObject({ reason: 'header_invalid' });
  });

  it.each([
    ['different accounts', { 'stripe-account': 'acct_1', 'stripe-context': 'acct_2' }],
    ['a context path beyond the account', { 'stripe-account': 'acct_1', 'stripe-context': 'acct_1/acct_2' }],
  ])('refuses both headers naming %s with account_not_allowed', (_name, headers) => {
    expect(accountsOf(headers)).toMatchObject({ reason: 'account_not_allowed' });
  });
});

describe('stripeParties', () => {
  const req = (headers: Record<string, string> = {}, path = '/v1/charges'): VendorRequest => ({
    method: 'POST',
    path,
    query: '',
    headers,
  });

  it('names the accounts of Stripe-Context beside customers, recipients and currency', () => {
    const parties = stripeParties(req({ 'stripe-context': 'acct_1/acct_2' }), {
      customer: 'cus_1',
      currency: 'USD',
      transfer_data: { destination: 'acct_9' },
    });
    expect(parties).toMatchObject({
      customers: ['cus_1'],
      accounts: ['acct_1', 'acct_2'],
      recipients: ['acct_9'],
      currencies: ['usd'],
    });
  });

  // Sixth round: a search named another customer past allow.customers, and customers/search was
  // refused as a read of the customer "search".
  it.each([
    ['/v1/charges/search', "customer:'cus_other'", ['cus_other']],
    ['/v1/payment_intents/search', 'status:\'succeeded\' OR customer:"cus_2"', ['cus_2']],
    ['/v1/customers/search', "email:'ann@example.com'", []],
  ])('reads the customers a search of %s names', (path, query, customers) => {
    const search = { method: 'GET', path, query: '', headers: {} };
    expect(stripeParties(search, { query })).toMatchObject({ customers });
  });

  // Tenth round: the search reading ignored the method, so a POST to customers/search (an update of
  // the customer "search") named no customer and passed allow.customers.
  it('reads a POST to customers/search as an update of the customer "search", not as a search', () => {
    const post = { method: 'POST', path: '/v1/customers/search', query: '', headers: {} };
    expect(stripeParties(post, { name: 'x', query: "customer:'cus_2'" })).toMatchObject({
      customers: ['search'],
    });
  });

  it('refuses a malformed destination with a real denial', () => {
    const parties = stripeParties(req(), { destination: ['acct_1'] });
    expect(isDenial(parties)).toBe(true);
    expect(parties).toMatchObject({ reason: 'body_invalid' });
  });

  // Found by an adversarial probe: Stripe takes the same parties nested, and a top-level-only read
  // let them past a set allowlist.
  it.each<[string, Record<string, unknown>, Record<string, string[]>]>([
    [
      'a subscription schedule phase paying a connected account',
      {
        customer: 'cus_1',
        phases: [{ items: [{ price: 'price_1' }], transfer_data: { destination: 'acct_evil' } }],
      },
      { customers: ['cus_1'], recipients: ['acct_evil'] },
    ],
    [
      'default settings of a schedule',
      { default_settings: { transfer_data: { destination: 'acct_evil' } } },
      { recipients: ['acct_evil'] },
    ],
    [
      'the payment intent a checkout session makes',
      { payment_intent_data: { transfer_data: { destination: 'acct_evil' } }, currency: 'usd' },
      { recipients: ['acct_evil'], currencies: ['usd'] },
    ],
    [
      'an invoice item priced in another currency',
      { customer: 'cus_1', price_data: { currency: 'GBP', unit_amount: '1000', product: 'prod_1' } },
      { customers: ['cus_1'], currencies: ['gbp'] },
    ],
    [
      'a credit grant in another currency',
      { amount: { type: 'monetary', monetary: { value: '1000', currency: 'gbp' } } },
      { currencies: ['gbp'] },
    ],
    [
      'checkout line items, with the currencies a price may be shown in',
      {
        currency: 'usd',
        line_items: [{ price_data: { currency: 'usd', currency_options: { eur: { unit_amount: '9' } } } }],
      },
      { currencies: ['usd', 'eur'] },
    ],
    [
      'a legacy destination object',
      { destination: { account: 'acct_9', amount: '5' } },
      { recipients: ['acct_9'] },
    ],
    // Found by an adversarial probe: Treasury sent money to a payment method no allowlist saw.
    [
      'a Treasury outbound payment to a saved payment method',
      { financial_account: 'fa_1', amount: '1000', currency: 'usd', destination_payment_method: 'pm_x' },
      { recipients: ['pm_x'], currencies: ['usd'] },
    ],
    [
      'a Treasury outbound payment to a payment method it describes',
      {
        financial_account: 'fa_1',
        destination_payment_method_data: {
          type: 'us_bank_account',
          us_bank_account: { account_number: '1' },
        },
      },
      { recipients: [UNSEEN_RECIPIENT] },
    ],
    [
      'an old API version’s transfer to a Recipient',
      { amount: '1000', currency: 'usd', recipient: 'rp_evil' },
      { recipients: ['rp_evil'], currencies: ['usd'] },
    ],
    // Found by a security tester (fourth round): a payout to a v2 financial account named no recipient.
    [
      'a payout to a v2 financial account',
      { amount: '1000', currency: 'usd', payout_method: 'fa_evil' },
      { recipients: ['fa_evil'], currencies: ['usd'] },
    ],
    [
      'a balance-settings rule sweeping the balance to a financial account',
      {
        payments: {
          payouts: {
            automatic_transfer_rules_by_currency: {
              usd: [{ payout_method: 'fa_evil', type: 'transfer_all' }],
            },
          },
        },
      },
      { recipients: ['fa_evil'] },
    ],
    // Found by a security tester (fourth round): where a closing financial account's balance goes.
    [
      'a financial account forwarding its balance to a payment method',
      { forwarding_settings: { type: 'payment_method', payment_method: 'pm_evil' } },
      { recipients: ['pm_evil'] },
    ],
    [
      'a financial account forwarding its balance to another financial account',
      { forwarding_settings: { type: 'financial_account', financial_account: 'fa_evil' }, nickname: 'x' },
      { recipients: ['fa_evil'] },
    ],
    [
      'no recipient from a payment method that pays, nor the account an outbound payment draws on',
      { payment_method: 'pm_1', financial_account: 'fa_1', destination_payment_method: 'pm_x' },
      { recipients: ['pm_x'] },
    ],
    [
      'nothing from metadata, the caller’s own names',
      { metadata: { customer: 'cus_x', currency: 'gbp', destination: 'acct_x' } },
      { customers: [], recipients: [], currencies: [] },
    ],
  ])('reads the parties of %s', (_name, params, expected) => {
    expect(stripeParties(req(), params)).toMatchObject(expected);
  });

  it.each<[string, Record<string, unknown>]>([
    ['a nested destination given as a list', { transfer_data: { destination: ['acct_1', 'acct_2'] } }],
    ['a nested currency given as a list', { price_data: { currency: ['usd', 'gbp'] } }],
    ['a customer given as an object', { customer: { id: 'cus_1' } }],
    ['currency options that are not an object', { price_data: { currency_options: 'eur' } }],
    ['a destination payment method given as a list', { destination_payment_method: ['pm_1', 'pm_2'] }],
    ['destination payment method data that is not an object', { destination_payment_method_data: 'pm_1' }],
    ['a payout method given as a list', { payout_method: ['fa_1', 'fa_2'] }],
    ['forwarding settings that are not an object', { forwarding_settings: 'pm_1' }],
    ['a forwarding payment method given as a list', { forwarding_settings: { payment_method: ['pm_1'] } }],
    ['a forwarding financial account given as an object', { forwarding_settings: { financial_account: {} } }],
  ])('refuses %s', (_name, params) => {
    expect(stripeParties(req(), params)).toMatchObject({ reason: 'body_invalid' });
  });

  // Found by a security tester (fourth round): accounts named in the path or the body got past
  // allow.accounts, which read only Stripe-Account and Stripe-Context.
  it.each<[string, string, Record<string, unknown>, Record<string, string>, string[]]>([
    [
      'an account debit (source=acct_…)',
      '/v1/charges',
      { amount: '500', source: 'acct_other' },
      {},
      ['acct_other'],
    ],
    [
      'a charge on behalf of an account',
      '/v1/charges',
      { amount: '500', on_behalf_of: 'acct_other' },
      {},
      ['acct_other'],
    ],
    [
      'a checkout subscription on behalf of an account',
      '/v1/checkout/sessions',
      { subscription_data: { on_behalf_of: 'acct_other' } },
      {},
      ['acct_other'],
    ],
    ["an account's persons by path", '/v1/accounts/acct_other/persons', {}, {}, ['acct_other']],
    ['an account itself by path', '/v1/accounts/acct_other', {}, {}, ['acct_other']],
    [
      'an account link',
      '/v1/account_links',
      { account: 'acct_other', type: 'account_onboarding' },
      {},
      ['acct_other'],
    ],
    [
      'a header account beside a body account',
      '/v1/charges',
      { on_behalf_of: 'acct_other' },
      { 'stripe-account': 'acct_1' },
      ['acct_1', 'acct_other'],
    ],
    // The round's last probe: an invoice issuer, a tax liability, a Checkout invoice's issuer.
    [
      'an invoice issued by an account',
      '/v1/invoices',
      { customer: 'cus_1', issuer: { type: 'account', account: 'acct_other' } },
      {},
      ['acct_other'],
    ],
    [
      'an invoice whose tax an account carries',
      '/v1/invoices',
      { automatic_tax: { enabled: 'true', liability: { type: 'account', account: 'acct_other' } } },
      {},
      ['acct_other'],
    ],
    [
      "a Checkout session's invoice issuer",
      '/v1/checkout/sessions',
      { invoice_creation: { invoice_data: { issuer: { type: 'account', account: 'acct_other' } } } },
      {},
      ['acct_other'],
    ],
    ['no account from a self-issued invoice', '/v1/invoices', { issuer: { type: 'self' } }, {}, []],
    ['no account from a card source', '/v1/charges', { source: 'tok_visa', on_behalf_of: '' }, {}, []],
    ['no account from a legacy card object', '/v1/charges', { source: { number: '4242' } }, {}, []],
  ])('names the accounts of %s', (_name, path, params, headers, accounts) => {
    expect(stripeParties(req(headers, path), params)).toMatchObject({ accounts });
  });

  it('refuses an issuer account that is not one id', () => {
    expect(stripeParties(req(), { issuer: { type: 'account', account: ['acct_1'] } })).toMatchObject({
      reason: 'body_invalid',
    });
  });

  it('refuses an on_behalf_of given as a list', () => {
    expect(stripeParties(req(), { on_behalf_of: ['acct_1', 'acct_2'] })).toMatchObject({
      reason: 'body_invalid',
    });
  });

  // Found by a security tester (sixth round): under `recipients: [acct_good*]` these destinations
  // were judged as written and forwarded, for Stripe to read its own way.
  it.each<[string, string, Record<string, unknown>]>([
    ['a destination ending in a no-break space', '/v1/transfers', { destination: 'acct_good\u00a0' }],
    ['a destination ending in a zero-width space', '/v1/transfers', { destination: 'acct_good\u200b' }],
    ['a destination ending in a line feed', '/v1/transfers', { destination: 'acct_good1\n' }],
    ['a destination with a zero-width space inside', '/v1/transfers', { destination: 'acct_good\u200b1' }],
    [
      'a destination[account] after a byte-order mark',
      '/v1/payouts',
      { destination: { account: '\ufeffacct_good' } },
    ],
    [
      'a nested transfer_data[destination] with a tab',
      '/v1/payment_intents',
      { transfer_data: { destination: 'acct_good\t' } },
    ],
    ['a customer ending in an ideographic space', '/v1/charges', { customer: 'cus_1\u3000' }],
    ['a customer_account with a bidi mark', '/v1/charges', { customer_account: '\u200facct_1' }],
    ['an on_behalf_of with a no-break space', '/v1/charges', { on_behalf_of: 'acct_1\u00a0' }],
    ['an account-debit source with a no-break space', '/v1/charges', { source: 'acct_1\u00a0' }],
    ['a top-level account with a line separator', '/v1/account_links', { account: 'acct_1\u2028' }],
    [
      'an issuer account with a NUL',
      '/v1/invoices',
      { issuer: { type: 'account', account: 'acct_1\u0000' } },
    ],
    ['a recipient with a no-break space', '/v1/transfers', { recipient: 'rp_1\u00a0' }],
    [
      'a destination payment method with one',
      '/v1/treasury/outbound_payments',
      { destination_payment_method: 'pm_1\u00a0' },
    ],
    ['a payout method with one', '/v1/payouts', { payout_method: 'fa_1\u00a0' }],
    [
      'a forwarding payment method with one',
      '/v1/treasury/financial_accounts/fa_1',
      { forwarding_settings: { payment_method: 'pm_1\u00a0' } },
    ],
    ['a currency ending in a no-break space', '/v1/transfers', { currency: 'usd\u00a0' }],
    [
      'a currency option keyed with one',
      '/v1/prices',
      { currency_options: { 'eur\u00a0': { unit_amount: '1' } } },
    ],
  ])('refuses %s with body_invalid', (_name, path, params) => {
    expect(stripeParties(req({}, path), params)).toMatchObject({ reason: 'body_invalid' });
  });

  it.each([
    ['a customer', '/v1/customers/cus_good%C2%A0'],
    ['an account', '/v1/accounts/acct_good%E2%80%8B/persons'],
    ['a customer with a bad escape', '/v1/customers/cus_good%E2'],
  ])('refuses %s in the path with a blank or invisible character: path_invalid', (_name, path) => {
    expect(stripeParties(req({}, path), {})).toMatchObject({ reason: 'path_invalid' });
  });

  it('reads party ids without the ASCII spaces around them, as it reads other parameters', () => {
    expect(
      stripeParties(req({}, '/v1/transfers'), {
        destination: ' acct_good1 ',
        customer: 'cus_1 ',
        currency: ' usd',
      }),
    ).toMatchObject({ recipients: ['acct_good1'], customers: ['cus_1'], currencies: ['usd'] });
  });

  it('passes on a party header denial', () => {
    expect(stripeParties(req({ 'stripe-context': 'nope' }), {})).toMatchObject({ reason: 'header_invalid' });
  });
});
