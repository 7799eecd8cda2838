// Twelfth round (probe "money"): what a call moves besides what it names, against stripe-mock (Stripe's
// own mock, answering from Stripe's definition) behind a recording relay that shows what reached
// "Stripe". (1) A shipping rate named by id on an invoice is read with `fixed_amount.currency_options`
// expanded (includable: stripe-mock answers it only then, `{}` for its rate), and priced from that
// answer. (2) A refund's `reverse_transfer` / `refund_application_fee` count the transfer and fee they
// return, from the charge stripe-mock answers (its ch_1: $1.00, no fee, the whole charge transferred);
// a transfer reversal's `refund_application_fee` on a transfer that names no funding charge
// (stripe-mock's tr_1) is refused before anything but the read reaches Stripe.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newToken } from '../../src/tokens/token.ts';
import { type KeybrakeProcess, manifestDir, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { type RecordingRelay, startRecordingRelay } from '../env/recording-relay.ts';
import { type StripeMock, startStripeMock } from '../env/stripe-mock.ts';
import { stripeKey, yamlDocuments } from './fixtures/stripe-manifests.ts';

const UPSTREAM_KEY = `sk_test_side${randomBytes(12).toString('hex')}`;
const TOKEN = newToken('stripe');
const RATE_READ = '/v1/shipping_rates/shr_1?expand%5B%5D=fixed_amount.currency_options';

let mock: StripeMock;
let atStripe: RecordingRelay;
let kb: KeybrakeProcess;
let dir: Awaited<ReturnType<typeof manifestDir>>;

beforeAll(async () => {
  mock = await startStripeMock();
  atStripe = await startRecordingRelay(mock.url);
  dir = await manifestDir({
    'keys.yaml': yamlDocuments(
      ...stripeKey({
        name: 'support',
        token: TOKEN,
        upstreamKey: UPSTREAM_KEY,
        limits: { perCallUsd: '100', perDayUsd: '100000' },
        allow: { endpoints: ['POST /v1/**'] },
      }),
    ),
  });
  // Independent calls on stripe-mock's shared fixtures: no lease backoff between them.
  kb = await startKeybrake([...serveArgs(dir.dir, { stripe: atStripe.url }), '--lease-backoff', '0']);
});

afterAll(async () => {
  await kb?.stop();
  await dir?.remove();
  await atStripe?.close();
  await mock?.stop();
});

/** POSTs a form through Keybrake; returns the answer, its audit record and what reached Stripe. */
async function post(path: string, form: string) {
  const from = atStripe.requests.length;
  const traceId = randomBytes(16).toString('hex');
  const res = await fetch(`${kb.urls.stripe}${path}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${TOKEN}`,
      'content-type': 'application/x-www-form-urlencoded',
      traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`,
    },
    body: form,
  });
  const body = (await res.json()) as { error?: { code?: string } };
  const audit = await kb.waitForAudit((r) => r.traceId === traceId);
  // Keybrake's own read of the key's account, once per key (its leases' account, ADR 0007 §5) left out.
  const reached = atStripe.requests
    .slice(from)
    .filter((r) => !(r.method === 'GET' && r.path === '/v1/account'))
    .map((r) => ({ call: `${r.method} ${r.path}`, status: r.status }));
  return { status: res.status, code: body.error?.code, reason: audit.reason, cost: audit.costUsd, reached };
}

describe('money a call moves besides what it names, priced from what stripe-mock answers', () => {
  it("reads an invoice's shipping rate with its currency options expanded, and prices it from that", async () => {
    const got = await post(
      '/v1/invoices',
      // Untaxed by its own word: since the thirteenth round a new invoice naming no tax is refused
      // with a shipping cost (the account may tax invoices by default; money.test.ts).
      'customer=cus_1&pending_invoice_items_behavior=exclude&auto_advance=true&automatic_tax%5Benabled%5D=false&shipping_cost%5Bshipping_rate%5D=shr_1',
    );
    expect(got).toMatchObject({ status: 200, reason: 'ok', cost: '5.00' });
    expect(got.reached).toEqual([
      { call: `GET ${RATE_READ}`, status: 200 },
      { call: 'POST /v1/invoices', status: 200 },
    ]);
  });

  it.each([
    ['no flag: the refund', '', '1.00'],
    ['refund_application_fee (ch_1 has no fee): the refund', '&refund_application_fee=true', '1.00'],
    ['reverse_transfer (the whole charge was transferred): twice', '&reverse_transfer=true', '2.00'],
  ])('counts a refund with %s', async (_name, flags, cost) => {
    const got = await post('/v1/refunds', `charge=ch_1&amount=100${flags}`);
    expect(got).toMatchObject({ status: 200, reason: 'ok', cost });
    expect(got.reached.at(-1)).toEqual({ call: 'POST /v1/refunds', status: 200 });
  });

  it('refuses a transfer reversal refunding the fee of a transfer that names no funding charge', async () => {
    const got = await post('/v1/transfers/tr_1/reversals', 'amount=100&refund_application_fee=true');
    expect(got).toMatchObject({ status: 403, code: 'price_unknown' });
    expect(got.reached).toEqual([{ call: 'GET /v1/transfers/tr_1', status: 200 }]);
    const plain = await post('/v1/transfers/tr_1/reversals', 'amount=100');
    expect(plain).toMatchObject({ status: 200, reason: 'ok', cost: '1.00' });
  });
});
