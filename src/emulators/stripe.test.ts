import Stripe from 'stripe';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type StripeEmulator, startStripeEmulator } from './stripe.ts';

// The real SDK against the emulator: if stripe-node accepts its answers, so will the e2e suites.
let emu: StripeEmulator;
let stripe: Stripe;

beforeAll(async () => {
  emu = await startStripeEmulator({ validKeys: ['sk_test_good'] });
  stripe = new Stripe('sk_test_good', {
    host: '127.0.0.1',
    port: emu.port,
    protocol: 'http',
    maxNetworkRetries: 0,
  });
});
afterAll(() => emu.close());
beforeEach(() => emu.reset());

describe('the Stripe emulator', () => {
  it('refuses an unknown key with the 401 stripe-node maps to an authentication error', async () => {
    const bad = new Stripe('sk_test_bad', {
      host: '127.0.0.1',
      port: emu.port,
      protocol: 'http',
      maxNetworkRetries: 0,
    });
    await expect(bad.customers.list()).rejects.toMatchObject({
      type: 'StripeAuthenticationError',
      statusCode: 401,
    });
  });

  it('records exactly what reached it', async () => {
    await stripe.customers.create({ email: 'a@example.com', metadata: { tier: 'gold' } });
    expect(emu.requests).toHaveLength(1);
    const r = emu.requests[0]!;
    expect(r).toMatchObject({ method: 'POST', path: '/v1/customers' });
    expect(r.headers.authorization).toBe('Bearer sk_test_good');
    expect(r.body).toBe('email=a%40example.com&metadata[tier]=gold');
  });

  it('decodes bracket parameters into the objects it stores', async () => {
    const customer = await stripe.customers.create({ email: 'c@example.com', metadata: { tier: 'gold' } });
    expect(customer.metadata).toEqual({ tier: 'gold' });
  });

  it.each([
    ['Bearer sk_test_good', 200],
    [`Basic ${Buffer.from('sk_test_good:').toString('base64')}`, 200],
    [`Basic ${Buffer.from('sk_test_bad:').toString('base64')}`, 401],
    ['Bearer', 401],
  ])('reads the key from %s', async (authorization, status) => {
    const res = await fetch(`${emu.url}/v1/customers`, { headers: { authorization } });
    expect(res.status).toBe(status);
  });

  it('answers a body nested beyond its limit with a 400 invalid request', async () => {
    const res = await fetch(`${emu.url}/v1/customers`, {
      method: 'POST',
      headers: { authorization: 'Bearer sk_test_good', 'content-type': 'application/x-www-form-urlencoded' },
      body: `metadata${'[a]'.repeat(12)}=x`,
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      error: { type: 'invalid_request_error', code: 'parameter_invalid' },
    });
  });

  it('creates, confirms and reads back a payment intent', async () => {
    const customer = await stripe.customers.create({ email: 'b@example.com' });
    const pi = await stripe.paymentIntents.create({ amount: 2000, currency: 'usd', customer: customer.id });
    expect(pi).toMatchObject({ status: 'requires_payment_method', amount: 2000, customer: customer.id });
    const confirmed = await stripe.paymentIntents.confirm(pi.id, { payment_method: 'pm_card_visa' });
    expect(confirmed).toMatchObject({ status: 'succeeded', amount_received: 2000 });
    expect(confirmed.lastResponse.headers['request-id']).toMatch(/^req_/);
    expect(await stripe.paymentIntents.retrieve(pi.id)).toMatchObject({ status: 'succeeded' });
  });

  it('captures a manual intent partially and refunds what was captured', async () => {
    const pi = await stripe.paymentIntents.create({
      amount: 5000,
      currency: 'eur',
      capture_method: 'manual',
      payment_method: 'pm_card_visa',
      confirm: true,
    });
    expect(pi).toMatchObject({ status: 'requires_capture', amount_capturable: 5000 });
    const captured = await stripe.paymentIntents.capture(pi.id, { amount_to_capture: 3000 });
    expect(captured).toMatchObject({ status: 'succeeded', amount_received: 3000 });
    const refund = await stripe.refunds.create({ payment_intent: pi.id });
    expect(refund).toMatchObject({ amount: 3000, currency: 'eur', status: 'succeeded' });
    const charge = await stripe.charges.retrieve(refund.charge as string);
    expect(charge).toMatchObject({ amount_refunded: 3000, refunded: true });
  });

  it('declines pm_card_chargeDeclined with a 402 card error', async () => {
    await expect(
      stripe.paymentIntents.create({
        amount: 100,
        currency: 'usd',
        payment_method: 'pm_card_chargeDeclined',
        confirm: true,
      }),
    ).rejects.toMatchObject({ type: 'StripeCardError', statusCode: 402, code: 'card_declined' });
  });

  it('replays a POST with the same Idempotency-Key instead of repeating it', async () => {
    const a = await stripe.charges.create(
      { amount: 700, currency: 'usd', source: 'tok_visa' },
      { idempotencyKey: 'k1' },
    );
    const b = await stripe.charges.create(
      { amount: 700, currency: 'usd', source: 'tok_visa' },
      { idempotencyKey: 'k1' },
    );
    expect(b.id).toBe(a.id);
    expect(b.lastResponse.headers['idempotent-replayed']).toBe('true');
  });

  it('answers transfers, payouts, payment links and seeded invoices', async () => {
    expect(
      await stripe.transfers.create({ amount: 100, currency: 'usd', destination: 'acct_1' }),
    ).toMatchObject({ object: 'transfer' });
    expect(await stripe.payouts.create({ amount: 100, currency: 'usd' })).toMatchObject({
      status: 'pending',
    });
    const link = await stripe.paymentLinks.create({ line_items: [{ price: 'price_1', quantity: 1 }] });
    expect(link.id).toMatch(/^plink_/);
    emu.seed({
      id: 'in_1',
      object: 'invoice',
      amount_remaining: 900,
      amount_paid: 0,
      currency: 'usd',
      status: 'open',
    });
    expect(await stripe.invoices.pay('in_1')).toMatchObject({
      status: 'paid',
      amount_paid: 900,
      amount_remaining: 0,
    });
  });

  it('answers an unknown object with a 404 resource_missing', async () => {
    await expect(stripe.charges.retrieve('ch_nope')).rejects.toMatchObject({
      statusCode: 404,
      code: 'resource_missing',
    });
  });
});
