import { describe, expect, it } from 'vitest';
import type { VendorRequest } from '../types.ts';
import { stripeLeaseAccount } from './lease-account.ts';

// Whose objects a Stripe call's leases guard (ADR 0007 §5, fourteenth round): the account the call
// names, else the key's own, as GET /v1/account (or a restricted key's refusal of it) names it.
describe('stripeLeaseAccount', () => {
  const req = (headers: Record<string, string | string[]>): VendorRequest =>
    ({ method: 'POST', path: '/v1/payment_intents/pi_1', headers }) as unknown as VendorRequest;

  it.each([
    [{}, undefined],
    [{ 'stripe-account': 'acct_1Connected' }, 'acct_1Connected'],
    [{ 'stripe-account': ' acct_1Connected\t' }, 'acct_1Connected'],
    [{ 'stripe-context': 'acct_1Parent/acct_1Child' }, 'acct_1Child'],
    [{ 'stripe-context': 'acct_1Parent/acct_1Child/acct_1Parent' }, 'acct_1Parent'],
    // Refused before any lease (parties.ts); read as naming none, never guessed.
    [{ 'stripe-account': 'acct_1A', 'stripe-context': 'acct_1B' }, undefined],
    [{ 'stripe-account': 'cus_1' }, undefined],
    [{ 'stripe-account': ['acct_1A', 'acct_1B'] }, undefined],
  ])('names %j as %s', (headers, account) => {
    expect(stripeLeaseAccount.named(req(headers))).toBe(account);
  });

  it('reads the account of a 200 answer', () => {
    expect(stripeLeaseAccount.of(200, { id: 'acct_1Own', object: 'account' })).toBe('acct_1Own');
    expect(stripeLeaseAccount.of(200, { id: 'acct_1Own', object: 'customer' })).toBeUndefined();
    expect(stripeLeaseAccount.of(200, { id: 'cus_1', object: 'account' })).toBeUndefined();
    expect(stripeLeaseAccount.of(200, { id: 'acct_1 Own', object: 'account' })).toBeUndefined();
    expect(stripeLeaseAccount.of(200, 'acct_1Own')).toBeUndefined();
  });

  it("reads a restricted key's permission refusal naming exactly one account", () => {
    const refusal = (message: string) => ({ error: { type: 'invalid_request_error', message } });
    const rk = `${'rk_'}test_***1234`;
    expect(
      stripeLeaseAccount.of(
        403,
        refusal(
          `The provided key '${rk}' does not have the required permissions for this endpoint on account 'acct_1Restricted'. Having the 'rak_accounts_kyc_basic_read' permission would allow this request to continue.`,
        ),
      ),
    ).toBe('acct_1Restricted');
    expect(
      stripeLeaseAccount.of(403, refusal("on account 'acct_1A' or on account 'acct_1B'")),
    ).toBeUndefined();
    expect(stripeLeaseAccount.of(403, refusal('Forbidden.'))).toBeUndefined();
    expect(stripeLeaseAccount.of(401, refusal("on account 'acct_1A'"))).toBeUndefined();
    expect(stripeLeaseAccount.of(500, { id: 'acct_1A', object: 'account' })).toBeUndefined();
  });
});
