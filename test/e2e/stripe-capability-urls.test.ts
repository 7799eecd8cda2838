// Tenth round: urls that act outside Keybrake reached a read-only agent (`GET /v1/**`). A file link's
// `url` is a public download of the merchant's file (creating one is `sensitive`, reading one was not),
// through the link itself, the list, a file expanding its links and a Sigma run, whose file includes
// them. A Checkout Session that names a customer pays with the customer's saved card whoever opens its
// `url`: priced when created through Keybrake, but one the merchant's storefront created with the real
// key was a plain read (and a free update) away. Here through the real `keybrake serve` to stripe-mock
// (Stripe's own mock, answering from Stripe's definition) behind a recording relay: each call reaches
// Stripe, whose answer (asked directly, with the same key) carries the url; the agent's holds
// `withheld_by_keybrake` in its place, and the rest as Stripe sent it.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newToken } from '../../src/tokens/token.ts';
import { WITHHELD } from '../../src/vendors/types.ts';
import { type KeybrakeProcess, manifestDir, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { type RecordingRelay, startRecordingRelay } from '../env/recording-relay.ts';
import { type StripeMock, startStripeMock } from '../env/stripe-mock.ts';
import { stripeKey, yamlDocuments } from './fixtures/stripe-manifests.ts';

const UPSTREAM_KEY = `sk_test_cap${randomBytes(12).toString('hex')}`;
const READER = newToken('stripe');
const WRITER = newToken('stripe');

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
        name: 'reader',
        token: READER,
        upstreamKey: UPSTREAM_KEY,
        limits: { perDayUsd: '10' },
        allow: { endpoints: ['GET /v1/**'] },
      }),
      ...stripeKey({
        name: 'writer',
        token: WRITER,
        upstreamKey: UPSTREAM_KEY,
        limits: { perCallUsd: '100', perDayUsd: '1000' },
        allow: { endpoints: ['GET /v1/**', 'POST /v1/checkout/**'] },
      }),
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

type Json = Record<string, unknown>;

/** One call through Keybrake: its status, decision, JSON answer, and whether it reached Stripe. */
async function call(method: 'GET' | 'POST', path: string, token: string, form?: string) {
  const from = atStripe.requests.length;
  const res = await fetch(`${kb.urls.stripe}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(form === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }),
    },
    ...(form === undefined ? {} : { body: form }),
  });
  const text = await res.text();
  const reached = atStripe.requests.slice(from).map((r) => `${r.method} ${r.path}`);
  return {
    status: res.status,
    decision: res.headers.get('keybrake-decision'),
    text,
    body: JSON.parse(text) as Json,
    reached,
  };
}

/** Stripe's own answer to the same call, asked directly with the upstream key. */
async function direct(method: 'GET' | 'POST', path: string, form?: string): Promise<Json> {
  const res = await fetch(`${mock.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${UPSTREAM_KEY}`,
      ...(form === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }),
    },
    ...(form === undefined ? {} : { body: form }),
  });
  return (await res.json()) as Json;
}

/** The value at a dotted path (`data.0.url`). */
function at(value: unknown, path: string): unknown {
  let node = value;
  for (const part of path.split('.')) node = (node as Record<string, unknown> | undefined)?.[part];
  return node;
}

describe('capability urls in Stripe answers, read-only key (GET /v1/**)', () => {
  it.each([
    ['the file link list', '/v1/file_links', ['data.0.url']],
    ['a file link', '/v1/file_links/link_1', ['url']],
    ['a file expanding its links', '/v1/files/file_1?expand[]=links', ['links.data.0.url']],
    ['a file list expanding links', '/v1/files?expand[]=data.links', ['data.0.links.data.0.url']],
    [
      'a Sigma run (its file includes its links)',
      '/v1/sigma/scheduled_query_runs/sqr_1',
      ['file.links.data.0.url'],
    ],
    [
      'a Checkout Session naming its customer (expanded)',
      '/v1/checkout/sessions/cs_1?expand[]=customer',
      ['url'],
    ],
    [
      "a customer's open Checkout Sessions",
      '/v1/checkout/sessions?customer=cus_1&status=open&expand[]=data.customer',
      ['data.0.url'],
    ],
  ])('withholds the url of %s, the rest as Stripe sent it', async (_name, path, urls) => {
    const stripe = await direct('GET', path);
    const got = await call('GET', path, READER);
    expect(got.status).toBe(200);
    expect(got.decision).toContain('allow');
    expect(got.reached).toEqual([`GET ${path}`]);
    const expected = structuredClone(stripe);
    for (const url of urls) {
      const sent = at(stripe, url);
      expect(typeof sent === 'string' && sent.startsWith('https://')).toBe(true);
      expect(got.text).not.toContain(sent as string);
      const parent = url.split('.').slice(0, -1).join('.');
      (parent === '' ? expected : (at(expected, parent) as Json)).url = WITHHELD;
    }
    expect(got.body).toEqual(expected);
  });

  it("passes a Checkout Session without a customer on as Stripe sent it (the payer's own card)", async () => {
    const path = '/v1/checkout/sessions/cs_1';
    const stripe = await direct('GET', path);
    expect(stripe['customer']).toBeNull();
    const got = await call('GET', path, READER);
    expect(got.body).toEqual(stripe);
  });
});

describe('Checkout Session urls and the calls that make or change one', () => {
  it("withholds the url from a free update's answer naming a customer: it was never priced", async () => {
    const path = '/v1/checkout/sessions/cs_1';
    const form = 'metadata%5Bnote%5D=x&expand%5B%5D=customer';
    const stripe = await direct('POST', path, form);
    const got = await call('POST', path, WRITER, form);
    expect(got.status).toBe(200);
    // Read first for its customer (tenth round: a session's free update is governed by allow.customers).
    expect(got.reached).toEqual([`GET ${path}`, `POST ${path}`]);
    expect(typeof stripe['url']).toBe('string');
    expect(got.body).toEqual({ ...stripe, url: WITHHELD });
  });

  it('keeps the url in the answer to its own create, priced by what it charges', async () => {
    const form =
      'mode=payment&customer=cus_1&success_url=https%3A%2F%2Fexample.com%2Fs&line_items%5B0%5D%5Bprice_data%5D%5Bcurrency%5D=usd&line_items%5B0%5D%5Bprice_data%5D%5Bunit_amount%5D=2500&line_items%5B0%5D%5Bprice_data%5D%5Bproduct_data%5D%5Bname%5D=x&line_items%5B0%5D%5Bquantity%5D=1';
    const got = await call('POST', '/v1/checkout/sessions', WRITER, form);
    expect(got.status).toBe(200);
    expect(got.reached).toEqual(['POST /v1/checkout/sessions']);
    expect(String(got.body['url'])).toMatch(/^https:\/\/checkout\.stripe\.com\//);
  });
});
