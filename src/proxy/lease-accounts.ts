import type { Clock } from '../clock.ts';
import { type Denial, isDenial } from '../decision/reasons.ts';

/**
 * How many credentials' accounts one process keeps. An entry is two digests: a vault file names far
 * fewer upstream credentials than this, so past it only a reload churning credentials forgets one
 * (costing one more read, never a wrong account).
 */
const MAX_LEASE_ACCOUNTS = 4096;

/**
 * After a read that named no account, how long the credential's next read waits: calls meanwhile are
 * refused unsent (retryable). A failure is not kept beyond that, but no agent can make this replica
 * read `GET /v1/account` more than once a second per upstream credential, whatever it sends.
 */
export const LEASE_ACCOUNT_RETRY_MS = 1_000;

/**
 * The upstream account each upstream credential acts for, as this replica learnt it (ADR 0007 §5,
 * "Since 2026-12-02 (fourteenth round)"): what a vendor answered once and never changes (a Stripe key
 * belongs to one account for its whole life), like object-links.ts, in process only. Keyed by the
 * credential's lease digest (stages/lease.ts leaseAccount), never by the secret, and holding lease
 * account digests only: nothing here can leak a key.
 *
 * One read per credential at a time: calls that arrive together wait on the same read. An answer is
 * kept (bounded, least recently used forgotten first); a failure is not, but the credential is not
 * read again for LEASE_ACCOUNT_RETRY_MS. A failure is what the vendor answered (naming no account)
 * or a read that did not reach it (a network failure, a throw). A read this proxy refused by its own
 * bounds (a Denial: the pool busy, upstreams.ts LocalRefusal) is handed to the calls that waited on
 * it and not held against the credential: found by an adversarial probe (fourteenth round, leases14,
 * MEDIUM), a refusal caused by one key's full budget kept every other key of the secret refused
 * 502 for a second, over and over.
 */
export class LeaseAccounts {
  readonly #clock: Clock;
  readonly #max: number;
  /** credential digest → lease account, least recently used first. */
  readonly #learnt = new Map<string, string>();
  /** credential digest → the read under way. */
  readonly #reading = new Map<string, Promise<string | undefined | Denial>>();
  /** credential digest → when its next read may be made, after a failed one. */
  readonly #failedUntil = new Map<string, number>();

  constructor(clock: Clock, max = MAX_LEASE_ACCOUNTS) {
    this.#clock = clock;
    this.#max = max;
  }

  /**
   * The lease account of `credential`: as learnt, else what `read` finds (shared by every call asking
   * meanwhile); undefined when the read found none, threw, or a failed one is too recent to retry;
   * the read's Denial when this proxy refused it (not kept: the next call reads again).
   */
  async of(
    credential: string,
    read: () => Promise<string | undefined | Denial>,
  ): Promise<string | undefined | Denial> {
    const known = this.#learnt.get(credential);
    if (known !== undefined) {
      this.#learnt.delete(credential);
      this.#learnt.set(credential, known);
      return known;
    }
    let pending = this.#reading.get(credential);
    if (pending === undefined) {
      const until = this.#failedUntil.get(credential);
      if (until !== undefined && this.#clock.now() < until) return undefined;
      pending = this.#read(credential, read);
      this.#reading.set(credential, pending);
    }
    return pending;
  }

  async #read(
    credential: string,
    read: () => Promise<string | undefined | Denial>,
  ): Promise<string | undefined | Denial> {
    let account: string | undefined | Denial;
    try {
      account = await read();
    } catch {
      account = undefined;
    }
    this.#reading.delete(credential);
    if (isDenial(account)) return account;
    if (account === undefined) {
      if (this.#failedUntil.size >= this.#max) this.#failedUntil.clear();
      this.#failedUntil.set(credential, this.#clock.now() + LEASE_ACCOUNT_RETRY_MS);
      return undefined;
    }
    this.#failedUntil.delete(credential);
    this.#learnt.set(credential, account);
    if (this.#learnt.size > this.#max) this.#learnt.delete(this.#learnt.keys().next().value!);
    return account;
  }

  get size(): number {
    return this.#learnt.size;
  }
}
