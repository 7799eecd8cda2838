// A vendor answer cut off after its head, against the real `keybrake serve` (tenth round, LOW): the
// vendor answers a $50 charge `200` with its request id, sends half the body and drops the
// connection. The record had `upstreamStatus: null, upstreamRequestId: null` (the only way to
// reconcile the kept $50 with Stripe lost) and the agent was told the API "could not be reached".
// Now the record names the vendor's status and request id, the cost stays counted, and the message
// says the call may have taken effect; a request id in an answer that carried the upstream key in
// what arrived of it is still never recorded, and nothing of the half body reaches the agent.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newToken } from '../../src/tokens/token.ts';
import { type KeybrakeProcess, manifestDir, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { stripeKey, yamlDocuments } from './fixtures/stripe-manifests.ts';

const UPSTREAM_KEY = `sk_test_cut${randomBytes(12).toString('hex')}`;
const TOKEN = newToken('stripe');
const WAIT_MS = 30_000;

/** Every request the vendor stand-in received: `METHOD path`. */
const received: string[] = [];
let vendor: Server;
let dir: Awaited<ReturnType<typeof manifestDir>>;
let kb: KeybrakeProcess;

beforeAll(async () => {
  // A Stripe stand-in that answers the head, half a body, and drops the connection.
  vendor = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      received.push(`${req.method} ${req.url}`);
      const leaks = body.includes('description=leak');
      res.writeHead(200, {
        'content-type': 'application/json',
        'request-id': leaks ? 'req_half_leak' : 'req_half_1',
      });
      // What arrives before the drop: half a charge, or half of one that echoes the key it was sent.
      // Dropped once those bytes are with the kernel.
      res.write(leaks ? `{"id":"ch_1","debug":"${UPSTREAM_KEY}","obj` : '{"id":"ch_1","obj', () =>
        res.socket?.destroy(),
      );
    });
  });
  vendor.listen(0, '127.0.0.1');
  await once(vendor, 'listening');
  const { port } = vendor.address() as AddressInfo;
  dir = await manifestDir({
    'keys.yaml': yamlDocuments(...stripeKey({ name: 'cut', token: TOKEN, upstreamKey: UPSTREAM_KEY })),
  });
  kb = await startKeybrake(serveArgs(dir.dir, { stripe: `http://127.0.0.1:${port}` }), {
    timeoutMs: WAIT_MS,
  });
});

afterAll(async () => {
  await kb?.stop();
  vendor?.closeAllConnections();
  vendor?.close();
  await dir?.remove();
});

async function charge(extra = ''): Promise<{ status: number; decision: string | null; body: string }> {
  const res = await fetch(`${kb.urls.stripe}/v1/charges`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: `amount=5000&currency=usd&source=tok_visa${extra}`,
  });
  return { status: res.status, decision: res.headers.get('keybrake-decision'), body: await res.text() };
}

describe('a vendor answer cut off after its head', () => {
  it("records the vendor's status and request id, keeps the cost, and says the call may have taken effect", async () => {
    const res = await charge();
    expect(res.status).toBe(502);
    expect(res.decision).toBe('deny; reason=upstream_unavailable');
    const message = JSON.parse(res.body).error.message as string;
    expect(message).toMatch(/answered HTTP 200, then its connection dropped/);
    expect(message).toMatch(/may have taken effect/);
    expect(message).not.toMatch(/could not be reached/);
    expect(res.body).not.toContain('"obj');
    expect(received).toContain('POST /v1/charges');
    expect(
      await kb.waitForAudit((r) => r.path === '/v1/charges' && r.reason === 'upstream_unavailable', WAIT_MS),
    ).toMatchObject({
      operation: 'stripe.charges.create',
      decision: 'deny',
      costUsd: '50.00',
      upstreamStatus: 200,
      upstreamRequestId: 'req_half_1',
    });
  });

  it('records the status but no request id when what arrived of the answer carries the upstream key', async () => {
    const before = kb.audit.length;
    const res = await charge('&description=leak');
    expect(res.status).toBe(502);
    expect(res.body).not.toContain(UPSTREAM_KEY);
    const record = await kb.waitForAudit(
      (r) => kb.audit.indexOf(r) >= before && r.path === '/v1/charges',
      WAIT_MS,
    );
    expect(record).toMatchObject({ upstreamStatus: 200, upstreamRequestId: null, costUsd: '50.00' });
    expect(kb.output()).not.toContain(UPSTREAM_KEY);
    expect(kb.output()).not.toContain(TOKEN);
  });
});
