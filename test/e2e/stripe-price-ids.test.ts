// A Plan made with a custom id (`POST /v1/plans id=gold-monthly`) goes wherever a Price id goes, and
// Stripe has taken `-` in such ids since 2018-05-21. Sixth round: under a glob key with large caps,
// invoice items, invoice lines and Checkout Sessions naming one were refused body_invalid and never
// forwarded, while stripe-mock (Stripe's own mock) answers each of them 200. Here through the real
// `keybrake serve` to stripe-mock, behind a recording relay that shows what reached "Stripe": each
// call is priced from the plan it names (stripe-mock's fixture: $20.00 a unit, so a $19.99 per-call
// limit refuses it after the read alone) and, with room, forwarded; an id that would leave its path
// segment is refused before anything reaches Stripe.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newToken } from '../../src/tokens/token.ts';
import { type KeybrakeProcess, manifestDir, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { type RecordingRelay, startRecordingRelay } from '../env/recording-relay.ts';
import { type StripeMock, startStripeMock } from '../env/stripe-mock.ts';
import { stripeKey, yamlDocuments } from './fixtures/stripe-manifests.ts';

const UPSTREAM_KEY = `sk_test_ids${randomBytes(12).toString('hex')}`;
/** What each case sends: a call priced from the plan `gold-monthly` names. */
const PRICED: readonly (readonly [string, string, string])[] = [
  ['an invoice item', '/v1/invoiceitems', 'customer=cus_1Abc&pricing%5Bprice%5D=gold-monthly'],
  ['an invoice item updated', '/v1/invoiceitems/ii_1Abc', 'pricing%5Bprice%5D=gold-monthly&quantity=2'],
  [
    'lines added to an invoice',
    '/v1/invoices/in_1Abc/add_lines',
    'lines%5B0%5D%5Bpricing%5D%5Bprice%5D=gold-monthly&lines%5B0%5D%5Bquantity%5D=1',
  ],
  [
    // The line stripe-mock's invoice lists (its fixture): since the twelfth round a line whose amount
    // changes is read from the invoice's lines for the credit it may give back, and one not listed
    // there is price_unknown.
    'an invoice line updated',
    '/v1/invoices/in_1Abc/lines/il_tmp_1Pgc6sB7WZ01zgkWrG16hkdl',
    'pricing%5Bprice%5D=gold-monthly&quantity=1',
  ],
  [
    'a Checkout Session for a customer',
    '/v1/checkout/sessions',
    'mode=payment&customer=cus_1Abc&line_items%5B0%5D%5Bprice%5D=gold-monthly&line_items%5B0%5D%5Bquantity%5D=1&success_url=https%3A%2F%2Fexample.com%2Fs',
  ],
];
const ROOMY = newToken('stripe');
// One tight key per case: a key refused after its read is held off the plan it leased for a while
// (ADR 0007 §5, sixth round), so one key's refusal would make the next case's a 429 before any read.
const TIGHT = PRICED.map(() => newToken('stripe'));
const GOLD_READ = '/v1/prices/gold-monthly?expand%5B%5D=currency_options';

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
        name: 'roomy',
        token: ROOMY,
        upstreamKey: UPSTREAM_KEY,
        limits: { perCallUsd: '1000', perDayUsd: '100000' },
        allow: { endpoints: ['GET /v1/**', 'POST /v1/**'] },
      }),
      ...TIGHT.flatMap((token, i) =>
        stripeKey({
          name: `tight-${i}`,
          token,
          upstreamKey: UPSTREAM_KEY,
          limits: { perCallUsd: '19.99' },
          allow: { endpoints: ['GET /v1/**', 'POST /v1/**'] },
        }),
      ),
    ),
  });
  kb = await startKeybrake(serveArgs(dir.dir, { stripe: atStripe.url }));
});

afterAll(async () => {
  await kb?.stop();
  await dir?.remove();
  await atStripe?.close();
  await mock?.stop();
});

/** POSTs a form through Keybrake; returns the answer and what reached Stripe because of it. */
async function post(path: string, form: string, token = ROOMY) {
  const from = atStripe.requests.length;
  const traceId = randomBytes(16).toString('hex');
  const res = await fetch(`${kb.urls.stripe}${path}`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/x-www-form-urlencoded',
      traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`,
    },
    body: form,
  });
  const body = (await res.json()) as { error?: { code?: string } };
  const audit = await kb.waitForAudit((r) => r.traceId === traceId);
  const reached = atStripe.requests.slice(from).map((r) => ({ call: `${r.method} ${r.path}`, body: r.body }));
  return { status: res.status, code: body.error?.code, reason: audit.reason, reached };
}

describe("a Plan's custom id through keybrake serve", () => {
  it.each(PRICED.map(([name, path, form], i) => [name, path, form, TIGHT[i]!] as const))(
    'prices %s from the plan it names, then forwards it',
    async (_name, path, form, tight) => {
      const refused = await post(path, form, tight);
      expect(refused).toMatchObject({ status: 403, code: 'per_call_limit_exceeded' });
      expect(refused.reached.map((r) => r.call)).toContain(`GET ${GOLD_READ}`);
      expect(refused.reached.filter((r) => r.call.startsWith('POST'))).toEqual([]);

      const allowed = await post(path, form);
      expect(allowed).toMatchObject({ status: 200, reason: 'ok' });
      expect(allowed.reached.map((r) => r.call)).toContain(`GET ${GOLD_READ}`);
      expect(allowed.reached.at(-1)).toEqual({ call: `POST ${path}`, body: form });
    },
  );

  it.each([
    ['a path', 'gold%2F..%2F..%2Fv1%2Fcustomers%2Fcus_1Abc'],
    ['a dot segment', '..'],
    ['a query', 'gold%3Fexpand%5B%5D%3Dx'],
    ['a fragment', 'gold%23x'],
    ['an encoded slash', 'gold%252F..'],
  ])('refuses an id holding %s before anything reaches Stripe', async (_name, id) => {
    const got = await post('/v1/invoiceitems', `customer=cus_1Abc&pricing%5Bprice%5D=${id}`);
    expect(got).toMatchObject({ status: 400, code: 'body_invalid', reached: [] });
  });
});
