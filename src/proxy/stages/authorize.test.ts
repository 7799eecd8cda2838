import { describe, expect, it } from 'vitest';
import type { CompiledPolicy } from '../../snapshot/types.ts';
import { NO_PARTIES, type Operation } from '../../vendors/types.ts';
import { authorize } from './authorize.ts';

const base: CompiledPolicy = { ref: 'agents/p', limits: {}, timezone: 'UTC', readsWhenStoreDown: true };

const charge = (over: Partial<Operation> = {}, parties: Partial<Operation['parties']> = {}): Operation => ({
  id: 'stripe.charges.create',
  movesMoney: true,
  known: true,
  costMicros: 10_000_000,
  ...over,
  parties: { ...NO_PARTIES, ...parties },
});

const pattern = (source: string, regex: RegExp) => ({ source, regex });

describe('authorize', () => {
  it.each<[string, Partial<CompiledPolicy>, Operation, string | undefined, string?]>([
    ['allows anything the catalog knows when nothing is restricted', {}, charge(), undefined],
    [
      'denies an endpoint outside the allowlist',
      { endpoints: [{ source: 'GET /v1/**', method: 'GET', path: /^\/v1(\/.*)?$/ }] },
      charge(),
      'endpoint_not_allowed',
    ],
    [
      'denies an unknown operation when no allowlist names it',
      {},
      charge({ id: 'stripe.unknown', known: false, costMicros: 0 }),
      'price_unknown',
    ],
    [
      'lets an unknown operation through when the allowlist names it',
      { endpoints: [{ source: 'POST /v1/charges', method: 'POST', path: /^\/v1\/charges$/ }] },
      charge({ id: 'stripe.unknown', known: false, costMicros: 0 }),
      undefined,
    ],
    [
      'denies a customer outside the allowlist',
      { customers: new Set(['cus_A']) },
      charge({}, { customers: ['cus_B'] }),
      'customer_not_allowed',
    ],
    [
      'denies a money-moving call naming no customer while a customer allowlist is set',
      { customers: new Set(['cus_A']) },
      charge(),
      'customer_not_allowed',
    ],
    [
      'allows a read naming no customer while a customer allowlist is set',
      { customers: new Set(['cus_A']) },
      charge({ id: 'stripe.read', movesMoney: false, costMicros: 0 }),
      undefined,
    ],
    [
      'denies a Stripe-Account outside the allowlist',
      { accounts: new Set(['acct_1']) },
      charge({}, { accounts: ['acct_2'] }),
      'account_not_allowed',
    ],
    [
      'denies a recipient outside the patterns',
      { recipients: [pattern('+1415555*', /^\+1415555.*$/)] },
      charge({}, { recipients: ['+14155550100', '+442071234567'] }),
      'recipient_not_allowed',
    ],
    [
      'denies a country outside the list',
      { countries: new Set(['US']) },
      charge({}, { countries: ['GB'] }),
      'country_not_allowed',
    ],
    [
      'denies a currency outside the list',
      { currencies: new Set(['usd']) },
      charge({}, { currencies: ['jpy'] }),
      'currency_not_allowed',
    ],
    [
      'denies a sender outside the patterns',
      { senders: [pattern('*@example.com', /^.*@example\.com$/i)] },
      charge({}, { senders: ['a@evil.com'] }),
      'sender_not_allowed',
    ],
    [
      'allows a call of exactly the per-call limit',
      { limits: { perCallMicros: 10_000_000 } },
      charge(),
      undefined,
    ],
    [
      'denies a call one micro-dollar over the per-call limit',
      { limits: { perCallMicros: 9_999_999 } },
      charge(),
      'per_call_limit_exceeded',
      'over the per-call limit of $9.999999',
    ],
    [
      'reports the first denial in chain order',
      { currencies: new Set(['usd']), customers: new Set(['cus_A']) },
      charge({}, { customers: ['cus_B'], currencies: ['jpy'] }),
      'customer_not_allowed',
    ],
  ])('%s', (_name, policy, op, reason, message) => {
    const result = authorize({ policy: { ...base, ...policy }, method: 'POST', path: '/v1/charges', op });
    expect(result?.reason).toBe(reason);
    if (message) expect(result?.message).toContain(message);
  });
});
