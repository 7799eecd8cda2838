import { describe, expect, it } from 'vitest';
import { fixedClock } from '../clock.ts';
import { type Denial, deny } from '../decision/reasons.ts';
import { LEASE_ACCOUNT_RETRY_MS, LeaseAccounts } from './lease-accounts.ts';

// The accounts a replica learnt per upstream credential (ADR 0007 §5, fourteenth round): one read per
// credential however many calls ask together, kept once learnt, a failure not kept but not retried
// within LEASE_ACCOUNT_RETRY_MS, so no agent can make the proxy hammer GET /v1/account.
describe('LeaseAccounts', () => {
  const deferred = () => {
    let resolve!: (v: string | undefined) => void;
    const promise = new Promise<string | undefined>((r) => {
      resolve = r;
    });
    return { promise, resolve };
  };

  it('makes one read for calls that ask together, and none once learnt', async () => {
    const accounts = new LeaseAccounts(fixedClock(0));
    const answer = deferred();
    let reads = 0;
    const read = () => {
      reads++;
      return answer.promise;
    };
    const asked = Array.from({ length: 20 }, () => accounts.of('cred-a', read));
    answer.resolve('stripe:acct');
    expect(await Promise.all(asked)).toEqual(Array(20).fill('stripe:acct'));
    expect(await accounts.of('cred-a', read)).toBe('stripe:acct');
    expect(reads).toBe(1);
  });

  it('does not keep a failed read, and does not read again within the retry interval', async () => {
    const clock = fixedClock(0);
    const accounts = new LeaseAccounts(clock);
    let reads = 0;
    let answer: string | undefined;
    const read = async () => {
      reads++;
      return answer;
    };
    expect(await accounts.of('cred-a', read)).toBeUndefined();
    for (let i = 0; i < 50; i++) expect(await accounts.of('cred-a', read)).toBeUndefined();
    expect(reads).toBe(1);
    // Another credential is not held back by this one's failure.
    answer = 'stripe:b';
    expect(await accounts.of('cred-b', read)).toBe('stripe:b');
    expect(reads).toBe(2);
    clock.advance(LEASE_ACCOUNT_RETRY_MS);
    answer = 'stripe:a';
    expect(await accounts.of('cred-a', read)).toBe('stripe:a');
    expect(reads).toBe(3);
  });

  it('reads a thrown read as no account', async () => {
    const accounts = new LeaseAccounts(fixedClock(0));
    expect(
      await accounts.of('cred-a', async () => {
        throw new Error('socket hang up');
      }),
    ).toBeUndefined();
  });

  it('is bounded: past its size the least recently used credential is read again', async () => {
    const accounts = new LeaseAccounts(fixedClock(0), 2);
    let reads = 0;
    const read = (account: string) => async () => {
      reads++;
      return account;
    };
    await accounts.of('a', read('A'));
    await accounts.of('b', read('B'));
    await accounts.of('a', read('A'));
    await accounts.of('c', read('C'));
    expect(accounts.size).toBe(2);
    expect(await accounts.of('a', read('A'))).toBe('A');
    expect(reads).toBe(3);
    expect(await accounts.of('b', read('B'))).toBe('B');
    expect(reads).toBe(4);
  });

  // Fourteenth round (leases14, finding 2): a read this proxy refused by its own bounds (the pool or
  // a budget) says nothing of the credential: it is handed to the calls that waited, not kept.
  it('does not hold a read this proxy refused against the credential: the next call reads again', async () => {
    const accounts = new LeaseAccounts(fixedClock(0));
    const refusal = deny('upstream_unavailable', 'every connection busy');
    let reads = 0;
    let answer: string | Denial = refusal;
    const read = async () => {
      reads++;
      return answer;
    };
    expect(await accounts.of('cred-a', read)).toBe(refusal);
    answer = 'stripe:a';
    expect(await accounts.of('cred-a', read)).toBe('stripe:a');
    expect(reads).toBe(2);
  });
});
