// Twelfth round (reveals probe, LOW): Stripe's definition gives `GET /v1/quotes/{quote}/pdf` a server
// of its own, files.stripe.com, as it does the upload `POST /v1/files`; Keybrake sent only the upload
// there, so stripe-node's `quotes.pdf()` through Keybrake got Stripe's 404 from api.stripe.com. Here
// through the real `keybrake serve`, with the upstream a template (`{sub}`: `api` or `files`) in front
// of a recording server: what each call reached is read at the upstream.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newToken } from '../../src/tokens/token.ts';
import { type KeybrakeProcess, manifestDir, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { stripeKey, yamlDocuments } from './fixtures/stripe-manifests.ts';

const UPSTREAM_KEY = `sk_test_files${randomBytes(12).toString('hex')}`;
const TOKEN = newToken('stripe');

let upstream: Server;
const reached: string[] = [];
let kb: KeybrakeProcess;
let dir: Awaited<ReturnType<typeof manifestDir>>;

beforeAll(async () => {
  upstream = createServer((req, res) => {
    reached.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'request-id': 'req_files' });
      res.end('{"id":"qt_1","object":"quote"}');
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const { port } = upstream.address() as AddressInfo;
  dir = await manifestDir({
    'keys.yaml': yamlDocuments(
      ...stripeKey({
        name: 'reader',
        token: TOKEN,
        upstreamKey: UPSTREAM_KEY,
        limits: { perDayUsd: '10' },
        allow: { endpoints: ['GET /v1/**'] },
      }),
    ),
  });
  kb = await startKeybrake(serveArgs(dir.dir, { stripe: `http://127.0.0.1:${port}/{sub}` }));
});

afterAll(async () => {
  await kb?.stop();
  await dir?.remove();
  upstream?.closeAllConnections();
  await new Promise<void>((resolve) => (upstream ? upstream.close(() => resolve()) : resolve()));
});

async function get(path: string): Promise<number> {
  const res = await fetch(`${kb.urls.stripe}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  await res.arrayBuffer();
  return res.status;
}

describe('the Stripe host that serves a call', () => {
  it("sends a quote's PDF to the files host and the quote itself to the API host", async () => {
    const from = reached.length;
    expect(await get('/v1/quotes/qt_1/pdf')).toBe(200);
    expect(await get('/v1/quotes/qt_1')).toBe(200);
    expect(reached.slice(from)).toEqual(['GET /files/v1/quotes/qt_1/pdf', 'GET /api/v1/quotes/qt_1']);
  });
});
