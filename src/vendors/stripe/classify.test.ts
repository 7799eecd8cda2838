import { describe, expect, it } from 'vitest';
import { isDenial } from '../../decision/reasons.ts';
import { loadExchangeRates } from '../../money/exchange-rates.ts';
import type { CompiledKey } from '../../snapshot/types.ts';
import { parseForm } from '../form.ts';
import type { Operation, OperationClass, VendorRequest } from '../types.ts';
import { classifyStripe, PRICED_STRIPE_RULES } from './classify.ts';
import { createStripeAdapter } from './index.ts';
import { STRIPE_OPERATIONS } from './operations.ts';

const rates = loadExchangeRates();
const limits = { maxBytes: 65_536, maxDepth: 5, maxParams: 256 };

function request(
  method: string,
  path: string,
  headers: Record<string, string> = {},
  query = '',
): VendorRequest {
  return { method, path, query, headers };
}

function classify(method: string, path: string, body = '', headers: Record<string, string> = {}) {
  const params = parseForm(body, limits);
  // A body the parse stage refuses (a name given twice) never reaches classify: its denial stands.
  if (isDenial(params)) return params;
  return classifyStripe(request(method, path, headers), params, rates);
}

function op(method: string, path: string, body = '', headers: Record<string, string> = {}): Operation {
  const r = classify(method, path, body, headers);
  if (isDenial(r)) throw new Error(`unexpected denial ${r.reason}: ${r.message}`);
  return r;
}

describe('the Stripe operations table', () => {
  it.each([
    ['POST', '/v1/charges', 'amount=2000&currency=usd', 'stripe.charges.create', true, 20_000_000],
    [
      'POST',
      '/v1/payment_intents',
      'amount=2000&currency=usd&confirm=true',
      'stripe.payment_intents.create',
      true,
      20_000_000,
    ],
    ['POST', '/v1/payment_intents', 'amount=2000&currency=usd', 'stripe.payment_intents.create', false, 0],
    [
      'POST',
      '/v1/payment_intents',
      'amount=2000&currency=usd&confirm=false',
      'stripe.payment_intents.create',
      false,
      0,
    ],
    [
      'POST',
      '/v1/payment_intents',
      'amount=2000&currency=usd&confirm=1',
      'stripe.payment_intents.create',
      true,
      20_000_000,
    ],
    [
      'POST',
      '/v1/transfers',
      'amount=500&currency=eur&destination=acct_1',
      'stripe.transfers.create',
      true,
      5_352_500,
    ],
    ['POST', '/v1/payouts', 'amount=100000&currency=jpy', 'stripe.payouts.create', true, 622_600_908],
    [
      'POST',
      '/v1/payment_links',
      'line_items[0][price]=price_1&line_items[0][quantity]=1',
      'stripe.payment_links.create',
      false,
      0,
    ],
    ['POST', '/v1/checkout/sessions', 'mode=payment', 'stripe.checkout.sessions.create', false, 0],
    ['POST', '/v1/customers', 'email=a%40example.com', 'stripe.customers.create', false, 0],
    ['POST', '/v1/customers/cus_1', 'name=x', 'stripe.customers.update', false, 0],
    ['POST', '/v1/products', 'name=x', 'stripe.products.create', false, 0],
    ['POST', '/v1/prices', 'unit_amount=99999999&currency=usd', 'stripe.prices.create', false, 0],
    ['POST', '/v1/payment_methods/pm_1/attach', 'customer=cus_1', 'stripe.payment_methods.attach', false, 0],
    ['POST', '/v1/setup_intents', 'customer=cus_1', 'stripe.setup_intents.create', false, 0],
    ['GET', '/v1/customers', '', 'stripe.customers.list', false, 0],
    ['GET', '/v1/customers/cus_1', '', 'stripe.customers.retrieve', false, 0],
    // Every GET of the definition is a catalogued read with its own id (was `stripe.read`).
    ['GET', '/v1/charges/ch_1', '', 'stripe.charges.retrieve', false, 0],
    ['GET', '/v1/balance', '', 'stripe.balance.retrieve', false, 0],
  ])('classifies %s %s (%s) as %s', (method, path, body, id, movesMoney, cost) => {
    const o = op(method, path, body);
    expect(o).toMatchObject({ id, movesMoney, costMicros: cost });
    expect(o.lookup).toBeUndefined();
  });

  it.each<[string, string, string, OperationClass]>([
    ['GET', '/v1/charges/ch_1', 'stripe.charges.retrieve', 'read'],
    ['GET', '/v1/invoices/upcoming_x', 'stripe.invoices.retrieve', 'read'],
    ['POST', '/v1/invoices/create_preview', 'stripe.invoices.create_preview', 'write'],
    ['POST', '/v1/customers', 'stripe.customers.create', 'write'],
    ['POST', '/v1/test_helpers/test_clocks', 'stripe.test_helpers.test_clocks.create', 'write'],
    ['DELETE', '/v1/customers/cus_1', 'stripe.customers.delete', 'destructive'],
    [
      'POST',
      '/v1/accounts/acct_1/external_accounts',
      'stripe.accounts.external_accounts.create',
      'destructive',
    ],
    // Found by a security tester (fourth round): automatic transfer rules sweep the whole balance to
    // a payout method on a schedule, as a payout-settings change of a connected account does.
    ['POST', '/v1/balance_settings', 'stripe.balance_settings.update', 'destructive'],
    // Its forwarding settings choose where the balance goes when the account closes.
    [
      'POST',
      '/v1/treasury/financial_accounts/fa_1',
      'stripe.treasury.financial_accounts.update',
      'destructive',
    ],
    [
      'POST',
      '/v1/treasury/financial_accounts/fa_1/features',
      'stripe.treasury.financial_accounts.update_features',
      'write',
    ],
    ['POST', '/v1/issuing/cards', 'stripe.issuing.cards.create', 'money_unpriced'],
    // Withdrawing a credit raises what Stripe collects on its own, as removing a discount does.
    ['POST', '/v1/credit_notes/cn_1/void', 'stripe.credit_notes.void_credit_note', 'money_unpriced'],
    [
      'POST',
      '/v1/billing/credit_grants/cg_1/void',
      'stripe.billing.credit_grants.void_grant',
      'money_unpriced',
    ],
    [
      'POST',
      '/v1/billing/credit_grants/cg_1/expire',
      'stripe.billing.credit_grants.expire',
      'money_unpriced',
    ],
    ['POST', '/v1/billing/credit_grants/cg_1', 'stripe.billing.credit_grants.update', 'write'],
    ['POST', '/v1/charges', 'stripe.charges.create', 'money'],
  ])('gives %s %s its catalogue id %s and class %s', (method, path, id, cls) => {
    const o = op(method, path, method === 'POST' && path === '/v1/charges' ? 'amount=1&currency=usd' : '');
    expect(o).toMatchObject({
      id,
      class: cls,
      movesMoney: cls.startsWith('money'),
    });
  });

  it.each([
    ['POST', '/v2/core/accounts'],
    ['POST', '/v2/core/event_destinations/ed_1/disable'],
    ['GET', '/v2/core/event_destinations/ed_1'],
    ['GET', '/v2/core/events'],
    ['GET', '/v1/not_in_the_definition'],
    ['HEAD', '/v1/charges'],
  ])('treats %s %s, which the definition does not have, as unknown and money-moving', (method, path) => {
    expect(op(method, path)).toEqual({
      id: 'stripe.unknown',
      class: 'unknown',
      movesMoney: true,
      costMicros: 0,
      parties: expect.any(Object),
    });
  });

  it.each([
    ['POST', '/v1/ephemeral_keys'],
    ['GET', '/v1/apps/secrets'],
    ['GET', '/v1/apps/secrets/find'],
    ['POST', '/v1/webhook_endpoints'],
    ['POST', '/v1/accounts/acct_1/login_links'],
    ['POST', '/v1/forwarding/requests'],
  ])('refuses the sensitive operation %s %s whatever the policy', (method, path) => {
    expect(classify(method, path)).toMatchObject({ reason: 'credential_operation', message: /credential/ });
  });

  // Found by a security tester (fourth round): a customer's saved card copied onto a connected
  // account, which then charges it with its own key, was a free write.
  it.each<[string, string, string, Record<string, string>]>([
    [
      'a card token for a customer on a connected account',
      'tokens',
      'customer=cus_A',
      { 'stripe-account': 'acct_1' },
    ],
    [
      'a card token for a customer under Stripe-Context',
      'tokens',
      'customer=cus_A',
      { 'stripe-context': 'acct_1' },
    ],
    ['a card token for a customer with no account header (an OAuth key)', 'tokens', 'customer=cus_A', {}],
    [
      "a customer's payment method shared with a connected account",
      'payment_methods',
      'customer=cus_A&payment_method=pm_123',
      { 'stripe-account': 'acct_1' },
    ],
    [
      'a payment method shared by its id alone',
      'payment_methods',
      'payment_method=pm_123',
      { 'stripe-account': 'acct_1' },
    ],
    [
      "a customer's payment method with no account header",
      'payment_methods',
      'customer=cus_A&payment_method=pm_123',
      {},
    ],
    [
      "a customer's saved card cloned into a Source",
      'sources',
      'customer=cus_A&original_source=card_1Abc&usage=reusable',
      { 'stripe-account': 'acct_1' },
    ],
    [
      'a shared Source cloned without a customer',
      'sources',
      'original_source=src_1Abc',
      { 'stripe-account': 'acct_1' },
    ],
    [
      "a customer's card cloned into a Source with no account header",
      'sources',
      'customer=cus_A&original_source=card_1Abc',
      {},
    ],
    ['a Source naming the customer of a card to clone', 'sources', 'customer=cus_A&type=card', {}],
  ])('refuses %s: POST /v1/%s clones a saved payment method', (_name, resource, body, headers) => {
    expect(classify('POST', `/v1/${resource}`, body, headers)).toMatchObject({
      reason: 'credential_operation',
      operation: `stripe.${resource}.create`,
    });
  });

  it.each([
    ['/v1/tokens', 'card[number]=4242424242424242&card[exp_month]=12&card[exp_year]=2030'],
    ['/v1/payment_methods', 'type=card&card[token]=tok_visa'],
    ['/v1/payment_methods/pm_1/attach', 'customer=cus_1'],
    ['/v1/sources', 'type=ach_credit_transfer&currency=usd&owner[email]=a@example.com'],
  ])('keeps POST %s without a clone a free write', (path, body) => {
    expect(op('POST', path, body, { 'stripe-account': 'acct_1' })).toMatchObject({
      class: 'write',
      costMicros: 0,
    });
  });

  it.each([
    ['POST', '/v1/subscriptions', 'customer=cus_1&items[0][price]=price_1', true],
    ['POST', '/v1/invoices/in_1/finalize', '', true],
    ['POST', '/v1/charges/ch_1/refunds', 'amount=100', true],
    ['POST', '/v1/invoiceitems', 'customer=cus_1&amount=100&currency=usd', false],
  ])('prices the money operation %s %s (issue 11), by a lookup: %s', (method, path, body, looked) => {
    const o = op(method, path, body);
    expect(o).toMatchObject({ class: 'money', movesMoney: true });
    expect(o.lookup !== undefined).toBe(looked);
    if (!looked) expect(o.costMicros).toBe(1_000_000);
  });

  it('implements the pricing rule of every money operation of the table', () => {
    const unpriced = STRIPE_OPERATIONS.filter(
      (r) => r.class === 'money' && !PRICED_STRIPE_RULES.has(r.rule!),
    );
    expect(unpriced.map((r) => r.id)).toEqual([]);
  });

  it('fails closed on every money operation whose rule is not implemented, and prices the others', () => {
    for (const row of STRIPE_OPERATIONS.filter((r) => r.class === 'money')) {
      const path = row.path.replace(/\{[^}]+\}/g, 'x_1');
      const r = classify(row.method, path, 'amount=100&currency=usd&charge=ch_1');
      const unpriced = isDenial(r) && r.reason === 'price_unknown' && /pricing rule/.test(r.message ?? '');
      expect({ id: row.id, unpriced }).toEqual({ id: row.id, unpriced: !PRICED_STRIPE_RULES.has(row.rule!) });
    }
  });
});

// A new-user walkthrough (sixth round): a write the body makes unpriced was refused under a glob
// without a word of which field did it, while `keybrake catalog` prints the row as a write.
describe('what in the body raises a Stripe write', () => {
  it.each([
    [
      '/v1/customers/cus_1',
      'coupon=SAVE',
      'stripe.customers.update',
      'a discount or a new payment source (coupon, promotion_code, discounts, source or card)',
    ],
    [
      '/v1/checkout/sessions',
      'customer=cus_1&mode=payment&line_items[0][price]=price_1&line_items[0][quantity]=1&optional_items[0][price]=price_2&optional_items[0][quantity]=1',
      'stripe.checkout.sessions.create',
      expect.stringContaining('optional_items'),
    ],
    [
      '/v1/checkout/sessions/cs_1',
      'shipping_options[0][shipping_rate]=shr_1',
      'stripe.checkout.sessions.update',
      'line_items or shipping_options',
    ],
  ])('names it when POST %s (%s) is unpriced', (path, body, id, reason) => {
    expect(op('POST', path, body)).toMatchObject({ id, class: 'money_unpriced', raisedBy: reason });
  });

  it('says nothing of a write the body leaves a write', () => {
    expect(op('POST', '/v1/customers/cus_1', 'name=x')).not.toHaveProperty('raisedBy');
  });

  // Found by an adversarial probe (thirteenth round, catalog13, MEDIUM): `expires_at` a minute ahead
  // withdraws a grant's billing credits as `/expire` does (money_unpriced), and was a free write.
  it.each([
    ['a minute ahead', 'expires_at=1796195164'],
    ['now, in another spelling of the name', 'Expires_At=1796195164'],
    ['with metadata', 'metadata[a]=b&expires_at=1796195164'],
    ['given as an object', 'expires_at[a]=1'],
  ])("raises a billing credit grant's expiry set %s to money_unpriced", (_n, body) => {
    const o = op('POST', '/v1/billing/credit_grants/credgr_1', body);
    expect(o).toMatchObject({
      id: 'stripe.billing.credit_grants.update',
      class: 'money_unpriced',
      movesMoney: true,
      raisedBy: expect.stringContaining('expires_at'),
    });
    // Still read for the grant's customer, so a customer allowlist governs it.
    expect(o.lookup?.path).toBe('/v1/billing/credit_grants/credgr_1');
  });

  it.each([
    ['metadata only', 'metadata[a]=b'],
    ['expires_at= (the credits never expire)', 'expires_at='],
  ])("leaves a billing credit grant's update with %s a write (control)", (_n, body) => {
    expect(op('POST', '/v1/billing/credit_grants/credgr_1', body)).toMatchObject({
      class: 'write',
      movesMoney: false,
    });
  });
});

describe('Stripe pricing', () => {
  it.each([
    ['USD cents exactly', 'amount=1999&currency=usd', 19_990_000],
    ['upper-case currency codes', 'amount=1999&currency=USD', 19_990_000],
    ['JPY as a zero-decimal currency', 'amount=1000&currency=jpy', 6_226_010],
    ['KWD as a three-decimal currency', 'amount=1000&currency=kwd', 3_350_000],
    ['a zero amount', 'amount=0&currency=usd', 0],
  ])('prices %s', (_name, body, cost) => {
    expect(op('POST', '/v1/charges', body).costMicros).toBe(cost);
  });

  it.each([
    ['an unknown currency', 'amount=100&currency=xyz', 'price_unknown', /unknown currency xyz/],
    // Fifteenth round (probe money L1): not repeated, and not "unknown currency this".
    [
      'a currency that is no three-letter code',
      'amount=100&currency=usdc',
      'price_unknown',
      /^Keybrake cannot price amounts in a currency that is not a three-letter ISO 4217 code\.$/,
    ],
    ['a currency without a rate', 'amount=100&currency=twd', 'price_unknown', /no exchange rate for twd/],
    ['a missing currency', 'amount=100', 'price_unknown', /currency/],
    ['a missing amount', 'currency=usd', 'price_unknown', /amount/],
    ['a decimal amount', 'amount=10.5&currency=usd', 'body_invalid', /non-negative integer/],
    ['a negative amount', 'amount=-5&currency=usd', 'body_invalid', /non-negative integer/],
    ['an amount given twice', 'amount=1&amount=100000&currency=usd', 'body_invalid', /given once/],
    ['an amount as an object', 'amount[x]=1&currency=usd', 'body_invalid', /given once/],
    ['a currency given twice', 'amount=1&currency=usd&currency=jpy', 'body_invalid', /given once/],
  ])('denies a charge with %s', (_name, body, reason, message) => {
    const r = classify('POST', '/v1/charges', body);
    // The refusal names the operation the catalog recognised (the audit record's `operation`); a
    // body the parse stage refuses is refused before any operation is known.
    const parsed = !isDenial(parseForm(body, limits));
    expect(r).toMatchObject({ reason, operation: parsed ? 'stripe.charges.create' : undefined });
    expect(isDenial(r) && r.message).toMatch(message);
  });

  it('still checks the amount of an unconfirmed payment intent', () => {
    expect(classify('POST', '/v1/payment_intents', 'amount=1.5&currency=usd')).toMatchObject({
      reason: 'body_invalid',
    });
  });

  it('lets an unconfirmed payment intent in an unknown currency through at no cost', () => {
    expect(op('POST', '/v1/payment_intents', 'amount=1&currency=xyz')).toMatchObject({
      movesMoney: false,
      costMicros: 0,
    });
  });
});

describe('Stripe lookups', () => {
  const pi = { id: 'pi_1', amount: 5000, amount_capturable: 3000, amount_received: 4000, currency: 'usd' };
  const charge = { id: 'ch_1', amount: 5000, amount_refunded: 1500, currency: 'jpy' };

  it.each([
    [
      'a confirm prices the intent amount',
      'POST',
      '/v1/payment_intents/pi_1/confirm',
      '',
      '/v1/payment_intents/pi_1',
      pi,
      50_000_000,
    ],
    [
      'a capture prices amount_capturable',
      'POST',
      '/v1/payment_intents/pi_1/capture',
      '',
      '/v1/payment_intents/pi_1',
      pi,
      30_000_000,
    ],
    [
      'a capture prices amount_to_capture',
      'POST',
      '/v1/payment_intents/pi_1/capture',
      'amount_to_capture=1000',
      '/v1/payment_intents/pi_1',
      pi,
      10_000_000,
    ],
    [
      'a charge refund prices what is left, in the charge currency',
      'POST',
      '/v1/refunds',
      'charge=ch_1',
      '/v1/charges/ch_1',
      charge,
      21_791_032,
    ],
    [
      'a charge refund prices its amount',
      'POST',
      '/v1/refunds',
      'charge=ch_1&amount=1000',
      '/v1/charges/ch_1',
      charge,
      6_226_010,
    ],
    [
      'an intent refund prices amount_received',
      'POST',
      '/v1/refunds',
      'payment_intent=pi_1',
      '/v1/payment_intents/pi_1',
      pi,
      40_000_000,
    ],
    [
      'a charge capture prices the charge',
      'POST',
      '/v1/charges/ch_1/capture',
      '',
      '/v1/charges/ch_1',
      charge,
      31_130_046,
    ],
    [
      'an invoice payment prices amount_remaining',
      'POST',
      '/v1/invoices/in_1/pay',
      '',
      '/v1/invoices/in_1',
      { amount_remaining: 1234, currency: 'usd' },
      12_340_000,
    ],
  ])('%s', (_name, method, path, body, lookupPath, object, cost) => {
    const o = op(method, path, body);
    expect(o.movesMoney).toBe(true);
    expect(o.lookup?.path).toBe(lookupPath);
    expect(o.lookup?.price(object)).toBe(cost);
  });

  // Found by an adversarial probe: expand reveals a Treasury account's full ABA number on a read.
  it.each([
    ['GET', '/v1/treasury/financial_accounts/fa_1', 'expand[]=financial_addresses.aba.account_number'],
    ['GET', '/v1/treasury/financial_accounts', 'expand[0]=data.financial_addresses.aba.account_number'],
    ['POST', '/v1/treasury/financial_accounts/fa_1', 'expand[]=financial_addresses.aba.account_number'],
    ['GET', '/v1/customers/cus_1', 'expand[]=customer&expand[]=sources.data.number'],
    // Found by a security tester (third round): expand as an object, a trailing dot or space, an SSN.
    ['GET', '/v1/treasury/financial_accounts/fa_1', 'expand[a]=financial_addresses.aba.account_number'],
    ['GET', '/v1/treasury/financial_accounts/fa_1', 'expand[a][b]=financial_addresses.aba.account_number'],
    ['GET', '/v1/treasury/financial_accounts/fa_1', 'expand[]=financial_addresses.aba.account_number.'],
    ['GET', '/v1/treasury/financial_accounts/fa_1', 'expand[]=financial_addresses.aba.account_number%20'],
    ['GET', '/v1/treasury/financial_accounts/fa_1', 'expand[]=financial_addresses.aba.account_number..'],
    ['GET', '/v1/identity/verification_reports/vr_1', 'expand[]=id_number.id_number'],
    // Found by a security tester (fourth round): a trailing NUL, which JavaScript's trim() keeps.
    ['GET', '/v1/treasury/financial_accounts/fa_1', 'expand[]=financial_addresses.aba.account_number%00'],
    ['GET', '/v1/treasury/financial_accounts/fa_1', 'expand[]=financial_addresses.aba.%01account_number%7F'],
    ['GET', '/v1/identity/verification_sessions/vs_1', 'expand[]=verified_outputs.id_number'],
  ])('refuses %s %s with an expand that reveals a number (%s)', (method, path, body) => {
    expect(classify(method, path, body)).toMatchObject({ reason: 'credential_operation' });
  });

  // Found by an adversarial probe (twelfth round, reveals): what an Identity verification answers only
  // when expanded, a person's date and place of birth, sex and document expiry, was forwarded, and
  // `id_number.dob` was refused as "a bank account or card number".
  it.each([
    ['/v1/identity/verification_sessions/vs_1', 'expand[]=verified_outputs.dob'],
    ['/v1/identity/verification_sessions/vs_1', 'expand[]=verified_outputs.sex'],
    ['/v1/identity/verification_sessions/vs_1', 'expand[]=verified_outputs.unparsed_sex'],
    ['/v1/identity/verification_sessions/vs_1', 'expand[]=verified_outputs.unparsed_place_of_birth'],
    ['/v1/identity/verification_sessions', 'expand[]=data.verified_outputs.DOB.'],
    ['/v1/identity/verification_reports/vr_1', 'expand[]=document.dob'],
    ['/v1/identity/verification_reports/vr_1', 'expand[]=document.expiration_date'],
    ['/v1/identity/verification_reports/vr_1', 'expand[]=document.number'],
    ['/v1/identity/verification_reports/vr_1', 'expand[]=id_number.dob'],
    ['/v1/identity/verification_reports/vr_1', 'expand[]=id_number.id_number'],
  ])("refuses GET %s with %s as a person's identity data", (path, body) => {
    const refused = classify('GET', path, body);
    expect(refused).toMatchObject({ reason: 'credential_operation' });
    expect((refused as { message: string }).message).toContain('identity');
    expect((refused as { message: string }).message).not.toContain('bank account');
  });

  it('admits the same names expanded outside Identity, and ordinary Identity expansions', () => {
    expect(op('GET', '/v1/customers/cus_1', 'expand[]=sex.dob')).toMatchObject({ class: 'read' });
    expect(
      op('GET', '/v1/identity/verification_sessions/vs_1', 'expand[]=last_verification_report'),
    ).toMatchObject({ class: 'read' });
  });

  it('admits an expand of ordinary objects', () => {
    expect(op('GET', '/v1/treasury/financial_accounts/fa_1', 'expand[]=financial_addresses')).toMatchObject({
      class: 'read',
    });
  });

  // Found by an adversarial probe: balance=-5000000 on a customer update was a free write, while the
  // same credit through /balance_transactions was priced.
  it.each([
    ['a credit set outright', 'balance=-5000000', { balance: 0, currency: 'usd' }, 50_000_000_000],
    ['a debit set outright', 'balance=2500', { balance: -500, currency: 'usd' }, 30_000_000],
    ['a balance already held', 'balance=700', { balance: 700, currency: 'usd' }, 0],
    // Found by an adversarial probe: the pre-2019-10-17 name, under an old Stripe-Version, was free.
    [
      'a credit set by its legacy name',
      'account_balance=-1000000',
      { balance: 0, currency: 'usd' },
      10_000_000_000,
    ],
  ])('prices %s on a customer update from the balance Stripe holds', (_name, body, customer, cost) => {
    const o = op('POST', '/v1/customers/cus_1', body);
    expect(o).toMatchObject({
      id: 'stripe.customers.update',
      class: 'money',
      movesMoney: true,
      locks: ['cus_1'],
    });
    expect(o.lookup?.path).toBe('/v1/customers/cus_1');
    expect(o.lookup?.price(customer)).toBe(cost);
  });

  it('cannot price a balance change of a customer without a currency', () => {
    expect(
      op('POST', '/v1/customers/cus_1', 'balance=-100').lookup?.price({ balance: 0, currency: null }),
    ).toBe(undefined);
  });

  it.each([
    ['an update without a balance', '/v1/customers/cus_1', 'name=Ann', 'write'],
    ['a new customer', '/v1/customers', 'email=a%40example.com', 'write'],
    ['a new customer with a zero balance', '/v1/customers', 'balance=0', 'write'],
  ])('leaves %s a write', (_name, path, body, cls) => {
    expect(op('POST', path, body)).toMatchObject({ class: cls, movesMoney: false, costMicros: 0 });
  });

  it.each([
    ['a starting balance', '/v1/customers', 'balance=-5000000', 'price_unknown'],
    ['a starting balance by its legacy name', '/v1/customers', 'account_balance=-5000000', 'price_unknown'],
    [
      'a balance given by both names',
      '/v1/customers/cus_1',
      'balance=0&account_balance=-5000',
      'price_unknown',
    ],
    ['a legacy balance that is not an integer', '/v1/customers/cus_1', 'account_balance=1e6', 'body_invalid'],
    ['a balance that is not an integer', '/v1/customers/cus_1', 'balance=1e6', 'body_invalid'],
    ['a balance given as a list', '/v1/customers/cus_1', 'balance[]=5', 'body_invalid'],
    // Found by a probe of the second round's fixes: old API versions subscribed (and charged) the
    // customer from the customer call.
    ['a legacy plan on a customer update', '/v1/customers/cus_1', 'plan=gold&quantity=1000', 'price_unknown'],
    ['a legacy plan on a new customer', '/v1/customers', 'plan=gold&source=tok_visa', 'price_unknown'],
    ['a legacy trial on a new customer', '/v1/customers', 'trial_end=now', 'price_unknown'],
  ])('refuses %s', (_name, path, body, reason) => {
    expect(classify('POST', path, body)).toMatchObject({ reason });
  });

  // Found by an adversarial probe: shipping_cost put $10 000 on an auto-advancing invoice for free.
  // Untaxed (automatic_tax[enabled]=false): since the thirteenth round a new invoice that may be
  // charged on its own and names no tax is refused, as the account's default may tax it (money.test.ts).
  it.each([
    [
      'a fixed amount',
      '/v1/invoices',
      'customer=cus_1&pending_invoice_items_behavior=exclude&automatic_tax[enabled]=false&auto_advance=true&shipping_cost[shipping_rate_data][display_name]=x&shipping_cost[shipping_rate_data][type]=fixed_amount&shipping_cost[shipping_rate_data][fixed_amount][amount]=1000000&shipping_cost[shipping_rate_data][fixed_amount][currency]=usd',
      10_000_000_000,
    ],
    [
      'the dearest of its currencies',
      '/v1/invoices',
      'customer=cus_1&pending_invoice_items_behavior=exclude&automatic_tax[enabled]=false&shipping_cost[shipping_rate_data][fixed_amount][amount]=100&shipping_cost[shipping_rate_data][fixed_amount][currency]=jpy&shipping_cost[shipping_rate_data][fixed_amount][currency_options][usd][amount]=500',
      5_000_000,
    ],
  ])('prices an invoice shipping cost: %s', (_name, path, body, cost) => {
    expect(op('POST', path, body)).toMatchObject({ class: 'money', movesMoney: true, costMicros: cost });
  });

  // Thirteenth round (probe fixmoney): the invoice is read, for the tax Stripe puts on the shipping
  // cost where it taxes new amounts and charges the invoice on its own (money.test.ts).
  it('keeps the invoice lock of an invoice update that is priced for its shipping cost', () => {
    const o = op(
      'POST',
      '/v1/invoices/in_1',
      'shipping_cost[shipping_rate_data][fixed_amount][amount]=100&shipping_cost[shipping_rate_data][fixed_amount][currency]=usd',
    );
    expect(o).toMatchObject({ class: 'money', locks: ['in_1'] });
    expect(o.lookup?.path).toBe('/v1/invoices/in_1');
    const untaxed = {
      currency: 'usd',
      amount_due: 0,
      default_tax_rates: [],
      automatic_tax: { enabled: false },
    };
    expect(o.lookup?.price(untaxed)).toBe(1_000_000);
  });

  // Twelfth round (probe money): `fixed_amount.currency_options` is includable. stripe-mock, from
  // Stripe's definition, answers it only when expanded (`{}` for a rate with no other currency);
  // read unexpanded, a rate's EUR option was never seen.
  it('prices an invoice shipping rate by reading it with its currency options expanded', () => {
    const o = op(
      'POST',
      '/v1/invoices',
      'customer=cus_1&pending_invoice_items_behavior=exclude&automatic_tax[enabled]=false&shipping_cost[shipping_rate]=shr_1',
    );
    expect(o.lookup?.path).toBe('/v1/shipping_rates/shr_1?expand%5B%5D=fixed_amount.currency_options');
    // What stripe-mock answers to that read.
    const expanded = { fixed_amount: { amount: 500, currency: 'usd', currency_options: {} } };
    expect(o.lookup?.price(expanded)).toBe(5_000_000);
    const eur = {
      fixed_amount: { amount: 1, currency: 'usd', currency_options: { eur: { amount: 90_000 } } },
    };
    expect(o.lookup?.price(eur)).toBeGreaterThan(900_000_000);
    expect(o.lookup?.price({ fixed_amount: null })).toBeUndefined();
    // What stripe-mock answers unexpanded: it cannot say what the other currencies cost.
    expect(o.lookup?.price({ fixed_amount: { amount: 500, currency: 'usd' } })).toBeUndefined();
  });

  // The invoice's currency (the customer's, when the call names none) is one of the rate's: a
  // currency allowlist must admit each, as it does every currency of a looked-up Price.
  it("names every currency of a looked-up shipping rate's fixed amount as a party", () => {
    const o = op(
      'POST',
      '/v1/invoices',
      'customer=cus_1&pending_invoice_items_behavior=exclude&automatic_tax[enabled]=false&shipping_cost[shipping_rate]=shr_1',
    );
    const rate = {
      fixed_amount: { amount: 500, currency: 'usd', currency_options: { GBP: { amount: 400 } } },
    };
    expect(o.lookup?.parties?.(rate).currencies).toEqual(['usd', 'gbp']);
  });

  it.each([
    ['without a shipping cost', 'description=x&auto_advance=false'],
    ['removing the shipping cost', 'shipping_cost='],
  ])('leaves an invoice write %s free', (_name, body) => {
    expect(op('POST', '/v1/invoices/in_1', body)).toMatchObject({ class: 'write', costMicros: 0 });
  });

  it.each([
    [
      'a shipping cost without an amount',
      'shipping_cost[shipping_rate_data][display_name]=x',
      'price_unknown',
    ],
    ['a shipping rate id that is not one', 'shipping_cost[shipping_rate]=a/b', 'body_invalid'],
  ])('refuses %s on an invoice', (_name, body, reason) => {
    expect(classify('POST', '/v1/invoices', body)).toMatchObject({ reason });
  });

  // Found by an adversarial probe: amount_to_confirm was not read.
  it.each([
    ['no amount_to_confirm', '', 4000, 40_000_000],
    ['a larger amount_to_confirm', 'amount_to_confirm=900000', 4000, 9_000_000_000],
    ['a smaller amount_to_confirm', 'amount_to_confirm=100', 4000, 40_000_000],
  ])('prices a confirm with %s at the larger amount', (_name, body, intentAmount, cost) => {
    const o = op('POST', '/v1/payment_intents/pi_1/confirm', body);
    expect(o.lookup?.price({ amount: intentAmount, currency: 'usd' })).toBe(cost);
  });

  it('refuses an amount_to_confirm that is not an amount', () => {
    expect(classify('POST', '/v1/payment_intents/pi_1/confirm', 'amount_to_confirm=-5')).toMatchObject({
      reason: 'body_invalid',
    });
  });

  it.each([
    ['not an object', 'nope'],
    ['no currency', { amount: 100 }],
    ['an unknown currency', { amount: 100, currency: 'xyz' }],
    ['no amount', { currency: 'usd' }],
    ['a string amount', { amount: '100', currency: 'usd' }],
  ])('cannot price a looked-up object with %s', (_name, object) => {
    expect(op('POST', '/v1/payment_intents/pi_1/confirm').lookup?.price(object)).toBeUndefined();
  });

  it.each([
    ['a refund naming nothing', '/v1/refunds', '', 'price_unknown'],
    ['a refund with a path-like charge id', '/v1/refunds', 'charge=..%2Fv1%2Ftransfers', 'body_invalid'],
    [
      'a capture with a decimal amount_to_capture',
      '/v1/payment_intents/pi_1/capture',
      'amount_to_capture=1.5',
      'body_invalid',
    ],
    ['a confirm on a malformed id', '/v1/payment_intents/pi%3F/confirm', '', 'path_invalid'],
  ])('denies %s', (_name, path, body, reason) => {
    expect(classify('POST', path, body)).toMatchObject({ reason });
  });
});

describe('Stripe parties', () => {
  it.each([
    [
      'the customer parameter',
      'POST',
      '/v1/payment_intents',
      'customer=cus_A&amount=1&currency=EUR',
      {},
      {
        customers: ['cus_A'],
        currencies: ['eur'],
        accounts: [],
        recipients: [],
      },
    ],
    [
      'the customer of a read path',
      'GET',
      '/v1/customers/cus_B/payment_methods',
      '',
      {},
      { customers: ['cus_B'] },
    ],
    [
      'the Stripe-Account header',
      'POST',
      '/v1/customers',
      '',
      { 'stripe-account': 'acct_9' },
      { accounts: ['acct_9'] },
    ],
    [
      'a transfer destination as a recipient',
      'POST',
      '/v1/transfers',
      'amount=1&currency=usd&destination=acct_2',
      {},
      {
        recipients: ['acct_2'],
        accounts: [],
      },
    ],
    [
      'transfer_data[destination] as a recipient',
      'POST',
      '/v1/payment_intents',
      'amount=1&currency=usd&transfer_data[destination]=acct_3',
      {},
      {
        recipients: ['acct_3'],
      },
    ],
    [
      'nothing for a call that names nothing',
      'POST',
      '/v1/products',
      'name=x',
      {},
      {
        customers: [],
        accounts: [],
        recipients: [],
        currencies: [],
        countries: [],
        senders: [],
      },
    ],
  ])('come from %s', (_name, method, path, body, headers, expected) => {
    expect(op(method, path, body, headers).parties).toMatchObject(expected);
  });

  it('denies a customer given twice', () => {
    expect(
      classify('POST', '/v1/charges', 'customer=cus_A&customer=cus_B&amount=1&currency=usd'),
    ).toMatchObject({
      reason: 'body_invalid',
    });
  });

  it('reads the customer of a GET from its query string through the adapter', () => {
    const adapter = createStripeAdapter({ rates });
    const req = request('GET', '/v1/payment_intents', {}, 'customer=cus_Q&limit=3');
    const params = adapter.parse(req, Buffer.alloc(0), limits);
    if (isDenial(params)) throw new Error('query did not parse');
    const r = adapter.price(req, params, { policy: {} } as CompiledKey);
    expect(r).toMatchObject({
      id: 'stripe.payment_intents.list',
      class: 'read',
      parties: { customers: ['cus_Q'] },
    });
  });

  // Found by an adversarial probe: customer_account names the customer by its account id, and was
  // no party; neither was the customer of a meter event, whose usage Stripe bills later.
  it.each([
    [
      'a customer named by its account',
      'POST',
      '/v1/payment_intents',
      'amount=5&currency=usd&customer_account=acct_9',
      ['acct_9'],
    ],
    ['a list read by customer account', 'GET', '/v1/invoices', 'customer_account=acct_9', ['acct_9']],
    [
      "a meter event's default customer key",
      'POST',
      '/v1/billing/meter_events',
      'event_name=api_calls&payload[stripe_customer_id]=cus_other&payload[value]=100000000',
      ['cus_other'],
    ],
    [
      "every customer id in a meter event's payload, whatever its key",
      'POST',
      '/v1/billing/meter_events',
      'event_name=api_calls&payload[who]=cus_a&payload[account]=acct_b&payload[value]=1&payload[note]=cus',
      ['cus_a', 'acct_b'],
    ],
  ])('counts %s as a customer party', (_name, method, path, body, customers) => {
    expect(op(method, path, body).parties.customers).toEqual(customers);
  });

  it('trims the ASCII spaces around a meter event customer id', () => {
    const body = 'event_name=api_calls&payload[stripe_customer_id]=+cus_allowed+&payload[value]=1';
    expect(op('POST', '/v1/billing/meter_events', body).parties.customers).toEqual(['cus_allowed']);
  });

  // Fifth round: String.trim made each of these cus_allowed, while Stripe received the raw value.
  it.each(['cus_allowed%C2%A0', '%EF%BB%BFcus_allowed', 'cus_allowed%E2%80%A8', 'cus_allowed%0A', '%C2%A0'])(
    'refuses a meter event whose payload holds %s (body_invalid)',
    (value) => {
      const body = `event_name=api_calls&payload[stripe_customer_id]=${value}&payload[value]=1`;
      expect(classify('POST', '/v1/billing/meter_events', body)).toMatchObject({ reason: 'body_invalid' });
    },
  );

  // Sixth round: a customer id Keybrake could not read was skipped, and a decoy under another key
  // became the call's only customer (cus_allowed), while Stripe billed the one it maps.
  it.each([
    [
      'a zero-width space inside the default key',
      'payload[stripe_customer_id]=cus_ev%E2%80%8Bil&payload[x]=cus_allowed',
    ],
    ['another case in the default key', 'payload[stripe_customer_id]=CUS_evil&payload[x]=cus_allowed'],
    ['no customer id in the default key', 'payload[stripe_customer_id]=someone&payload[x]=cus_allowed'],
    ['a space inside a customer id under another key', 'payload[who]=cus_ev+il&payload[x]=cus_allowed'],
    ['another case under another key', 'payload[who]=Acct_evil&payload[x]=cus_allowed'],
    ['a list in the payload', 'payload[stripe_customer_id][0]=cus_evil&payload[x]=cus_allowed'],
  ])('refuses a meter event with %s, whatever a decoy names (body_invalid)', (_name, payload) => {
    const body = `event_name=api_calls&${payload}&payload[value]=1`;
    expect(classify('POST', '/v1/billing/meter_events', body)).toMatchObject({ reason: 'body_invalid' });
  });

  it('reads a meter event whose payload holds ordinary values beside its customer', () => {
    const body =
      'event_name=api_calls&payload[stripe_customer_id]=cus_allowed&payload[model]=gpt+4o&payload[value]=1';
    expect(op('POST', '/v1/billing/meter_events', body).parties.customers).toEqual(['cus_allowed']);
  });

  it('marks a meter event as billing a customer, so that a customer allowlist must see one', () => {
    expect(op('POST', '/v1/billing/meter_events', 'event_name=api_calls&payload[my_key]=x')).toMatchObject({
      id: 'stripe.billing.meter_events.create',
      class: 'write',
      movesMoney: false,
      billsCustomer: true,
      parties: { customers: [] },
    });
    expect(op('POST', '/v1/customers', 'email=a@b.c').billsCustomer).toBeUndefined();
  });
});

describe('the host that serves an operation', () => {
  it('sends uploads to the files host, everything else to the call’s own', () => {
    expect(classify('POST', '/v1/files')).toMatchObject({ id: 'stripe.files.create', upstreamHost: 'files' });
    expect(classify('GET', '/v1/files/file_1')).not.toHaveProperty('upstreamHost');
    expect(classify('POST', '/v1/customers')).not.toHaveProperty('upstreamHost');
  });

  // Found by an adversarial probe (twelfth round, reveals): Stripe's definition gives the quote PDF
  // files.stripe.com as its server; sent to api.stripe.com it got Stripe's 404.
  it('sends a quote PDF to the files host, the quote itself to the call’s own', () => {
    expect(classify('GET', '/v1/quotes/qt_1/pdf')).toMatchObject({
      id: 'stripe.quotes.pdf',
      upstreamHost: 'files',
    });
    expect(classify('GET', '/v1/quotes/qt_1')).not.toHaveProperty('upstreamHost');
  });
});

// Found by an adversarial probe (twelfth round, reveals): the customer portal reached with two free
// writes, a portal configuration turning on its login page (and letting the portal move a
// subscription to any price) and a customer update setting the customer's email to the agent's.
describe('writes that open the customer portal', () => {
  it.each([
    ['/v1/billing_portal/configurations', 'login_page[enabled]=true'],
    ['/v1/billing_portal/configurations/bpc_1', 'login_page[enabled]=true'],
    ['/v1/billing_portal/configurations/bpc_1', 'login_page[enabled]=True'],
    ['/v1/billing_portal/configurations/bpc_1', 'login_page[enabled]=false&login_page[x]=1'],
    ['/v1/billing_portal/configurations/bpc_1', 'login_page=on'],
    ['/v1/billing_portal/configurations/bpc_1', 'login_page[enabled][]=true'],
    // Twelfth round (probe fixes12d): other spellings of the name are judged as the name.
    ['/v1/billing_portal/configurations/bpc_1', 'Login_page[enabled]=true'],
    ['/v1/billing_portal/configurations/bpc_1', 'LOGIN_PAGE[enabled]=true'],
    ['/v1/billing_portal/configurations/bpc_1', 'login_page%20[enabled]=true'],
    ['/v1/billing_portal/configurations/bpc_1', 'login_page%00[enabled]=true'],
    ['/v1/billing_portal/configurations/bpc_1', 'login_page[enabled]=false&Login_page[enabled]=true'],
  ])('refuses POST %s with %s whatever the policy says', (path, body) => {
    expect(classify('POST', path, body)).toMatchObject({ reason: 'credential_operation' });
  });

  it.each([
    ['/v1/billing_portal/configurations', 'features[subscription_update][enabled]=true'],
    [
      '/v1/billing_portal/configurations/bpc_1',
      'features[subscription_update][products][0][product]=prod_1&features[subscription_update][products][0][prices][]=price_1',
    ],
    ['/v1/billing_portal/configurations/bpc_1', 'features[subscription_cancel][enabled]=true'],
    ['/v1/billing_portal/configurations/bpc_1', 'features[subscription_pause][enabled]=true'],
    ['/v1/billing_portal/configurations/bpc_1', 'features=x'],
    ['/v1/billing_portal/configurations/bpc_1', 'Features[subscription_update][enabled]=true'],
    ['/v1/billing_portal/configurations/bpc_1', 'features%20[subscription_cancel][enabled]=true'],
    [
      '/v1/billing_portal/configurations/bpc_1',
      'features[invoice_history][enabled]=true&fea_tures[subscription_update][enabled]=true',
    ],
  ])('makes POST %s with %s need an exact entry (destructive)', (path, body) => {
    const o = op('POST', path, body);
    expect(o).toMatchObject({ class: 'destructive', movesMoney: false });
    expect(o.raisedBy).toContain('portal features');
  });

  it.each([
    'email=agent@attacker.example',
    'Email=agent@attacker.example',
    'email%20=agent@attacker.example',
    '%20email=agent@attacker.example',
    'email%00=agent@attacker.example',
  ])("makes a customer update that changes the customer's email (%s) need an exact entry", (body) => {
    const o = op('POST', '/v1/customers/cus_1', body);
    expect(o).toMatchObject({ id: 'stripe.customers.update', class: 'destructive', locks: ['cus_1'] });
    expect(o.raisedBy).toContain('email');
  });

  it.each([
    ['/v1/billing_portal/configurations/bpc_1', 'login_page[enabled]=false'],
    ['/v1/billing_portal/configurations/bpc_1', 'features[invoice_history][enabled]=true'],
    [
      '/v1/billing_portal/configurations',
      'features[payment_method_update][enabled]=true&features[customer_update][enabled]=true&default_return_url=https://x.example',
    ],
    ['/v1/customers/cus_1', 'name=Ada&metadata[a]=b'],
    ['/v1/customers', 'email=new@example.com'],
    ['/v1/billing_portal/configurations/bpc_1', 'Login_page[enabled]=false'],
    ['/v1/billing_portal/configurations/bpc_1', 'Features[invoice_history][enabled]=true'],
  ])('leaves POST %s with %s a free write', (path, body) => {
    expect(op('POST', path, body)).toMatchObject({ class: 'write' });
  });
});

// Found by an adversarial probe (twelfth round, reveals): v2 counterparts of v1 operations that are
// refused whatever the policy says were stripe.unknown, forwarded under an exact entry.
describe('v2 operations that mint a credential or change account access', () => {
  it.each([
    ['POST', '/v2/core/account_links'],
    ['POST', '/v2/core/account_links/'],
    ['POST', '/v2/core/Account_Links'],
    ['POST', '/v2/core/account_links.'],
    ['POST', '/v2/core/account%5Flinks'],
    ['post', '/v2/core/account_links'],
    ['POST', '/v2/core/event_destinations'],
    ['POST', '/v2/core/event_destinations/ed_1'],
    ['POST', '/v2/core/event_destinations/ed_1/enable'],
    ['POST', '/v2/billing/meter_event_session'],
    ['POST', '/v2/billing/meter_event_session;x'],
  ])('refuses %s %s whatever the policy says', (method, path) => {
    expect(classify(method, path)).toMatchObject({ reason: 'credential_operation' });
  });
});

// Found by a security tester (fourth round): an account named in the path or the body is governed by
// allow.accounts; a money call whose headers name none still acts on the platform account.
describe('the accounts a call names', () => {
  it.each([
    [
      'an account debit',
      'POST',
      '/v1/charges',
      'amount=500&currency=usd&source=acct_other',
      {},
      ['acct_other', 'platform'],
    ],
    [
      'a charge on behalf of an account',
      'POST',
      '/v1/charges',
      'amount=500&currency=usd&on_behalf_of=acct_other',
      {},
      ['acct_other', 'platform'],
    ],
    [
      'a charge on an account by header, on behalf of it',
      'POST',
      '/v1/charges',
      'amount=500&currency=usd&on_behalf_of=acct_1',
      { 'stripe-account': 'acct_1' },
      ['acct_1'],
    ],
    ['a charge naming no account', 'POST', '/v1/charges', 'amount=500&currency=usd', {}, []],
    ["a read of an account's persons", 'GET', '/v1/accounts/acct_other/persons', '', {}, ['acct_other']],
    [
      'a capability changed',
      'POST',
      '/v1/accounts/acct_other/capabilities/card_payments',
      'requested=false',
      {},
      ['acct_other'],
    ],
    ['an account unrejected', 'POST', '/v1/accounts/acct_other/unreject', '', {}, ['acct_other']],
  ])('names %s', (_name, method, path, body, headers, accounts) => {
    expect(op(method, path, body, headers).parties.accounts).toEqual(accounts);
  });
});

// Tenth round: verifying micro-deposits of another customer's intent was forwarded unread (its
// confirm was refused). It stays a free write, read for the intent's customer.
describe('micro-deposit verification', () => {
  it.each([
    ['payment', '/v1/payment_intents/pi_1/verify_microdeposits', '/v1/payment_intents/pi_1', true],
    ['setup', '/v1/setup_intents/seti_1/verify_microdeposits', '/v1/setup_intents/seti_1', false],
  ])('reads the %s intent for its customer, at $0', (_kind, path, read, bills) => {
    const o = op('POST', path, 'amounts[]=32&amounts[]=45');
    expect(o).toMatchObject({ class: 'write', movesMoney: false, costMicros: 0 });
    expect(o.billsCustomer === true).toBe(bills);
    expect(o.lookup?.path).toBe(read);
    expect(o.lookup?.parties?.({ customer: 'cus_other' })).toMatchObject({ customers: ['cus_other'] });
    expect(o.lookup?.price({ customer: 'cus_other' })).toBe(0);
  });

  it('refuses an intent id that is no Stripe id before any read', () => {
    expect(classify('POST', '/v1/payment_intents/pi%2E1/verify_microdeposits')).toMatchObject({
      reason: 'path_invalid',
    });
  });
});

// Tenth round (fixes10a): the other free writes on one customer's existing object were forwarded
// unread, so `allow.customers` never saw whose object they changed. Each is read for its customer
// at $0, keeps its class, and (but a payment intent's verify) does not bill that customer.
describe('free writes read for the customer of their object', () => {
  it.each([
    ['POST', '/v1/setup_intents/seti_1/confirm', 'payment_method=pm_card_visa', '/v1/setup_intents/seti_1'],
    ['POST', '/v1/setup_intents/seti_1', 'payment_method=pm_card_visa', '/v1/setup_intents/seti_1'],
    ['POST', '/v1/setup_intents/seti_1/cancel', '', '/v1/setup_intents/seti_1'],
    ['POST', '/v1/payment_intents/pi_1', 'receipt_email=a%40example.com', '/v1/payment_intents/pi_1'],
    ['POST', '/v1/payment_intents/pi_1/cancel', '', '/v1/payment_intents/pi_1'],
    ['POST', '/v1/subscriptions/sub_1/migrate', 'billing_mode[type]=flexible', '/v1/subscriptions/sub_1'],
    ['POST', '/v1/quotes/qt_1', 'description=x', '/v1/quotes/qt_1'],
    ['POST', '/v1/quotes/qt_1/cancel', '', '/v1/quotes/qt_1'],
    ['POST', '/v1/quotes/qt_1/finalize', '', '/v1/quotes/qt_1'],
    ['POST', '/v1/invoices/in_1', 'metadata[a]=b', '/v1/invoices/in_1'],
    ['DELETE', '/v1/invoices/in_1', '', '/v1/invoices/in_1'],
    ['POST', '/v1/invoices/in_1/void', '', '/v1/invoices/in_1'],
    ['POST', '/v1/invoices/in_1/mark_uncollectible', '', '/v1/invoices/in_1'],
    ['POST', '/v1/invoices/in_1/attach_payment', 'payment_intent=pi_1', '/v1/invoices/in_1'],
    ['POST', '/v1/charges/ch_1', 'receipt_email=a%40example.com', '/v1/charges/ch_1'],
    ['POST', '/v1/charges/ch_1/dispute', 'submit=true', '/v1/charges/ch_1'],
    ['POST', '/v1/charges/ch_1/dispute/close', '', '/v1/charges/ch_1'],
    ['POST', '/v1/credit_notes/cn_1', 'memo=x', '/v1/credit_notes/cn_1'],
    // A payment method's update and detach and a source's update are read twice since the
    // thirteenth round, the second time with the customer leased (money.test.ts).
    ['POST', '/v1/sources/src_1/verify', 'values[]=32', '/v1/sources/src_1'],
    ['POST', '/v1/checkout/sessions/cs_1', 'metadata[a]=b', '/v1/checkout/sessions/cs_1'],
    ['POST', '/v1/checkout/sessions/cs_1/expire', '', '/v1/checkout/sessions/cs_1'],
  ])('%s %s reads %4$s for its customer, at $0', (method, path, body, read) => {
    const o = op(method, path, body);
    expect(o).toMatchObject({ movesMoney: false, costMicros: 0 });
    expect(o.billsCustomer).toBeUndefined();
    expect(o.lookup?.path).toBe(read);
    expect(o.lookup?.parties?.({ customer: 'cus_other' })).toMatchObject({ customers: ['cus_other'] });
    expect(o.lookup?.price({ customer: 'cus_other' })).toBe(0);
  });
});

// Twelfth round (probe fixesr): objects that keep their customer one level down were forwarded
// unread. Each is read at $0 for it; an answer that cannot say whose the object is leaves the call
// unpriced (price undefined: price_unknown), whatever the key's allowlists.
describe('free writes read for a customer their object keeps one level down', () => {
  const holder = (h: unknown) => ({
    id: 'fca_1',
    object: 'financial_connections.account',
    account_holder: h,
  });
  const session = (o: Record<string, unknown>) => ({
    id: 'vs_1',
    object: 'identity.verification_session',
    ...o,
  });

  it.each([
    ['/v1/financial_connections/accounts/fca_1/disconnect', '', 'write'],
    ['/v1/financial_connections/accounts/fca_1/unsubscribe', 'features[]=transactions', 'write'],
    ['/v1/financial_connections/accounts/fca_1/refresh', 'features[]=balance', 'money_unpriced'],
    ['/v1/financial_connections/accounts/fca_1/subscribe', 'features[]=transactions', 'money_unpriced'],
    ['/v1/linked_accounts/fca_1/disconnect', '', 'write'],
    ['/v1/linked_accounts/fca_1/refresh', 'features[]=balance', 'money_unpriced'],
  ])('POST %s reads the account for its holder, keeping its class', (path, body, cls) => {
    const o = op('POST', path, body);
    expect(o).toMatchObject({ class: cls, movesMoney: cls !== 'write', costMicros: 0 });
    expect(o.billsCustomer).toBeUndefined();
    expect(o.lookup?.path).toBe(path.replace(/\/[a-z]+$/, ''));
    const lookup = o.lookup!;
    const other = holder({ type: 'customer', customer: 'cus_other', account: null });
    expect(lookup.parties?.(other)).toMatchObject({ customers: ['cus_other'] });
    expect(lookup.price(other)).toBe(0);
    // By its account, and expanded.
    expect(lookup.parties?.(holder({ type: 'customer', customer_account: 'acct_c1' }))).toMatchObject({
      customers: ['acct_c1'],
    });
    expect(
      lookup.parties?.(holder({ type: 'customer', customer: { id: 'cus_x', object: 'customer' } })),
    ).toMatchObject({ customers: ['cus_x'] });
    // A connected account's own bank account is no customer's: it names none, and is priced.
    const platform = holder({ type: 'account', account: 'acct_1', customer: null });
    expect(lookup.parties?.(platform)?.customers).toBeUndefined();
    expect(lookup.price(platform)).toBe(0);
  });

  it.each([
    ['no holder', { id: 'fca_1', object: 'financial_connections.account' }],
    ['a null holder', holder(null)],
    ['a customer holder naming no customer', holder({ type: 'customer', customer: null })],
    ['a holder of an unknown type', holder({ type: 'application', customer: null })],
    ['a customer that is no id', holder({ type: 'customer', customer: 'cus 1' })],
    ['a customer that is a number', holder({ type: 'customer', customer: 7 })],
    [
      'an account holder that also names a malformed customer',
      holder({ type: 'account', customer: ['cus_1'] }),
    ],
  ])('cannot price an account answer with %s', (_what, answer) => {
    const lookup = op('POST', '/v1/financial_connections/accounts/fca_1/disconnect').lookup;
    expect(lookup?.path).toBe('/v1/financial_connections/accounts/fca_1');
    expect(lookup!.price(answer)).toBeUndefined();
  });

  it.each([
    ['/v1/identity/verification_sessions/vs_1', 'type=document', 'write'],
    ['/v1/identity/verification_sessions/vs_1/cancel', '', 'write'],
    ['/v1/identity/verification_sessions/vs_1/redact', '', 'destructive'],
  ])('POST %s reads the session for its related customer', (path, body, cls) => {
    const o = op('POST', path, body);
    expect(o).toMatchObject({ class: cls, movesMoney: false, costMicros: 0 });
    expect(o.lookup?.path).toBe('/v1/identity/verification_sessions/vs_1');
    const lookup = o.lookup!;
    expect(lookup.parties?.(session({ related_customer: 'cus_other' }))).toMatchObject({
      customers: ['cus_other'],
    });
    expect(
      lookup.parties?.(session({ related_customer: null, related_customer_account: 'acct_c1' })),
    ).toMatchObject({ customers: ['acct_c1'] });
    expect(lookup.price(session({ related_customer: 'cus_other' }))).toBe(0);
    // Tied to no customer: names none, priced.
    expect(lookup.parties?.(session({ related_customer: null }))?.customers).toBeUndefined();
    expect(lookup.price(session({ related_customer: null }))).toBe(0);
    // The field missing (an answer that does not say) or malformed: unpriced.
    expect(lookup.price(session({}))).toBeUndefined();
    expect(lookup.price(session({ related_customer: 5 }))).toBeUndefined();
    expect(lookup.price(session({ related_customer: null, related_customer_account: {} }))).toBeUndefined();
  });

  it('refuses a path id that is no Stripe id before any read', () => {
    expect(classify('POST', '/v1/identity/verification_sessions/vs%2E1/redact')).toMatchObject({
      reason: 'path_invalid',
    });
  });

  it("names a new verification session's related customer, by id or account", () => {
    expect(
      op('POST', '/v1/identity/verification_sessions', 'type=document&related_customer=cus_9').parties,
    ).toMatchObject({ customers: ['cus_9'] });
    expect(
      op('POST', '/v1/identity/verification_sessions', 'type=document&related_customer_account=acct_9')
        .parties,
    ).toMatchObject({ customers: ['acct_9'] });
  });
});

// Twelfth round (probe fixes12a): a billing alert keeps its customer two levels down
// (`usage_threshold.filters[].customer`), and its three writes were forwarded unread. Each reads the
// alert at $0 now; every filter's customer is a party; an answer that cannot say is unpriced.
describe("a billing alert's writes read it for the customers its filters name", () => {
  const alert = (usageThreshold: unknown, o: Record<string, unknown> = {}) => ({
    id: 'alrt_1',
    object: 'billing.alert',
    alert_type: 'usage_threshold',
    status: 'active',
    title: 't',
    usage_threshold: usageThreshold,
    ...o,
  });
  const threshold = (filters: unknown) => ({ filters, gte: 10, meter: 'mtr_1', recurrence: 'one_time' });

  it.each(['activate', 'archive', 'deactivate'])('POST /v1/billing/alerts/alrt_1/%s', (action) => {
    const o = op('POST', `/v1/billing/alerts/alrt_1/${action}`);
    expect(o).toMatchObject({ class: 'write', movesMoney: false, costMicros: 0 });
    expect(o.billsCustomer).toBeUndefined();
    const lookup = o.lookup!;
    expect(lookup.path).toBe('/v1/billing/alerts/alrt_1');
    const other = alert(threshold([{ type: 'customer', customer: 'cus_other' }]));
    expect(lookup.parties?.(other)).toMatchObject({ customers: ['cus_other'] });
    expect(lookup.price(other)).toBe(0);
    // Every filter counts, expanded too.
    const two = alert(
      threshold([
        { type: 'customer', customer: 'cus_a' },
        { type: 'customer', customer: { id: 'cus_b', object: 'customer' } },
      ]),
    );
    expect(lookup.parties?.(two)).toMatchObject({ customers: ['cus_a', 'cus_b'] });
    // On the meter's whole usage: no customer's, priced.
    const meter = alert(threshold(null));
    expect(lookup.parties?.(meter)?.customers).toBeUndefined();
    expect(lookup.price(meter)).toBe(0);
  });

  it.each([
    ['no usage_threshold', { id: 'alrt_1', object: 'billing.alert', alert_type: 'usage_threshold' }],
    ['a null usage_threshold', alert(null)],
    ['another alert type', alert(threshold(null), { alert_type: 'spend_threshold' })],
    ['no filters field', alert({ gte: 10, meter: 'mtr_1', recurrence: 'one_time' })],
    ['filters that are no list', alert(threshold({ type: 'customer', customer: 'cus_1' }))],
    ['a filter of another type', alert(threshold([{ type: 'tenant', tenant: 't_1' }]))],
    ['a customer filter naming none', alert(threshold([{ type: 'customer', customer: null }]))],
    ['a customer that is no id', alert(threshold([{ type: 'customer', customer: 'cus 1' }]))],
    [
      'a malformed filter after a good one',
      alert(threshold([{ type: 'customer', customer: 'cus_1' }, 'cus_2'])),
    ],
  ])('cannot price an alert answer with %s', (_what, answer) => {
    const lookup = op('POST', '/v1/billing/alerts/alrt_1/archive').lookup!;
    expect(lookup.price(answer)).toBeUndefined();
  });

  it('refuses a path id that is no Stripe id before any read', () => {
    expect(classify('POST', '/v1/billing/alerts/alrt%2E1/archive')).toMatchObject({ reason: 'path_invalid' });
  });
});
