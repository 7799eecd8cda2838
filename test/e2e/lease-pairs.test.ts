// The lease pairs (ADR 0007 §5, sixth round): one payment is a charge and its payment intent, one
// invoice is the invoice and its items, and a call through one id did not wait for a call through the
// other. Two real `keybrake serve` processes share one redis-server before a Stripe stand-in that
// holds a price lookup's read until the test lets it go (promises, no sleeps). While the first call's
// lookup is held, the second call meets 409 object_busy and nothing of it reaches Stripe; once the
// first has settled, the second is priced from what Stripe then says, and capped.
import type Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KeybrakeProcess, manifestDir } from '../env/keybrake.ts';
import { type RedisServer, startRedis } from '../env/redis.ts';
import { type DelayedLedger, startDelayedLedger } from './fixtures/delayed-ledger.ts';
import { outcome } from './fixtures/outcomes.ts';
import { mintKeys, startReplicas, stripeVia, UPSTREAM_KEY } from './fixtures/replicas.ts';

// The tester's keys: `small` is capped at $50 a call and $100 a day; `large` may move $100 000.
const { files, keys } = mintKeys([
  { name: 'small', limits: { perCallUsd: '50', perDayUsd: '100' } },
  { name: 'large', limits: { perCallUsd: '100000', perDayUsd: '100000' } },
  // The refund-by-charge cases' own $50 key: the day's spend of the cases above does not decide them.
  { name: 'refunder', limits: { perCallUsd: '50', perDayUsd: '100' } },
]);

const BUSY = { ok: false, error: { statusCode: 409, code: 'object_busy' } };
const OVER_CALL_CAP = { ok: false, error: { statusCode: 403, code: 'per_call_limit_exceeded' } };

// Each test waits for the first call's held read, or for that call to end without making it (as it
// did before the fix, when it read less): the assertions then fail instead of the test hanging.

describe('a call through one id of an object waits for a call priced through the other', () => {
  let redis: RedisServer | undefined;
  let stripe: DelayedLedger | undefined;
  let manifests: Awaited<ReturnType<typeof manifestDir>> | undefined;
  let proxies: KeybrakeProcess[] = [];

  beforeAll(async () => {
    [redis, stripe, manifests] = await Promise.all([
      startRedis(),
      startDelayedLedger({ upstreamKey: UPSTREAM_KEY }),
      manifestDir(files),
    ]);
    proxies = await startReplicas(2, { manifests: manifests.dir, redis: redis.url, upstream: stripe.url });
  });

  afterAll(async () => {
    await Promise.allSettled(proxies.map((p) => p.stop()));
    await Promise.allSettled([stripe?.close(), redis?.stop(), manifests?.remove()]);
  });

  const client = (replica: number, key: keyof typeof keys): Stripe =>
    stripeVia(proxies[replica]!, keys[key].token);

  it('refuses a capture through the charge while a refund priced from its intent is in flight (F1)', async () => {
    stripe!.payment('pi_f1', 'ch_f1', 500_000);
    const held = stripe!.hold('/v1/payment_intents/pi_f1');
    const refund = outcome(client(0, 'small').refunds.create({ payment_intent: 'pi_f1' }));
    await Promise.race([held.arrived, refund]);
    // The refund is priced at the intent's amount_received ($0) and holds the intent.
    expect(await outcome(client(1, 'large').charges.capture('ch_f1'))).toMatchObject(BUSY);
    expect(stripe!.posts('/v1/charges/ch_f1/capture')).toBe(0);
    held.release();
    await refund;
    // Nothing was captured, so the refund moved nothing: no $5 000 refund on the $50 key.
    expect(stripe!.moved.filter((m) => m.what === 'refund' && m.amount > 0)).toEqual([]);
  });

  it('refuses an increment of the intent while a capture through its charge is in flight (F2)', async () => {
    stripe!.payment('pi_f2', 'ch_f2', 4_000);
    // The capture has read the charge ($40) and leased the intent; its read of the intent is held.
    const held = stripe!.hold('/v1/payment_intents/pi_f2');
    const capture = outcome(client(0, 'small').charges.capture('ch_f2'));
    await Promise.race([held.arrived, capture]);
    const increment = () =>
      client(1, 'large').paymentIntents.incrementAuthorization('pi_f2', { amount: 900_000 });
    expect(await outcome(increment())).toMatchObject(BUSY);
    expect(stripe!.posts('/v1/payment_intents/pi_f2/increment_authorization')).toBe(0);
    held.release();
    expect(await capture).toMatchObject({ ok: true, value: { amount_captured: 4_000 } });
    expect(stripe!.moved.filter((m) => m.id === 'ch_f2')).toEqual([
      { what: 'capture', id: 'ch_f2', amount: 4_000 },
    ]);
  });

  it('prices a capture through the charge from an increment made before it leased the intent (F2)', async () => {
    stripe!.payment('pi_f2b', 'ch_f2b', 4_000);
    // Held at its read of the charge, before the intent is leased: the increment goes through...
    const held = stripe!.hold('/v1/charges/ch_f2b');
    const capture = outcome(client(0, 'small').charges.capture('ch_f2b'));
    await Promise.race([held.arrived, capture]);
    expect(
      await outcome(client(1, 'large').paymentIntents.incrementAuthorization('pi_f2b', { amount: 900_000 })),
    ).toMatchObject({ ok: true });
    held.release();
    // ...and the capture, reading the intent under its lease, is priced at $9 000: over the $50 cap.
    expect(await capture).toMatchObject(OVER_CALL_CAP);
    expect(stripe!.posts('/v1/charges/ch_f2b/capture')).toBe(0);
  });

  // Sixth round, at 690175c: a refund naming the charge leased only the charge, priced $40 from it,
  // and while its read was held another key incremented and captured the intent to $9 000: refunded.
  it('refuses an increment and a capture of the intent while a refund through its charge reads it', async () => {
    stripe!.payment('pi_r1', 'ch_r1', 4_000);
    // The refund has read the charge ($40, uncaptured) and leased the intent; its read of it is held.
    const held = stripe!.hold('/v1/payment_intents/pi_r1');
    const refund = outcome(client(0, 'refunder').refunds.create({ charge: 'ch_r1' }));
    await Promise.race([held.arrived, refund]);
    // Before the fix the refund ended without this read, and the increment's read met the hold.
    expect(stripe!.requests.filter((r) => r.path === '/v1/payment_intents/pi_r1')).toHaveLength(1);
    const large = client(1, 'large');
    expect(
      await outcome(large.paymentIntents.incrementAuthorization('pi_r1', { amount: 900_000 })),
    ).toMatchObject(BUSY);
    expect(await outcome(large.paymentIntents.capture('pi_r1'))).toMatchObject(BUSY);
    expect(stripe!.posts('/v1/payment_intents/pi_r1/increment_authorization')).toBe(0);
    expect(stripe!.posts('/v1/payment_intents/pi_r1/capture')).toBe(0);
    held.release();
    // Priced at $40 (nothing captured yet), it refunds nothing: nothing was captured.
    expect(await refund).toMatchObject({ ok: true });
    expect(stripe!.moved.filter((m) => m.id === 'pi_r1')).toEqual([
      { what: 'refund', id: 'pi_r1', amount: 0 },
    ]);
  });

  it.each<[string, string, (stripe: Stripe, charge: string) => Promise<unknown>]>([
    ['POST /v1/refunds with charge', 'r2', (s, charge) => s.refunds.create({ charge })],
    [
      'POST /v1/charges/{charge}/refunds',
      'r3',
      (s, charge) => s.rawRequest('POST', `/v1/charges/${charge}/refunds`, {}),
    ],
    [
      'POST /v1/charges/{charge}/refund',
      'r4',
      (s, charge) => s.rawRequest('POST', `/v1/charges/${charge}/refund`, {}),
    ],
  ])(
    'prices a refund through %s from an increment and a capture of its intent made while it read the charge',
    async (_name, id, refundVia) => {
      const [pi, ch] = [`pi_${id}`, `ch_${id}`];
      stripe!.payment(pi, ch, 4_000);
      // Held at its read of the charge, before it leases the intent: the increment and capture pass...
      const held = stripe!.hold(`/v1/charges/${ch}`);
      const refund = outcome(refundVia(client(0, 'refunder'), ch));
      await Promise.race([held.arrived, refund]);
      const large = client(1, 'large');
      expect(
        await outcome(large.paymentIntents.incrementAuthorization(pi, { amount: 900_000 })),
      ).toMatchObject({ ok: true });
      expect(await outcome(large.paymentIntents.capture(pi))).toMatchObject({ ok: true });
      held.release();
      // ...and the refund, reading the intent under its lease, is priced at $9 000: over the $50 cap,
      // and nothing of it reaches Stripe.
      expect(await refund).toMatchObject(OVER_CALL_CAP);
      expect(stripe!.moved.filter((m) => m.id === pi)).toEqual([
        { what: 'capture', id: pi, amount: 900_000 },
      ]);
    },
  );

  it('refuses an update of an item while a finalize of its invoice is in flight (F3)', async () => {
    stripe!.invoice('in_f3', 'ii_f3', 4_000);
    const held = stripe!.hold('/v1/invoices/in_f3');
    const finalize = outcome(client(0, 'small').invoices.finalizeInvoice('in_f3'));
    await Promise.race([held.arrived, finalize]);
    const raise = () => client(1, 'large').invoiceItems.update('ii_f3', { amount: 900_000 });
    expect(await outcome(raise())).toMatchObject(BUSY);
    expect(stripe!.posts('/v1/invoiceitems/ii_f3')).toBe(0);
    held.release();
    expect(await finalize).toMatchObject({ ok: true, value: { status: 'open' } });
    // Finalised at the $40 it was priced at, not $9 040.
    expect(stripe!.moved.filter((m) => m.id === 'in_f3')).toEqual([
      { what: 'finalize', id: 'in_f3', amount: 4_000 },
    ]);
    // Settled and released: the update goes through now (it can no longer change the finalize).
    expect(await outcome(raise())).toMatchObject({ ok: true });
  });
});
