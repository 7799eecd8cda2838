import { describe, expect, it } from 'vitest';
import { compileEndpointPattern } from '../../patterns/glob.ts';
import type { CompiledPolicy } from '../../snapshot/types.ts';
import { NO_PARTIES, type Operation, type OperationClass } from '../../vendors/types.ts';
import { authorize } from './authorize.ts';

const base: CompiledPolicy = { ref: 'agents/p', limits: {}, timezone: 'UTC', readsWhenStoreDown: true };

const charge = (over: Partial<Operation> = {}, parties: Partial<Operation['parties']> = {}): Operation => ({
  id: 'stripe.charges.create',
  class: 'money',
  movesMoney: true,
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
      { endpoints: [compileEndpointPattern('GET /v1/**')] },
      charge(),
      'endpoint_not_allowed',
    ],
    [
      'denies an unknown operation when no allowlist names it',
      {},
      charge({ id: 'stripe.unknown', class: 'unknown', costMicros: 0 }),
      'price_unknown',
    ],
    [
      'lets an unknown operation through when the allowlist names it',
      { endpoints: [compileEndpointPattern('POST /v1/charges')] },
      charge({ id: 'stripe.unknown', class: 'unknown', costMicros: 0 }),
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

  describe('admits operations by class (ADR 0007 §1)', () => {
    const op = (cls: OperationClass): Operation =>
      charge({ id: `stripe.x.${cls}`, class: cls, costMicros: 0 });
    const endpoints = (...sources: string[]) => ({ endpoints: sources.map(compileEndpointPattern) });
    const DELETE_CUSTOMER = ['DELETE', '/v1/customers/cus_1'] as const;

    it.each<[string, OperationClass, Partial<CompiledPolicy>, string | undefined]>([
      ['a sensitive operation under no allowlist', 'sensitive', {}, 'credential_operation'],
      [
        'a sensitive operation named exactly',
        'sensitive',
        endpoints('DELETE /v1/customers/cus_1'),
        'credential_operation',
      ],
      ['a read under a glob', 'read', endpoints('DELETE /v1/**'), undefined],
      ['a write under no allowlist', 'write', {}, undefined],
      ['a destructive operation under no allowlist', 'destructive', {}, 'endpoint_not_allowed'],
      [
        'a destructive operation under a glob',
        'destructive',
        endpoints('DELETE /v1/**'),
        'endpoint_not_allowed',
      ],
      [
        'a destructive operation under a one-segment glob',
        'destructive',
        endpoints('DELETE /v1/customers/*'),
        'endpoint_not_allowed',
      ],
      [
        'a destructive operation under a method wildcard',
        'destructive',
        endpoints('* /v1/customers/cus_1'),
        'endpoint_not_allowed',
      ],
      [
        'a destructive operation named by its path',
        'destructive',
        endpoints('DELETE /v1/customers/cus_1'),
        undefined,
      ],
      [
        'a destructive operation named by its template',
        'destructive',
        endpoints('DELETE /v1/customers/{customer}'),
        undefined,
      ],
      [
        'a destructive operation named among globs',
        'destructive',
        endpoints('DELETE /v1/**', 'DELETE /v1/customers/{customer}'),
        undefined,
      ],
      [
        'an unpriced money operation under a glob',
        'money_unpriced',
        endpoints('DELETE /v1/**'),
        'price_unknown',
      ],
      [
        'an unpriced money operation named exactly',
        'money_unpriced',
        endpoints('DELETE /v1/customers/{id}'),
        undefined,
      ],
      ['an unknown operation under no allowlist', 'unknown', {}, 'price_unknown'],
      ['an unknown operation under a glob', 'unknown', endpoints('DELETE /v1/customers/**'), 'price_unknown'],
      ['an unknown operation named exactly', 'unknown', endpoints('DELETE /v1/customers/cus_1'), undefined],
      [
        'an exact entry for another path',
        'destructive',
        endpoints('DELETE /v1/customers/cus_2'),
        'endpoint_not_allowed',
      ],
    ])('%s', (_name, cls, policy, reason) => {
      const [method, path] = DELETE_CUSTOMER;
      expect(authorize({ policy: { ...base, ...policy }, method, path, op: op(cls) })?.reason).toBe(reason);
    });
  });
});
