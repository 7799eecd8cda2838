// The price race (ADR 0007 §5, sixth round): an invoice item or invoice line is priced from the Price
// it names, and an update of that Price's `currency_options` could land between the read and the
// forward. Two real `keybrake serve` processes share one redis-server; the Stripe stand-in holds the
// Price read until the test lets it go (promises, no sleeps). The update meets 409 object_busy while
// the priced call holds the Price, nothing over the caps reaches Stripe, and once the call has
// settled the update goes through.
import type Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { dayBucket } from '../../src/counters/windows.ts';
import { gate, outcome } from './fixtures/outcomes.ts';
import { useRedisReplicas } from './fixtures/redis-replicas.ts';
import { mintKeys, stripeVia } from './fixtures/replicas.ts';

/** The tester's policy: a $50 call, a $100 day, a $30 run, every POST and GET. */
const POLICY = {
  limits: { perCallUsd: '50', perDayUsd: '100', perRunUsd: '30' },
  endpoints: ['POST /v1/**', 'GET /v1/**'],
};
const { files, keys } = mintKeys([
  { name: 'biller', ...POLICY },
  { name: 'pricer', ...POLICY },
]);

/** €9 000: what the tester raised the Price to mid-call. */
const RAISED = 900_000;

describe('a looked-up Price cannot be raced across two replicas on Redis', () => {
  const replicas = useRedisReplicas(files);

  const client = (replica: number, key: keyof typeof keys): Stripe =>
    stripeVia(replicas().proxies[replica]!, keys[key].token);

  /** Micro-USD counted today by the billing key, read from the shared Redis. */
  const spent = () => replicas().store.used(keys.biller.scope, dayBucket(Date.now(), 'UTC'));

  const priceUpdates = (price: string) =>
    replicas().stripe.requests.filter((r) => r.method === 'POST' && r.path === `/v1/prices/${price}`).length;

  /**
   * Holds the priced call at its read of `price`, raises the Price from the other replica (refused),
   * lets the call go on, and returns what it answered.
   */
  async function raceAgainstRead<T>(price: string, priced: () => Promise<T>) {
    const book = replicas().stripe.prices;
    book.price(price, 100, { eur: 100 });
    const arrived = gate();
    const release = gate();
    book.onPriceLookup = async () => {
      arrived.open();
      await release.promise;
    };
    try {
      const call = outcome(priced());
      await arrived.promise;
      const raise = () =>
        client(1, 'pricer').prices.update(price, { currency_options: { eur: { unit_amount: RAISED } } });
      // The read is being answered: raising the Price now, from another replica and vault key of the
      // same account, must wait for the priced call to settle.
      expect(await outcome(raise())).toMatchObject({
        ok: false,
        error: { statusCode: 409, code: 'object_busy' },
      });
      expect(priceUpdates(price)).toBe(0);
      expect(book.unitAmountOf(price, 'eur')).toBe(100);
      release.open();
      book.onPriceLookup = undefined;
      const answered = await call;
      // Settled and released: the update goes through now (it can no longer change this call).
      expect(await outcome(raise())).toMatchObject({ ok: true });
      expect(book.unitAmountOf(price, 'eur')).toBe(RAISED);
      return answered;
    } finally {
      release.open();
      book.onPriceLookup = undefined;
    }
  }

  it('refuses a Price update while an invoice item priced from it is in flight (variant a)', async () => {
    const before = await spent();
    const created = await raceAgainstRead('price_multi', () =>
      client(0, 'biller').invoiceItems.create({
        customer: 'cus_1',
        pricing: { price: 'price_multi' },
        currency: 'eur',
        quantity: 1,
      }),
    );
    expect(created).toMatchObject({ ok: true, value: { amount: 100, currency: 'eur' } });
    // Stripe added €1, and no more, to the customer's next invoice; it is counted.
    expect(replicas().stripe.prices.billed.filter((b) => b.price === 'price_multi')).toEqual([
      { what: 'invoice_item', price: 'price_multi', currency: 'eur', amount: 100 },
    ]);
    const counted = (await spent()) - before;
    expect(counted).toBeGreaterThan(1_000_000);
    expect(counted).toBeLessThan(2_000_000);
  });

  it('refuses a Price update while invoice lines priced from it are in flight (variant b)', async () => {
    const before = await spent();
    const added = await raceAgainstRead('price_lines', () =>
      client(0, 'biller').invoices.addLines('in_draft1', {
        lines: [{ pricing: { price: 'price_lines' }, quantity: 1 }],
      }),
    );
    expect(added).toMatchObject({ ok: true, value: { id: 'in_draft1', total: 100 } });
    expect(replicas().stripe.prices.billed.filter((b) => b.price === 'price_lines')).toEqual([
      { what: 'invoice_line', price: 'price_lines', currency: 'eur', amount: 100 },
    ]);
    const counted = (await spent()) - before;
    expect(counted).toBeGreaterThan(1_000_000);
    expect(counted).toBeLessThan(2_000_000);
  });

  it('refuses an invoice item while an update holds its Price; retried, it is priced at the raised amount and capped', async () => {
    const book = replicas().stripe.prices;
    book.price('price_held', 100, { eur: 100 });
    const arrived = gate();
    const release = gate();
    book.onPriceUpdate = async () => {
      arrived.open();
      await release.promise;
    };
    const create = () =>
      client(0, 'biller').invoiceItems.create({
        customer: 'cus_1',
        pricing: { price: 'price_held' },
        currency: 'eur',
        quantity: 1,
      });
    const reads = () =>
      replicas().stripe.requests.filter(
        (r) => r.method === 'GET' && r.path.startsWith('/v1/prices/price_held'),
      ).length;
    try {
      const raise = outcome(
        client(1, 'pricer').prices.update('price_held', {
          currency_options: { eur: { unit_amount: RAISED } },
        }),
      );
      await arrived.promise;
      expect(await outcome(create())).toMatchObject({
        ok: false,
        error: { statusCode: 409, code: 'object_busy' },
      });
      // Refused before its read: the busy Price cost no upstream read.
      expect(reads()).toBe(0);
      release.open();
      expect(await raise).toMatchObject({ ok: true });
      // Priced at €9 000 now: over the $50 call cap, refused, and nothing reaches Stripe.
      expect(await outcome(create())).toMatchObject({
        ok: false,
        error: { statusCode: 403, code: 'per_call_limit_exceeded' },
      });
      expect(book.billed.filter((b) => b.price === 'price_held')).toEqual([]);
    } finally {
      release.open();
      book.onPriceUpdate = undefined;
    }
  });
});
