// The quick start's manifests, unchanged, against stripe-mock (Stripe's own mock) with stripe-node. A
// new-user walkthrough (sixth round) pointed `KEYBRAKE_UPSTREAM=stripe=` at stripe-mock and got 502
// credential_in_response on every call: stripe-mock refused the quick start's fake upstream key (it
// takes `sk_test_<one part without "_">`) and echoed the Authorization header back, which Keybrake
// rightly withheld. The fake key is now one stripe-mock accepts.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KeybrakeProcess, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { type StripeMock, startStripeMock } from '../env/stripe-mock.ts';

const QUICKSTART = path.resolve(import.meta.dirname, '../../examples/quickstart');

let mock: StripeMock;
let kb: KeybrakeProcess;
let token: string;

beforeAll(async () => {
  const secrets = await readFile(path.join(QUICKSTART, 'secrets.yaml'), 'utf8');
  token = /^\s*token: (kb_stripe_\S+)$/m.exec(secrets)![1]!;
  mock = await startStripeMock();
  kb = await startKeybrake(serveArgs(QUICKSTART, { stripe: mock.url }));
});

afterAll(async () => {
  await kb?.stop();
  await mock?.stop();
});

describe('the quick start against stripe-mock', () => {
  it('forwards a stripe-node call with the quick start token, and stripe-mock answers it', async () => {
    const stripe = new Stripe(token, {
      host: '127.0.0.1',
      port: Number(new URL(kb.urls['stripe']!).port),
      protocol: 'http',
      maxNetworkRetries: 0,
    });

    const customer = await stripe.customers.create({ email: 'ann@example.com' });

    expect(customer.object).toBe('customer');
    const audit = await kb.waitForAudit((r) => r['operation'] === 'stripe.customers.create');
    expect(audit).toMatchObject({ decision: 'allow', reason: 'ok', upstreamStatus: 200 });
  });
});
