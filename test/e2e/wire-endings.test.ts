// How a call ends on the wire, against the real `keybrake serve` and a recording Stripe stand-in
// (twelfth round, wire probe, 2 LOW).
// (1) A client that half-closes once its request is whole (shutdown(SHUT_WR): HTTP allows it, the
// client is still reading) got no answer: node ended the connection as it read the FIN, yet the
// call went on to the vendor and was counted. Now the answer is always written, then the connection
// ends; and since a FIN cannot be told from a close, a call not yet sent when it is read is dropped
// unsent (ADR 0007 §8's rule), answered `request_invalid`; one already sent gets the vendor's answer.
// (2) A call the vendor received whole, whose connection then dropped before any answer (or that
// the vendor answered with a `100 Continue` nobody asked for), keeps its cost but was answered "The
// stripe API could not be reached.", the words of a call never sent: an agent retries it. The
// message now says the call was sent and may have taken effect.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newToken } from '../../src/tokens/token.ts';
import { type KeybrakeProcess, manifestDir, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { openConnection, type RawConnection } from './fixtures/raw-connection.ts';
import { stripeKey, yamlDocuments } from './fixtures/stripe-manifests.ts';

const UPSTREAM_KEY = `sk_test_wire${randomBytes(12).toString('hex')}`;
const TOKEN = newToken('stripe');
const WAIT_MS = 30_000;

/** Every request the vendor stand-in received whole: `METHOD path description`. */
const received: string[] = [];
/** What one vault key may hold of a proxy's 128 connections to a vendor host (a quarter). */
const KEY_SHARE = 32;
/** Held answers, released by the test; and who waits for a held request to arrive. */
const held: (() => void)[] = [];
let onHeld: (() => void) | undefined;
let vendor: Server;
let dir: Awaited<ReturnType<typeof manifestDir>>;
let kb: KeybrakeProcess;

beforeAll(async () => {
  // A Stripe stand-in that reads each call whole, then answers it as its description says: `drop`
  // resets the connection without a byte of answer, `continue` sends an unsolicited 100 Continue
  // (undici refuses it and drops the connection), anything else a charge.
  vendor = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      const description = new URLSearchParams(body).get('description') ?? '';
      received.push(`${req.method} ${req.url} ${description}`);
      if (description === 'drop') return void res.socket?.resetAndDestroy();
      if (description === 'held' || req.url?.startsWith('/v1/customers/cus_busy')) {
        held.push(() => answer(res));
        return onHeld?.();
      }
      if (description === 'continue') return res.writeContinue();
      answer(res);
    });
  });
  vendor.listen(0, '127.0.0.1');
  await once(vendor, 'listening');
  const { port } = vendor.address() as AddressInfo;
  dir = await manifestDir({
    'keys.yaml': yamlDocuments(...stripeKey({ name: 'wire', token: TOKEN, upstreamKey: UPSTREAM_KEY })),
  });
  kb = await startKeybrake(serveArgs(dir.dir, { stripe: `http://127.0.0.1:${port}` }), {
    timeoutMs: WAIT_MS,
  });
});

afterAll(async () => {
  release();
  await kb?.stop();
  vendor?.closeAllConnections();
  vendor?.close();
  await dir?.remove();
});

function answer(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/json', 'request-id': 'req_wire_1' });
  res.end('{"id":"ch_1","object":"charge","amount":50,"currency":"usd"}');
}

/** Answers every held request. */
function release(): void {
  for (const go of held.splice(0)) go();
}

/** Resolves once `count` more requests are held at the vendor. */
function heldCount(count: number): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (held.length < count) return;
      onHeld = undefined;
      resolve();
    };
    onHeld = check;
    check();
  });
}

/** A charge written on a raw connection, then the client's sending side shut down (its FIN). */
async function halfClosedCharge(description: string): Promise<RawConnection> {
  const body = chargeBody(description);
  const conn = await openConnection(kb.urls.stripe!);
  conn.socket.write(
    `POST /v1/charges HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\n` +
      `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  );
  return conn;
}

/**
 * One call answered by the proxy on another connection: the proxy has read what was sent to it
 * before (a FIN on another connection) by the time the answer arrives here.
 */
async function roundTrip(): Promise<void> {
  const res = await fetch(`${kb.urls.stripe}/v1/charges`, { method: 'POST' });
  expect(res.status).toBe(401);
  await res.text();
}

const chargeBody = (description: string) =>
  `amount=50&currency=usd&source=tok_visa&description=${description}`;

async function charge(
  description: string,
): Promise<{ status: number; decision: string | null; body: string }> {
  const res = await fetch(`${kb.urls.stripe}/v1/charges`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/x-www-form-urlencoded' },
    body: chargeBody(description),
  });
  return { status: res.status, decision: res.headers.get('keybrake-decision'), body: await res.text() };
}

describe('a client that half-closes once its request is whole', () => {
  it("gets the vendor's answer to a call already sent, and the connection ends after it", async () => {
    const arrived = heldCount(1);
    const conn = await halfClosedCharge('held');
    await arrived;
    // shutdown(SHUT_WR) once the call is at the vendor: nothing more will be sent, the answer is read.
    conn.socket.end();
    await roundTrip();
    release();
    const res = await conn.response();
    expect(res?.status).toBe(200);
    expect(res?.headers['keybrake-decision']).toBe('allow; reason=ok');
    expect(JSON.parse(res?.body ?? '{}')).toMatchObject({ id: 'ch_1' });
    await conn.closed;
    expect(received.filter((r) => r.endsWith(' held'))).toEqual(['POST /v1/charges held']);
    expect(
      await kb.waitForAudit((r) => r.path === '/v1/charges' && r.upstreamRequestId === 'req_wire_1', WAIT_MS),
    ).toMatchObject({ decision: 'allow', reason: 'ok', costUsd: '0.50', upstreamStatus: 200 });
  });

  it('is answered request_invalid for a call still waiting for a connection, which is never sent', async () => {
    // The key's share of connections is held by its own slow reads: the charge waits for one.
    const busy = heldCount(KEY_SHARE);
    const reads = Array.from({ length: KEY_SHARE }, (_, i) =>
      fetch(`${kb.urls.stripe}/v1/customers/cus_busy${i}`, { headers: { Authorization: `Bearer ${TOKEN}` } }),
    );
    await busy;
    const before = kb.audit.length;
    const conn = await halfClosedCharge('waiting');
    conn.socket.end();
    const res = await conn.response();
    expect(res?.status).toBe(400);
    expect(res?.headers['keybrake-decision']).toBe('deny; reason=request_invalid');
    expect(JSON.parse(res?.body ?? '{}').error.message).toMatch(/before the call could be sent/);
    await conn.closed;
    const record = await kb.waitForAudit(
      (r) => kb.audit.indexOf(r) >= before && r.path === '/v1/charges',
      WAIT_MS,
    );
    expect(record).toMatchObject({ decision: 'deny', reason: 'request_invalid', costUsd: '0.00' });
    release();
    await Promise.all(reads.map(async (r) => (await r).text()));
    // Nothing of it at the vendor, even once the connections came free.
    await roundTrip();
    expect(received.filter((r) => r.endsWith(' waiting'))).toEqual([]);
  });

  it('sent with its FIN at once, is always answered, and forwarded exactly when its record says so', async () => {
    const before = kb.audit.length;
    const answers: number[] = [];
    for (let i = 0; i < 5; i++) {
      const conn = await halfClosedCharge(`fin${i}`);
      conn.socket.end();
      const res = await conn.response();
      answers.push(res?.status ?? 0);
      await conn.closed;
    }
    // Either outcome, as the FIN was read before or after the call was sent; never none.
    for (const status of answers) expect([200, 400]).toContain(status);
    const records = () =>
      kb.audit
        .slice(before)
        .filter((r) => r.path === '/v1/charges' && (r.reason === 'ok' || r.reason === 'request_invalid'));
    await kb.waitForAudit(() => records().length === 5, WAIT_MS);
    const sent = received.filter((r) => / fin\d$/.test(r)).length;
    expect(records().filter((r) => r.reason === 'ok')).toHaveLength(sent);
    expect(answers.filter((s) => s === 200)).toHaveLength(sent);
  });
});

describe('a call the vendor received whole, whose connection dropped before any answer', () => {
  it.each([
    ['a reset', 'drop'],
    ['an unsolicited 100 Continue', 'continue'],
  ])(
    'after %s, keeps its cost and says the call was sent and may have taken effect',
    async (_what, description) => {
      const before = kb.audit.length;
      const res = await charge(description);
      expect(received).toContain(`POST /v1/charges ${description}`);
      expect(res.status).toBe(502);
      expect(res.decision).toBe('deny; reason=upstream_unavailable');
      const error = JSON.parse(res.body).error as Record<string, string>;
      expect(error).toMatchObject({ type: 'api_error', code: 'upstream_unavailable' });
      expect(error.message).toMatch(/was sent to the stripe API/);
      expect(error.message).toMatch(/may have taken effect/);
      expect(error.message).not.toMatch(/could not be reached/);
      expect(
        await kb.waitForAudit((r) => kb.audit.indexOf(r) >= before && r.path === '/v1/charges', WAIT_MS),
      ).toMatchObject({
        decision: 'deny',
        reason: 'upstream_unavailable',
        costUsd: '0.50',
        upstreamStatus: null,
      });
      expect(kb.output()).not.toContain(UPSTREAM_KEY);
    },
  );
});
