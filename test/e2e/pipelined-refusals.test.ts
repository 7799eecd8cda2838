// A refusal the HTTP layer writes itself (a request node cannot parse, one that does not arrive
// within --client-timeout, CONNECT) answers that request, never a call pipelined before it on the
// same connection. A fifth-round probe sent a charge and, in the same write, a malformed request:
// the charge got the malformed request's 400 `deny`, recorded under its own method and path, and was
// then forwarded and counted anyway. Here the call before is held at the upstream while the refusal
// is due: its own answer comes first, the refusal after it, and each call has one audit record.
// Behind an answer that closes the connection nothing more is taken from it: a flood pipelined
// there is never parsed, and at most MAX_PIPELINED requests of the read that held the end are recorded.
// No sleeps: every wait is on an upstream arrival, an audit line or the socket.
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { MAX_PIPELINED } from '../../src/proxy/server.ts';
import { newToken } from '../../src/tokens/token.ts';
import { openConnection, type RawConnection } from './fixtures/raw-connection.ts';
import { useScriptedServe } from './fixtures/scripted-serve.ts';

const UPSTREAM_KEY = `sk_test_pipelined${randomBytes(12).toString('hex')}`;
const TOKEN = newToken('stripe');
/** Another tenant's key, whose calls go on beside a flooded connection. */
const OTHER_TOKEN = newToken('stripe');
/** Short, yet long enough that an ordinary call on a loaded two-core CI box is never caught by it. */
const CLIENT_TIMEOUT_MS = 1_500;
const CLEAN_ENV = { KEYBRAKE_DRAIN_TIMEOUT: '', KEYBRAKE_CLIENT_TIMEOUT: '', KEYBRAKE_MAX_CONNECTIONS: '' };

const { upstream, kb } = useScriptedServe(
  [
    { name: 'pipelined', token: TOKEN, upstreamKey: UPSTREAM_KEY },
    { name: 'other', token: OTHER_TOKEN, upstreamKey: UPSTREAM_KEY },
  ],
  { args: ['--client-timeout', `${CLIENT_TIMEOUT_MS}ms`], env: CLEAN_ENV },
);

/** A read of a customer; the scripted upstream holds `cus_held…` ones until the test releases them. */
const read = (path: string) =>
  `GET ${path} HTTP/1.1\r\nHost: keybrake\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`;

/**
 * Sends `held` and `after` in one write, lets the proxy refuse `after` (`refusedWhen` resolves once
 * it has), releases the held call at the upstream, and returns both answers in the order they came.
 */
async function pipelined(
  heldPath: string,
  after: string,
  refusedWhen: (conn: RawConnection) => Promise<void>,
) {
  const conn = await openConnection(kb().urls.stripe!);
  conn.socket.write(read(heldPath) + after);
  await upstream().arrived(heldPath);
  await refusedWhen(conn);
  upstream().release(heldPath);
  const first = await conn.response();
  const second = await conn.response();
  await conn.closed;
  return { first, second };
}

/** The audit records from `from` on, once a call made after them has its own: nothing else is late. */
async function recordsSince(from: number): Promise<Record<string, unknown>[]> {
  const marker = `/v1/customers/cus_after_${randomBytes(4).toString('hex')}`;
  const conn = await openConnection(kb().urls.stripe!);
  expect((await conn.request(read(marker).replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'))).status).toBe(
    200,
  );
  await kb().waitForAudit((r) => r.path === marker);
  return kb()
    .audit.slice(from)
    .filter((r) => r.path !== marker);
}

function expectAllowed(
  res: { status: number; headers: Record<string, string>; body: string } | undefined,
  id: string,
) {
  expect(res?.status).toBe(200);
  expect(res?.headers['keybrake-decision']).toBe('allow; reason=ok');
  expect(JSON.parse(res?.body ?? '{}')).toMatchObject({ id, object: 'customer' });
}

/**
 * A request the HTTP layer refuses with an answer of its own, pipelined behind a held read of
 * `/v1/customers/cus_held_<id>`: what is written after the read, the audit record that shows the
 * refusal decided, and what the refusal answers and records.
 */
const refusals: {
  title: string;
  id: string;
  after: string;
  refused: (r: Record<string, unknown>) => boolean;
  status: number;
  reason: string;
  closes?: boolean;
  record: Record<string, unknown>;
}[] = [
  {
    title:
      'a malformed request pipelined after a call: the call gets its own answer, the refusal comes after it',
    id: 'parse',
    after: 'GARBAGE\x01 / HTTP/1.1\r\n\r\n',
    refused: (r) => r.reason === 'request_invalid',
    status: 400,
    reason: 'request_invalid',
    closes: true,
    // The malformed request's own record: nothing of the call before it, whose bytes came in the
    // same packet (its method was read from the packet's start).
    record: { method: '', path: '', vaultKey: null },
  },
  {
    title: 'a head that stalls after a call: the call gets its own answer, the 408 comes after it',
    id: 'head',
    after: 'GET /v1/customers/cus_never HTTP/1.1\r\nHost: kb',
    refused: (r) => r.reason === 'request_timeout',
    status: 408,
    reason: 'request_timeout',
    record: { path: '', vaultKey: null },
  },
  {
    title: 'CONNECT pipelined after a call: the call gets its own answer, the refusal comes after it',
    id: 'connect',
    after: 'CONNECT api.stripe.com:443 HTTP/1.1\r\nHost: api.stripe.com:443\r\n\r\n',
    refused: (r) => r.method === 'CONNECT',
    status: 400,
    reason: 'request_invalid',
    record: { method: 'CONNECT', path: '' },
  },
];

describe('a refusal behind a call still being handled', () => {
  for (const c of refusals) {
    it(c.title, async () => {
      const path = `/v1/customers/cus_held_${c.id}`;
      const mark = upstream().requests.length;
      const from = kb().audit.length;

      const { first, second } = await pipelined(path, c.after, async () => {
        await kb().waitForAudit((r) => kb().audit.indexOf(r) >= from && c.refused(r));
      });

      expectAllowed(first, `cus_held_${c.id}`);
      expect(second?.status).toBe(c.status);
      expect(second?.headers['keybrake-decision']).toBe(`deny; reason=${c.reason}`);
      if (c.closes) expect(second?.headers.connection).toBe('close');
      expect(upstream().requests.slice(mark)).toEqual([`GET ${path}`]);
      const records = await recordsSince(from);
      expect(records).toHaveLength(2);
      expect(records).toContainEqual(
        expect.objectContaining({
          decision: 'allow',
          reason: 'ok',
          method: 'GET',
          path,
          upstreamStatus: 200,
        }),
      );
      expect(records).toContainEqual(
        expect.objectContaining({ decision: 'deny', reason: c.reason, ...c.record }),
      );
    });
  }

  // Unlike the refusals above, the rest of its body is written after its refusal; what reached the
  // upstream is read once a later call has its record, so that late write had its chance.
  it('a body that stalls after a call, then arrives after its 408: never forwarded, one record', async () => {
    const path = '/v1/customers/cus_held_body';
    const mark = upstream().requests.length;
    const from = kb().audit.length;
    const head =
      `POST /v1/customers HTTP/1.1\r\nHost: keybrake\r\nAuthorization: Bearer ${TOKEN}\r\n` +
      'Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 20\r\n\r\n';

    const { first, second } = await pipelined(path, `${head}name=late`, async (conn) => {
      await kb().waitForAudit((r) => kb().audit.indexOf(r) >= from && r.reason === 'request_timeout');
      // The rest of the body, after its refusal: it must not make the call one after all.
      conn.socket.write('&email=x%40y.example');
    });

    expectAllowed(first, 'cus_held_body');
    expect(second?.status).toBe(408);
    expect(second?.headers['keybrake-decision']).toBe('deny; reason=request_timeout');
    const records = await recordsSince(from);
    expect(upstream().requests.slice(mark)).toEqual([`GET ${path}`, expect.stringMatching(/cus_after_/)]);
    expect(records).toHaveLength(2);
    expect(records).toContainEqual(
      expect.objectContaining({ decision: 'allow', reason: 'ok', method: 'GET', path, upstreamStatus: 200 }),
    );
    expect(records).toContainEqual(
      expect.objectContaining({
        decision: 'deny',
        reason: 'request_timeout',
        method: 'POST',
        path: '/v1/customers',
        upstreamStatus: null,
      }),
    );
  });
});

// Fifth round: node goes on parsing what is pipelined behind a refusal that ends its connection
// (it waits for the calls before it). Such a request was served, forwarded and counted, though its
// answer could never be written: the connection closes with the refusal. Since the seventh round what
// is written after the refusal is not even parsed: read and dropped, it is no call.
describe('a call pipelined behind a refusal that ends its connection', () => {
  it.each([
    ['an Expect other than 100-continue', 'cus_doom_expect', 'Expect: a-gift\r\n'],
    ['an HTTP/1.1 request without Host', 'cus_doom_host', null],
  ])(
    '%s: a call written after the refusal is never read: not forwarded, answered or recorded',
    async (_what, id, extra) => {
      const held = `/v1/customers/cus_held_${id}`;
      const refusedPath = `/v1/customers/${id}`;
      const behind = `/v1/customers/${id}_behind`;
      const refused =
        extra === null
          ? `GET ${refusedPath} HTTP/1.1\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`
          : read(refusedPath).replace('\r\n\r\n', `\r\n${extra}\r\n`);
      const mark = upstream().requests.length;
      const from = kb().audit.length;
      const conn = await openConnection(kb().urls.stripe!);
      conn.socket.write(read(held) + refused);
      await upstream().arrived(held);
      await kb().waitForAudit((r) => kb().audit.indexOf(r) >= from && r.path === refusedPath);
      // Written once the refusal is decided, while the call before it holds the connection open.
      await write(conn.socket, read(behind));
      upstream().release(held);

      expectAllowed(await conn.response(), `cus_held_${id}`);
      const second = await conn.response();
      expect(second?.headers['keybrake-decision']).toBe('deny; reason=request_invalid');
      expect(await conn.response()).toBeUndefined();
      await conn.closed;
      const records = await recordsSince(from);
      expect(upstream().requests.slice(mark)).toEqual([`GET ${held}`, expect.stringMatching(/cus_after_/)]);
      expect(records.map((r) => r.path).sort()).toEqual([held, refusedPath].sort());
    },
  );
});

/** Writes `bytes` and resolves once the socket has taken them, or has closed. */
function write(socket: Socket, bytes: string): Promise<void> {
  return new Promise((resolve) => {
    socket.once('close', resolve);
    socket.write(bytes, () => {
      socket.off('close', resolve);
      resolve();
    });
  });
}

/** Writes `count` copies of `request` as fast as the socket takes them; resolves when done or closed. */
async function flood(socket: Socket, request: string, count: number): Promise<void> {
  const batch = request.repeat(100);
  for (let sent = 0; sent < count && !socket.destroyed; sent += 100) await write(socket, batch);
}

const recordsOf = (from: number, path: string) =>
  kb()
    .audit.slice(from)
    .filter((r) => r.path === path).length;

// Seventh round: a tester pipelined tens of thousands of requests (no token needed) behind a refused
// one while a call before it waited 4 s for the vendor. Node parsed each, the proxy looked it up and
// audited it, and node held them all until the connection closed: 60 000 blocked the event loop for
// 11 s at the close (another tenant's call waited as long) and grew the proxy by 100 MB.
describe('a flood pipelined behind an answer that ends its connection', () => {
  it('written after the end: read and dropped, never parsed; another tenant is answered meanwhile', async () => {
    const held = '/v1/customers/cus_held_flood';
    const refusedPath = '/v1/customers/cus_flood_expect';
    const flooded = '/v1/customers/cus_flooded';
    const mark = upstream().requests.length;
    const from = kb().audit.length;
    const conn = await openConnection(kb().urls.stripe!);
    conn.socket.write(read(held) + read(refusedPath).replace('\r\n\r\n', '\r\nExpect: a-gift\r\n\r\n'));
    await upstream().arrived(held);
    await kb().waitForAudit((r) => kb().audit.indexOf(r) >= from && r.path === refusedPath);

    // Thousands of calls, within --max-body (256 KiB) in all, so the connection stays for its answers.
    await flood(conn.socket, read(flooded), Math.floor(200_000 / read(flooded).length));
    const other = await openConnection(kb().urls.stripe!);
    const beside = await other.request(
      `GET /v1/customers/cus_beside_flood HTTP/1.1\r\nHost: keybrake\r\nAuthorization: Bearer ${OTHER_TOKEN}\r\n\r\n`,
    );
    expectAllowed(beside, 'cus_beside_flood');
    // Answered while the flooded connection is still held open by the call the vendor has not answered.
    expect(conn.isClosed()).toBe(false);
    other.socket.destroy();

    upstream().release(held);
    expectAllowed(await conn.response(), 'cus_held_flood');
    expect((await conn.response())?.headers['keybrake-decision']).toBe('deny; reason=request_invalid');
    expect(await conn.response()).toBeUndefined();
    await conn.closed;
    await recordsSince(from);
    expect(recordsOf(from, flooded)).toBe(0);
    expect(upstream().requests.slice(mark)).toEqual([
      `GET ${held}`,
      'GET /v1/customers/cus_beside_flood',
      expect.stringMatching(/cus_after_/),
    ]);
  });

  it(`in the read that holds the end: ${MAX_PIPELINED} recorded, then the connection closed with its calls still under way`, async () => {
    const heldPaths = Array.from({ length: MAX_PIPELINED }, (_, i) => `/v1/customers/cus_held_nine${i}`);
    const ninth = '/v1/customers/cus_nine';
    const flooded = '/v1/customers/cus_nine_flooded';
    const mark = upstream().requests.length;
    const from = kb().audit.length;
    // A held call the proxy forwarded runs its course once the vendor answers, wherever its answer goes.
    for (const path of heldPaths)
      void upstream()
        .arrived(path)
        .then(() => upstream().release(path));
    const conn = await openConnection(kb().urls.stripe!);
    // MAX_PIPELINED calls under way, the one past them refused with the connection's end, and behind
    // it more than --max-body of calls, all in one write.
    conn.socket.write(
      heldPaths.map(read).join('') +
        read(ninth) +
        read(flooded).repeat(Math.ceil(300_000 / read(flooded).length)),
    );
    const flooding = kb()
      .waitForAudit((r) => kb().audit.indexOf(r) >= from && recordsOf(from, flooded) > MAX_PIPELINED)
      .catch(() => undefined);
    await Promise.race([conn.closed, flooding]);
    expect(conn.isClosed()).toBe(true);

    // Every call under way keeps its one record: forwarded and answered by the vendor, or dropped unsent.
    const held = await Promise.all(heldPaths.map((path) => kb().waitForAudit((r) => r.path === path)));
    for (const record of held) {
      expect([
        ['allow', 'ok', 200],
        ['deny', 'request_invalid', null],
      ]).toContainEqual([record.decision, record.reason, record.upstreamStatus]);
    }
    await recordsSince(from);
    expect(recordsOf(from, ninth)).toBe(1);
    expect(recordsOf(from, flooded)).toBeLessThanOrEqual(MAX_PIPELINED);
    for (const path of heldPaths) expect(recordsOf(from, path)).toBe(1);
    const forwarded = upstream().requests.slice(mark, -1);
    expect(heldPaths.map((path) => `GET ${path}`)).toEqual(expect.arrayContaining(forwarded));
  });
});

// Eighth round: node's parser stops at the end of a request that asks to upgrade the connection and
// drops the rest of that read, but parses the reads after it anew. The end was decided only once the
// upgrade request's call had its answer: a tester's calls written after it, while the vendor held it,
// were forwarded and audited `allow`, their answers never written. The end is now decided when the
// upgrade request has arrived (its head, or with a body its body), before it is handled.
describe('calls written after a request that asks to upgrade the connection', () => {
  it.each([
    ['Upgrade alone', 'foo', 'Upgrade: foo\r\n', ''],
    ['a websocket upgrade', 'ws', 'Connection: Upgrade\r\nUpgrade: websocket\r\n', ''],
    [
      'an h2c upgrade',
      'h2c',
      'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n',
      '',
    ],
    ['an upgrade with a body, written apart', 'body', 'Upgrade: foo\r\n', 'name=upgraded'],
  ])(
    '%s: never parsed, forwarded or recorded; the upgrade call is answered and its connection closed',
    async (_what, id, headers, body) => {
      const held = `/v1/customers/cus_held_upgrade_${id}`;
      const behind = Array.from(
        { length: MAX_PIPELINED + 2 },
        (_, i) => `/v1/customers/cus_upgrade_${id}_after${i}`,
      );
      const mark = upstream().requests.length;
      const from = kb().audit.length;
      const conn = await openConnection(kb().urls.stripe!);
      const framing =
        body === ''
          ? headers
          : `${headers}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n`;
      const method = body === '' ? 'GET' : 'POST';
      const head = read(held).replace('GET', method).replace('\r\n\r\n', `\r\n${framing}\r\n`);
      // The body's last bytes in a write of their own: the end is decided when they arrive.
      await write(conn.socket, head + body.slice(0, -1));
      if (body !== '') await write(conn.socket, body.slice(-1));
      await upstream().arrived(held);
      // Each in a write of its own, while the vendor holds the upgrade call.
      for (const path of behind) await write(conn.socket, read(path));
      upstream().release(held);

      const answer = await conn.response();
      expectAllowed(answer, `cus_held_upgrade_${id}`);
      expect(answer?.headers.connection).toBe('close');
      expect(await conn.response()).toBeUndefined();
      await conn.closed;
      const records = await recordsSince(from);
      expect(upstream().requests.slice(mark)).toEqual([
        `${method} ${held}`,
        expect.stringMatching(/cus_after_/),
      ]);
      expect(records.map((r) => r.path)).toEqual([held]);
    },
  );
});
