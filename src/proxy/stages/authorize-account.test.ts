import { describe, expect, it } from 'vitest';
import type { CompiledPolicy } from '../../snapshot/types.ts';
import { NO_PARTIES, type Operation, PLATFORM_ACCOUNT } from '../../vendors/types.ts';
import { checkAccount } from './authorize.ts';

const policy = (accounts?: string[]): CompiledPolicy => ({
  ref: 'agents/p',
  limits: {},
  timezone: 'UTC',
  readsWhenStoreDown: false,
  ...(accounts && { accounts: new Set(accounts) }),
});

// Only the fields checkAccount reads (the Operation type is being extended by the class work).
const op = (movesMoney: boolean, accounts: string[] = []): Operation =>
  ({
    id: movesMoney ? 'stripe.charges.create' : 'stripe.customers.list',
    class: movesMoney ? 'money' : 'read',
    movesMoney,
    costMicros: movesMoney ? 5_000_000 : 0,
    parties: { ...NO_PARTIES, accounts },
  }) as Operation;

const check = (p: CompiledPolicy, o: Operation) =>
  checkAccount({ policy: p, method: 'POST', path: '/v1/charges', op: o })?.reason;

describe('checkAccount and the platform account (ADR 0007 §3)', () => {
  it.each<[string, string[] | undefined, Operation, string | undefined]>([
    ['no account list admits the platform', undefined, op(true), undefined],
    ['a list without platform refuses money on the platform', ['acct_1'], op(true), 'account_not_allowed'],
    ['an empty list refuses money on the platform', [], op(true), 'account_not_allowed'],
    ['a list with platform admits money on the platform', [PLATFORM_ACCOUNT, 'acct_1'], op(true), undefined],
    ['a list without platform admits a read on the platform', ['acct_1'], op(false), undefined],
    ['a listed connected account passes', ['acct_1'], op(true, ['acct_1']), undefined],
    [
      'every account of a context path must be listed',
      ['acct_1'],
      op(true, ['acct_1', 'acct_2']),
      'account_not_allowed',
    ],
    [
      'platform does not admit a connected account',
      [PLATFORM_ACCOUNT],
      op(true, ['acct_2']),
      'account_not_allowed',
    ],
    [
      'a connected account outside the list is refused on a read too',
      ['acct_1'],
      op(false, ['acct_2']),
      'account_not_allowed',
    ],
  ])('%s', (_name, accounts, o, expected) => {
    expect(check(policy(accounts), o)).toBe(expected);
  });
});
