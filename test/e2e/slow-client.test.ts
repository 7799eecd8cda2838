// Bounded work per request (ADR 0007 §8), against the real `keybrake serve`: a client that trickles
// its headers, or sends its headers and never finishes the body, is cut off at --client-timeout
// with a 408 request_timeout in Stripe's shape (the listener's vendor), audited, and nothing of it
// reaches the vendor; fifty such clients do not keep the proxy from serving anyone else; and
// --max-connections caps what one listener holds open, and one client address holds only its share
// of it (--max-connections-per-source), while a connection that sends nothing is closed within 2 s,
// unanswered and unaudited; a request asking to upgrade the connection is answered and its
// connection closed, so nothing pipelined behind it hangs. No sleeps: every wait is on a socket
// event, an upstream arrival or a log line; the only timers are the slow clients' own drip.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PIPELINED } from '../../src/proxy/server.ts';
import { newToken } from '../../src/tokens/token.ts';
import { type KeybrakeProcess, manifestDir, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { rawHttp } from './fixtures/http.ts';
import { openConnection } from './fixtures/raw-connection.ts';
import { type ScriptedUpstream, startScriptedUpstream } from './fixtures/scripted-upstream.ts';
import { stripeKey, yamlDocuments } from './fixtures/stripe-manifests.ts';

const UPSTREAM_KEY = `sk_test_slow${randomBytes(12).toString('hex')}`;
const TOKEN = newToken('stripe');
/** Short, yet long enough that an ordinary call on a loaded two-core CI box is never caught by it. */
const CLIENT_TIMEOUT_MS = 1_500;
const CLEAN_ENV = { KEYBRAKE_DRAIN_TIMEOUT: '', KEYBRAKE_CLIENT_TIMEOUT: '', KEYBRAKE_MAX_CONNECTIONS: '' };

let upstream: ScriptedUpstream;
let dir: Awaited<ReturnType<typeof manifestDir>>;
let kb: KeybrakeProcess;
const processes: KeybrakeProcess[] = [];

async function serve(extra: string[]): Promise<KeybrakeProcess> {
  const p = await startKeybrake([...serveArgs(dir.dir, { stripe: upstream.url }), ...extra], {
    env: CLEAN_ENV,
  });
  processes.push(p);
  return p;
}

beforeAll(async () => {
  upstream = await startScriptedUpstream();
  dir = await manifestDir({
    'keys.yaml': yamlDocuments(...stripeKey({ name: 'slow', token: TOKEN, upstreamKey: UPSTREAM_KEY })),
  });
  kb = await serve(['--client-timeout', `${CLIENT_TIMEOUT_MS}ms`]);
  // One ordinary call first, so that the timings below are not the proxy's first ones.
  expect((await normalCall(kb, 'cus_warm')).status).toBe(200);
});

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  await upstream?.close();
  await dir?.remove();
});

function normalCall(p: KeybrakeProcess, id: string) {
  return rawHttp(p.urls.stripe!, {
    method: 'GET',
    target: `/v1/customers/${id}`,
    headers: { Authorization: `Bearer ${TOKEN}` },
  });
}

/** A client that holds a connection open without ever completing its request. */
interface SlowClient {
  readonly socket: Socket;
  /** Everything the server wrote, once it has closed the connection; and when that was. */
  readonly done: Promise<{ received: string; afterMs: number }>;
  isClosed(): boolean;
}

function slowClient(baseUrl: string, kind: 'headers' | 'body', id: number): SlowClient {
  const { hostname, port } = new URL(baseUrl);
  const socket = connect(Number(port), hostname);
  let received = '';
  let closed = false;
  let drip: NodeJS.Timeout | undefined;
  const started = performance.now();
  socket.on('data', (d: Buffer) => {
    received += d.toString('latin1');
  });
  socket.on('error', () => {});
  socket.on('connect', () => {
    if (kind === 'body') {
      // The whole head, then 9 of the 100 body bytes it announces, then nothing.
      socket.write(
        `POST /v1/customers HTTP/1.1\r\nHost: keybrake\r\nAuthorization: Bearer ${TOKEN}\r\n` +
          'Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nname=slow',
      );
      return;
    }
    // A head that never ends, one byte every 40 ms.
    const head = `GET /v1/customers/cus_slow_${id} HTTP/1.1\r\nHost: keybrake\r\nAuthorization: Bearer ${TOKEN}\r\nX-Pad: ${'a'.repeat(1000)}`;
    let at = 0;
    drip = setInterval(() => {
      if (at < head.length && !socket.destroyed) socket.write(head[at++]!);
    }, 40);
  });
  // Not events.once: that rejects on the reset a write after the server's close may bring.
  const done = new Promise<void>((resolve) => socket.once('close', () => resolve())).then(() => {
    closed = true;
    clearInterval(drip);
    return { received, afterMs: performance.now() - started };
  });
  return { socket, done, isClosed: () => closed };
}

/** The status line, the decision header and the JSON body of a raw response. */
function parse(raw: string) {
  const split = raw.indexOf('\r\n\r\n');
  const head = raw.slice(0, split).split('\r\n');
  const headers = Object.fromEntries(
    head.slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]),
  );
  return { statusLine: head[0], headers, body: JSON.parse(raw.slice(split + 4)) as unknown };
}

describe('slow clients', () => {
  it.each(['headers', 'body'] as const)(
    'a client that never finishes its %s is cut off at --client-timeout with a Stripe-shaped 408',
    async (kind) => {
      const mark = upstream.requests.length;
      const auditFrom = kb.audit.length;
      const client = slowClient(kb.urls.stripe!, kind, 0);
      const { received, afterMs } = await client.done;

      expect(afterMs).toBeGreaterThanOrEqual(CLIENT_TIMEOUT_MS * 0.9);
      expect(afterMs).toBeLessThan(CLIENT_TIMEOUT_MS + 3_000);
      const res = parse(received);
      expect(res.statusLine).toBe('HTTP/1.1 408 Request Timeout');
      expect(res.headers['keybrake-decision']).toBe('deny; reason=request_timeout');
      expect(res.headers.connection).toBe('close');
      expect(res.body).toEqual({
        error: expect.objectContaining({
          type: expect.any(String),
          code: 'request_timeout',
          message: expect.stringContaining(`${CLIENT_TIMEOUT_MS} ms`),
        }),
      });
      const record = await kb.waitForAudit(
        (r) => kb.audit.indexOf(r) >= auditFrom && r.reason === 'request_timeout',
      );
      expect(record).toMatchObject(
        kind === 'body'
          ? {
              decision: 'deny',
              vendor: 'stripe',
              method: 'POST',
              path: '/v1/customers',
              upstreamStatus: null,
            }
          : { decision: 'deny', vendor: 'stripe', upstreamStatus: null },
      );
      expect(upstream.requests.slice(mark)).toEqual([]);
    },
  );

  it('keeps serving other clients while fifty slow ones hold connections, and cuts every one off', async () => {
    const mark = upstream.requests.length;
    const auditFrom = kb.audit.length;
    const slow = Array.from({ length: 50 }, (_, i) =>
      slowClient(kb.urls.stripe!, i % 2 ? 'body' : 'headers', i),
    );
    await Promise.all(slow.map((c) => (c.socket.connecting ? once(c.socket, 'connect') : undefined)));

    const res = await normalCall(kb, 'cus_meanwhile');
    const openWhileServed = slow.filter((c) => !c.isClosed()).length;
    expect(res.status).toBe(200);
    expect(res.headers['keybrake-decision']).toBe('allow; reason=ok');
    expect(openWhileServed).toBe(50);

    const outcomes = await Promise.all(slow.map((c) => c.done));
    for (const { received, afterMs } of outcomes) {
      expect(received).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
      expect(afterMs).toBeLessThan(CLIENT_TIMEOUT_MS + 5_000);
    }
    // Only the ordinary call reached the vendor.
    expect(upstream.requests.slice(mark)).toEqual(['GET /v1/customers/cus_meanwhile']);
    await kb.waitForAudit(
      () => kb.audit.slice(auditFrom).filter((r) => r.reason === 'request_timeout').length === 50,
    );
    // One record per cut-off client, and nothing else: a call after them is the next record.
    expect((await normalCall(kb, 'cus_after')).status).toBe(200);
    await kb.waitForAudit((r) => r.path === '/v1/customers/cus_after');
    const reasons = kb.audit.slice(auditFrom).map((r) => `${r.reason}`);
    expect(reasons.filter((r) => r !== 'request_timeout')).toEqual(['ok', 'ok']);
    expect(reasons).toHaveLength(52);
    expect(kb.output()).not.toContain(UPSTREAM_KEY);
    expect(kb.output()).not.toContain(TOKEN);
  });
});

describe('--max-connections', () => {
  it('closes a connection past the limit as it is accepted, says so, and serves the open ones', async () => {
    // Every connection here comes from one address: its share is the whole listener.
    const limited = await serve(['--max-connections', '3', '--max-connections-per-source', '3']);
    const base = limited.urls.stripe!;
    // Each makes a call as soon as it is open: an ordinary call proves it accepted, not queued, and
    // a connection that has spoken is not closed for silence after 2 s while the test runs.
    const open = [];
    for (let i = 0; i < 3; i++) {
      const c = await openConnection(base);
      const first = await c.request(
        `GET /v1/customers/cus_limit${i} HTTP/1.1\r\nHost: keybrake\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`,
      );
      expect(first.status).toBe(200);
      open.push(c);
    }

    const refusedLog = limited.waitForNextLog(
      (l) => l.msg === 'connections refused: --max-connections reached',
    );
    const extra = await openConnection(base);
    expect(await extra.response()).toBeUndefined();
    await extra.closed;
    expect(await refusedLog).toMatchObject({ maxConnections: 3, listener: 'stripe' });

    // The connections already open still work.
    const again = await open[1]!.request(
      `GET /v1/customers/cus_limit2 HTTP/1.1\r\nHost: keybrake\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`,
    );
    expect(again.status).toBe(200);
    expect(open.some((c) => c.isClosed())).toBe(false);
    // The limit is per listener: the router still takes connections.
    const routed = await rawHttp(limited.urls.main!, {
      method: 'GET',
      target: '/stripe/v1/customers/cus_router',
      headers: { Authorization: `Bearer ${TOKEN}` },
    });
    expect(routed.status).toBe(200);
  });
});

describe('one client address', () => {
  // Found by a tester: 20 connections that sent nothing, each reconnecting as soon as the 10 s
  // headers timeout closed it with a 408, kept a `--max-connections 20` listener full, and every
  // other client's call was reset (each slot also wrote an audit line every 10 s). Here the attacker
  // connects from 127.0.0.2 and the agent from 127.0.0.1: two addresses, as two pods would be.
  it('holds only its share of --max-connections, so another client is served; its silent connections are closed within 2 s, unanswered and unaudited', async () => {
    const limited = await serve(['--max-connections', '8']);
    const base = limited.urls.stripe!;
    const auditFrom = limited.audit.length;
    const refusedLog = limited.waitForNextLog(
      (l) => l.msg === 'connections refused: --max-connections-per-source reached',
    );
    // Enough to fill the listener twice over; sent one after another so their order is known.
    const attack: SilentClient[] = [];
    for (let i = 0; i < 16; i++) attack.push(await silentClient(base, '127.0.0.2'));
    // A quarter of the 8 (the default share) is kept; the rest are closed as they are accepted.
    const refused = attack.slice(2);
    await Promise.all(refused.map((c) => c.done));
    expect(await refusedLog).toMatchObject({
      maxConnectionsPerSource: 2,
      source: '127.0.0.2',
      listener: 'stripe',
    });

    // Served while the attacker holds its share (whether its two silent ones are still open at this
    // instant depends on the machine's pace; that they close for silence is checked below).
    const res = await normalCall(limited, 'cus_beside_the_flood');
    expect(res.status).toBe(200);

    // The two it kept are closed for their silence, long before the 10 s headers timeout, without
    // an answer, and leave no audit record: the next record is the next call's.
    for (const { received, afterMs } of await Promise.all(attack.slice(0, 2).map((c) => c.done))) {
      expect(received).toBe('');
      expect(afterMs).toBeLessThan(6_000);
    }
    expect((await normalCall(limited, 'cus_after_the_flood')).status).toBe(200);
    await limited.waitForAudit((r) => r.path === '/v1/customers/cus_after_the_flood');
    expect(limited.audit.slice(auditFrom).map((r) => r.reason)).toEqual(['ok', 'ok']);
  });
});

/** A client that connects from `from` and never sends a byte. */
interface SilentClient {
  readonly done: Promise<{ received: string; afterMs: number }>;
  isClosed(): boolean;
}

async function silentClient(baseUrl: string, from: string): Promise<SilentClient> {
  const { hostname, port } = new URL(baseUrl);
  const socket = connect({ port: Number(port), host: hostname, localAddress: from });
  let received = '';
  let closed = false;
  const started = performance.now();
  socket.on('data', (d: Buffer) => {
    received += d.toString('latin1');
  });
  socket.on('error', () => {});
  const done = new Promise<void>((resolve) => socket.once('close', () => resolve())).then(() => {
    closed = true;
    return { received, afterMs: performance.now() - started };
  });
  await Promise.race([once(socket, 'connect'), done]);
  return { done, isClosed: () => closed };
}

describe('a request asking to upgrade the connection', () => {
  // Found by an adversarial probe: a call pipelined behind `Connection: Upgrade` got no answer and no
  // audit record; its connection sat idle until the keep-alive timeout.
  it('is answered, and its connection closed, so nothing behind it waits unanswered', async () => {
    const conn = await openConnection(kb.urls.stripe!);
    const upgrade = conn.request(
      `GET /v1/customers/cus_up1 HTTP/1.1\r\nHost: keybrake\r\nAuthorization: Bearer ${TOKEN}\r\n` +
        'Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n' +
        `GET /v1/customers/cus_up2 HTTP/1.1\r\nHost: keybrake\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`,
    );
    const first = await upgrade;
    expect(first.status).toBe(200);
    expect(first.headers['connection']).toBe('close');
    expect(await conn.response()).toBeUndefined();
    await conn.closed;
    // The first call was served; the bytes behind it were never read as a call, so none was forwarded.
    expect(upstream.requests).toContain('GET /v1/customers/cus_up1');
    expect(upstream.requests).not.toContain('GET /v1/customers/cus_up2');
  });
});

describe('calls pipelined on one connection', () => {
  // Found by an adversarial probe: node hands on every pipelined request at once, so one connection
  // had 300 calls at the upstream together, and 40 large answers held for a client that never read.
  it(`are at most ${MAX_PIPELINED} under way: the next is refused, and the connection closed after it`, async () => {
    const conn = await openConnection(kb.urls.stripe!);
    const head = (id: string) =>
      `GET /v1/customers/${id} HTTP/1.1\r\nHost: keybrake\r\nAuthorization: Bearer ${TOKEN}\r\n` +
      `Keybrake-Run-Id: ${id.replace('cus_', '')}\r\n\r\n`;
    // The one refused, and two behind it that are never answered.
    const behind = Array.from({ length: MAX_PIPELINED + 2 }, (_, i) => `cus_pipe${i + 1}`);
    const first = conn.request(head('cus_heldpipe') + behind.map(head).join(''));
    await upstream.arrived('/v1/customers/cus_heldpipe');
    // Another connection's call goes through meanwhile.
    expect((await normalCall(kb, 'cus_besidepipe')).status).toBe(200);
    upstream.release('/v1/customers/cus_heldpipe');
    expect((await first).status).toBe(200);
    const statuses: number[] = [];
    for (let r = await conn.response(); r !== undefined; r = await conn.response()) statuses.push(r.status);
    // The held call and the next MAX_PIPELINED - 1 were served; the one past them was refused, and
    // nothing after it was read as a call.
    expect(statuses).toEqual([...Array(MAX_PIPELINED - 1).fill(200), 400]);
    const forwarded = upstream.requests.filter((r) => r.includes('cus_pipe'));
    expect(forwarded.sort()).toEqual(
      behind
        .slice(0, MAX_PIPELINED - 1)
        .map((id) => `GET /v1/customers/${id}`)
        .sort(),
    );
    // One record for each call past the limit, answered or not, naming the key and run it read
    // (seventh round: they named neither); nothing the pipeline would have found (no operation).
    const refused = behind.slice(MAX_PIPELINED - 1);
    const records = await Promise.all(
      refused.map((id) => kb.waitForAudit((r) => r.path === `/v1/customers/${id}`)),
    );
    expect(
      records.map((r) => [r.path, r.vaultKey, r.runId, r.operation, r.reason, r.upstreamStatus]),
    ).toEqual(
      refused.map((id) => [
        `/v1/customers/${id}`,
        'agents/slow',
        id.replace('cus_', ''),
        null,
        'request_invalid',
        null,
      ]),
    );
  });
});
