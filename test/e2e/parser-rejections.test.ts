// Every answer is Keybrake's (ADR 0007 §9): what node rejects before any route runs (oversized
// headers, a request line that is not HTTP, bad bytes, CONNECT, a missing Host) comes back from the
// real `keybrake serve` in the vendor's error shape (the listener's vendor, or the router prefix's,
// else Stripe's), with `Keybrake-Decision`, as one audit line and one count in the metrics, and
// never with anything of the request in it.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newToken } from '../../src/tokens/token.ts';
import { type KeybrakeProcess, manifestDir, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { type RawAnswer, sendRaw } from '../hostile/raw-http.ts';
import { metricValue } from './fixtures/http.ts';
import { openConnection } from './fixtures/raw-connection.ts';
import { type ScriptedUpstream, startScriptedUpstream } from './fixtures/scripted-upstream.ts';
import { stripeKey, yamlDocuments } from './fixtures/stripe-manifests.ts';

const UPSTREAM_KEY = `sk_test_parser${randomBytes(12).toString('hex')}`;
const TOKEN = newToken('stripe');
const BROUGHT = 'foreign-agent-token-0123456789abcdefXYZ';
/** A brought token short enough to pass for a method (server.ts reads up to 32 characters as one). */
const SHORT_BROUGHT = 'Xq7pL2mN9vR4tY8wK3jH6bF1';

let upstream: ScriptedUpstream;
let dir: Awaited<ReturnType<typeof manifestDir>>;
let kb: KeybrakeProcess;

beforeAll(async () => {
  upstream = await startScriptedUpstream();
  dir = await manifestDir({
    'keys.yaml': yamlDocuments(...stripeKey({ name: 'parser', token: TOKEN, upstreamKey: UPSTREAM_KEY })),
  });
  kb = await startKeybrake(serveArgs(dir.dir, { stripe: upstream.url }));
});

afterAll(async () => {
  await kb?.stop();
  await upstream?.close();
  await dir?.remove();
});

const send = (listener: string, head: string) =>
  sendRaw(kb.urls[listener]!, Buffer.from(`${head.replaceAll('\n', '\r\n')}\r\n\r\n`, 'latin1'));

/** The audit record of the call just answered (each case's is the first one after `from`). */
const auditAfter = (from: number) => kb.waitForAudit((r) => kb.audit.indexOf(r) >= from);

function expectStripeShape(res: RawAnswer, reason: string) {
  expect(JSON.parse(res.body.toString('utf8'))).toEqual({
    error: expect.objectContaining({
      type: expect.any(String),
      code: reason,
      message: expect.stringMatching(/\S/),
    }),
  });
}

describe('requests node refuses to parse', () => {
  it.each<[string, string, string, number, string, 'stripe' | 'twilio', Record<string, unknown>]>([
    [
      'a 20 kB header on the Stripe listener',
      'stripe',
      `GET /v1/customers HTTP/1.1\nHost: keybrake\nAuthorization: Bearer ${TOKEN}\nX-Pad: ${'a'.repeat(20_000)}`,
      431,
      'headers_too_large',
      'stripe',
      { vendor: 'stripe', method: 'GET', path: '' },
    ],
    [
      'a 20 kB header behind the router /twilio prefix',
      'main',
      `GET /twilio/2010-04-01/Accounts/AC1/Messages.json HTTP/1.1\nHost: keybrake\nX-Pad: ${'a'.repeat(20_000)}`,
      431,
      'headers_too_large',
      'twilio',
      { vendor: 'twilio', method: 'GET', path: '' },
    ],
    [
      'a request line that is not HTTP',
      'stripe',
      'HELLO KEYBRAKE',
      400,
      'request_invalid',
      'stripe',
      { vendor: 'stripe', method: '', path: '' },
    ],
    // Fifth probe round: the method of a request line node refused was recorded as it came, and a
    // brought token of up to 32 characters fits there (no Authorization needed to send it).
    [
      'a brought token as the method',
      'stripe',
      `${SHORT_BROUGHT} /v1/customers HTTP/1.1\nHost: keybrake`,
      400,
      'request_invalid',
      'stripe',
      { vendor: 'stripe', method: '', path: '' },
    ],
    [
      'a control byte in the path behind the router',
      'main',
      'GET /stripe/v1/cust\x01omers HTTP/1.1\nHost: keybrake',
      400,
      'request_invalid',
      'stripe',
      { vendor: 'stripe', method: 'GET', path: '' },
    ],
    [
      'a header name with a space',
      'stripe',
      `GET /v1/customers HTTP/1.1\nHost: keybrake\nAuthorization: Bearer ${TOKEN}\nBad Header: x`,
      400,
      'request_invalid',
      'stripe',
      { vendor: 'stripe', method: 'GET', path: '' },
    ],
    // Third probe round: with no headers read nothing says what was presented, and a token the user
    // brought has no shape to find: the target is not recorded at all.
    [
      'a 20 kB header after a target holding a brought token',
      'stripe',
      `GET /v1/customers/${BROUGHT} HTTP/1.1\nHost: keybrake\nAuthorization: Bearer ${BROUGHT}\nX-Pad: ${'a'.repeat(20_000)}`,
      431,
      'headers_too_large',
      'stripe',
      { vendor: 'stripe', method: 'GET', path: '' },
    ],
    [
      'a bad header byte after a target holding a brought token, behind the router',
      'main',
      `GET /stripe/v1/customers/${BROUGHT} HTTP/1.1\nHost: keybrake\nAuthorization: Bearer ${BROUGHT}\nX-Bad: a\x01b`,
      400,
      'request_invalid',
      'stripe',
      { vendor: 'stripe', method: 'GET', path: '' },
    ],
    [
      'an HTTP/1.1 request without Host',
      'stripe',
      `GET /v1/customers HTTP/1.1\nAuthorization: Bearer ${TOKEN}`,
      400,
      'request_invalid',
      'stripe',
      // Its headers were read whole: the record names the key they present (seventh round).
      { vendor: 'stripe', method: 'GET', path: '/v1/customers', vaultKey: 'agents/parser' },
    ],
    [
      'CONNECT',
      'stripe',
      'CONNECT api.stripe.com:443 HTTP/1.1\nHost: api.stripe.com:443',
      400,
      'request_invalid',
      'stripe',
      { vendor: 'stripe', method: 'CONNECT', path: '' },
    ],
    [
      'an Expect other than 100-continue',
      'stripe',
      `GET /v1/customers HTTP/1.1\nHost: keybrake\nAuthorization: Bearer ${TOKEN}\nExpect: teapot`,
      400,
      'request_invalid',
      'stripe',
      { vendor: 'stripe', method: 'GET', path: '/v1/customers', vaultKey: 'agents/parser' },
    ],
  ])(
    '%s: answered in the vendor shape, audited, counted',
    async (_name, listener, head, status, reason, shape, audited) => {
      const mark = upstream.requests.length;
      const from = kb.audit.length;
      const res = await send(listener, head);

      expect(res.status).toBe(status);
      expect(res.headers['keybrake-decision']).toBe(`deny; reason=${reason}`);
      expect(res.headers.connection).toBe('close');
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      if (shape === 'stripe') expectStripeShape(res, reason);
      else
        expect(JSON.parse(res.body.toString('utf8'))).toEqual(
          expect.objectContaining({ code: expect.any(Number), message: expect.any(String), status }),
        );
      expect(res.raw).not.toContain(TOKEN);
      expect(res.raw).not.toContain('aaaaaaaaaa');
      expect(await auditAfter(from)).toMatchObject({
        event: 'keybrake.call',
        decision: 'deny',
        reason,
        vaultKey: null,
        upstreamStatus: null,
        ...audited,
      });
      expect(upstream.requests.slice(mark)).toEqual([]);
    },
  );

  it('counts them in keybrake_calls_total, and never writes the token anywhere', async () => {
    const metrics = await (await fetch(`${kb.urls.admin}/metrics`)).text();
    const count = (vendor: string, reason: string) =>
      metricValue(metrics, 'keybrake_calls_total', { vendor, decision: 'deny', reason });
    expect(count('stripe', 'headers_too_large')).toBe(2);
    expect(count('twilio', 'headers_too_large')).toBe(1);
    expect(count('stripe', 'request_invalid')).toBe(8);
    expect(kb.output()).not.toContain(TOKEN);
    expect(kb.output()).not.toContain(BROUGHT);
    expect(kb.output()).not.toContain(SHORT_BROUGHT);
    expect(kb.output()).not.toContain(UPSTREAM_KEY);
  });

  it('keeps answering ordinary calls', async () => {
    const res = await send(
      'stripe',
      `GET /v1/customers/cus_after HTTP/1.1\nHost: keybrake\nAuthorization: Bearer ${TOKEN}\nConnection: close`,
    );
    expect(res.status).toBe(200);
    expect(res.headers['keybrake-decision']).toBe('allow; reason=ok');
  });
});

// Eleventh round (headers probe): fastify refuses a Content-Type that is no media type before any
// route, and the error handler answered it request_invalid "did not arrive whole", closing the
// connection, though the body had arrived whole.
describe('a Content-Type that is no media type at all', () => {
  it.each(['', ';', '/', 'a b'])(
    'Content-Type %j is body_invalid in the vendor shape; its body, a request to the letter, is discarded by its length and never forwarded; the connection serves the next call',
    async (type) => {
      const tag = randomBytes(4).toString('hex');
      const inner = `GET /v1/customers/cus_inner_${tag} HTTP/1.1\r\nHost: keybrake\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`;
      const conn = await openConnection(kb.urls.stripe!);
      const first = await conn.request(
        `POST /v1/customers HTTP/1.1\r\nHost: keybrake\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: ${type}\r\nContent-Length: ${inner.length}\r\n\r\n${inner}`,
      );
      expect(first.status).toBe(400);
      expect(first.headers['keybrake-decision']).toBe('deny; reason=body_invalid');
      expect(first.headers.connection).not.toBe('close');
      expect(JSON.parse(first.body)).toMatchObject({
        error: { type: 'invalid_request_error', code: 'body_invalid' },
      });
      const second = await conn.request(
        `GET /v1/customers/cus_next_${tag} HTTP/1.1\r\nHost: keybrake\r\nAuthorization: Bearer ${TOKEN}\r\nConnection: close\r\n\r\n`,
      );
      expect(second.status).toBe(200);
      await conn.closed;
      const seen = upstream.requests.filter((r) => r.includes(tag) || r.startsWith('POST /v1/customers'));
      expect(seen).toEqual([`GET /v1/customers/cus_next_${tag}`]);
    },
  );
});

// Eleventh round (fixes probe): answered early with its body still arriving, the connection stayed
// open while node read that body by its framing, and a broken chunk (or the body's timeout) then
// answered the same request again, request_invalid (or 408), with a record of no call.
describe('a Content-Type that is no media type, its body still arriving', () => {
  it.each([['chunked, broken after the answer', 'Transfer-Encoding: chunked', 'zz\r\nnot a chunk\r\n']])(
    '%s: one answer, body_invalid; the connection closed without another; one record; nothing forwarded',
    async (_case, framing, rest) => {
      const tag = randomBytes(4).toString('hex');
      const conn = await openConnection(kb.urls.stripe!);
      const first = await conn.request(
        `POST /v1/customers/cus_early_${tag} HTTP/1.1\r\nHost: keybrake\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: ;\r\n${framing}\r\n\r\n`,
      );
      expect(first.status).toBe(400);
      expect(first.headers['keybrake-decision']).toBe('deny; reason=body_invalid');
      conn.socket.write(rest);
      // No second answer: the server closes the connection.
      expect(await conn.response()).toBeUndefined();
      await conn.closed;
      // A call after it, recorded after any record the refused one could still have caused.
      const marker = await send(
        'stripe',
        `GET /v1/customers/cus_marker_${tag} HTTP/1.1\nHost: keybrake\nAuthorization: Bearer ${TOKEN}\nConnection: close`,
      );
      expect(marker.status).toBe(200);
      await kb.waitForAudit((r) => JSON.stringify(r).includes(`cus_marker_${tag}`));
      // From the refused call's record to the marker's: nothing between (a second answer's record).
      const start = kb.audit.findIndex((r) => JSON.stringify(r).includes(`cus_early_${tag}`));
      const end = kb.audit.findIndex((r) => JSON.stringify(r).includes(`cus_marker_${tag}`));
      const records = kb.audit.slice(start, end + 1) as { reason?: string; method?: string }[];
      expect(records.map((r) => [r.method, r.reason])).toEqual([
        ['POST', 'body_invalid'],
        ['GET', 'ok'],
      ]);
      const seen = upstream.requests.filter((r) => r.includes(tag));
      expect(seen).toEqual([`GET /v1/customers/cus_marker_${tag}`]);
    },
  );
});
