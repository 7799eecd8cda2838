// Lease duty (ADR 0007 §5, sixth round): a key whose calls are refused after their lookups spends
// nothing, yet each such call holds its leases, and a lease is per upstream account. A tester's key
// under a $1 call cap looped invoice items on a $50 Price every key of the account shares: each was
// refused per_call_limit_exceeded after the Price was read, and the Price stayed leased ~90 % of the
// time (36/36 updates of another key answered object_busy). Two real `keybrake serve` processes on one
// redis-server, the attacker on one and the victim on the other; the Stripe stand-in holds each Price
// read until the test lets it go, so every round is decided by promises, never by sleeps: the
// attacker's call is made first, and the victim's while that call would hold the Price.
import type Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { gate, outcome } from './fixtures/outcomes.ts';
import { useRedisReplicas } from './fixtures/redis-replicas.ts';
import { mintKeys, stripeVia } from './fixtures/replicas.ts';

const EVERYTHING = ['POST /v1/**', 'GET /v1/**'];
const { files, keys } = mintKeys([
  { name: 'attacker', limits: { perCallUsd: '1', perDayUsd: '100' }, endpoints: EVERYTHING },
  { name: 'victim', limits: { perCallUsd: '100', perDayUsd: '100000' }, endpoints: EVERYTHING },
]);

/** Attempts; each is one attacker call, then one victim call at the attacker's worst moment. */
const ROUNDS = 24;

describe('a key refused after its lookups cannot keep a shared Price leased', () => {
  const replicas = useRedisReplicas(files);

  it('lets the victim update the Price and bill from it in most rounds while the attacker loops', async () => {
    const book = replicas().stripe.prices;
    book.price('price_shared', 5_000, {});
    const attacker = stripeVia(replicas().proxies[0]!, keys.attacker.token);
    const victim = stripeVia(replicas().proxies[1]!, keys.victim.token);
    const item = (client: Stripe) =>
      client.invoiceItems.create({
        customer: 'cus_b',
        pricing: { price: 'price_shared' },
        currency: 'usd',
        quantity: 1,
      });

    const held: number[] = [];
    const victimThrough: number[] = [];
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const arrived = gate();
        const release = gate();
        book.onPriceLookup = async () => {
          arrived.open();
          await release.promise;
        };
        const attack = outcome(item(attacker));
        // Either the attacker's call reads the Price (holding its lease), or it is answered first.
        const reading = await Promise.race([arrived.promise.then(() => true), attack.then(() => false)]);
        // Only the attacker's read is held: the victim's own invoice item reads the Price at once.
        book.onPriceLookup = undefined;
        const answered = await outcome<unknown>(
          round % 2 === 0
            ? victim.prices.update('price_shared', { nickname: `round ${round}` })
            : item(victim),
        );
        release.open();
        const attacked = await attack;

        if (reading) {
          held.push(round);
          expect(attacked).toMatchObject({
            ok: false,
            error: { statusCode: 403, code: 'per_call_limit_exceeded' },
          });
          expect(answered).toMatchObject({ ok: false, error: { statusCode: 409, code: 'object_busy' } });
        } else {
          // Held off before any lease or read, with how long to wait.
          expect(attacked).toMatchObject({ ok: false, error: { statusCode: 429, code: 'rate_limited' } });
          expect(attacked.ok === false && attacked.error.message).toMatch(
            /this key's last call on price_shared was refused after its price lookup.*retry after \d+ ms/,
          );
          expect(answered).toMatchObject({ ok: true });
          victimThrough.push(round);
        }
      }
    } finally {
      book.onPriceLookup = undefined;
    }

    // The first attempt held the Price; after it the attacker's backoff doubles from 250 ms with each
    // refusal, so however slowly the rounds run, it reads in a few of them at most.
    expect(held[0]).toBe(0);
    expect(held.length).toBeLessThanOrEqual(ROUNDS / 4);
    expect(victimThrough).toHaveLength(ROUNDS - held.length);
    // The attacker's reads are the rounds it held, and nothing it asked for reached Stripe: every
    // invoice item billed is one of the victim's.
    const attackerReads = replicas().stripe.requests.filter(
      (r) => r.method === 'GET' && r.path.split('?')[0] === '/v1/prices/price_shared',
    ).length;
    const victimItems = victimThrough.filter((round) => round % 2 === 1).length;
    expect(attackerReads).toBe(held.length + victimItems);
    expect(book.billed).toHaveLength(victimItems);
    console.log('HELD', held);
  });
});
