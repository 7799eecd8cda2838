// Answers a client never reads (ninth round, ADR 0007 §8): a tester opened 60 connections, pipelined
// 8 reads of a 2.5 MB list on each and never read; all 480 were forwarded and their answers held in
// the proxy until the idle timeout, 215 s, which grew it from 192 MB to 1.35 GB. A connection's next
// call is now handled only once the answers before it are written out to the kernel, so a client
// that stops reading holds at most one answer and gets nothing more forwarded; and a connection
// whose client takes no byte of its answer for --client-timeout is closed. No sleeps: every wait
// is on an upstream arrival, an audit record or the socket, or polls a condition with a deadline.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_PIPELINED } from '../../src/proxy/server.ts';
import { newToken } from '../../src/tokens/token.ts';
import { type KeybrakeProcess, manifestDir, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { ANSWER_BYTES, BIG, type BigUpstream, startBigUpstream } from './fixtures/big-upstream.ts';
import { rawHttp } from './fixtures/http.ts';
import { stripeKey, yamlDocuments } from './fixtures/stripe-manifests.ts';

const UPSTREAM_KEY = `sk_test_unread${randomBytes(12).toString('hex')}`;
/** The agent that never reads its answers. */
const TOKEN = newToken('stripe');
/** Another tenant, whose calls must still be answered meanwhile. */
const HONEST_TOKEN = newToken('stripe');
const CONNECTIONS = 6;
/** --client-timeout, and so how long a client may take no byte of its answer. */
const CLIENT_TIMEOUT_MS = 1_500;
const CLEAN_ENV = { KEYBRAKE_DRAIN_TIMEOUT: '', KEYBRAKE_CLIENT_TIMEOUT: '', KEYBRAKE_MAX_CONNECTIONS: '' };

let upstream: BigUpstream;
let dir: Awaited<ReturnType<typeof manifestDir>>;
let kb: KeybrakeProcess;

beforeAll(async () => {
  upstream = await startBigUpstream();
  dir = await manifestDir({
    'keys.yaml': yamlDocuments(
      ...stripeKey({ name: 'unread', token: TOKEN, upstreamKey: UPSTREAM_KEY }),
      ...stripeKey({ name: 'honest', token: HONEST_TOKEN, upstreamKey: UPSTREAM_KEY }),
    ),
  });
  kb = await startKeybrake(
    [...serveArgs(dir.dir, { stripe: upstream.url }), '--client-timeout', `${CLIENT_TIMEOUT_MS}ms`],
    { env: CLEAN_ENV },
  );
});

afterAll(async () => {
  await kb?.stop();
  await upstream?.close();
  await dir?.remove();
});

const read = (path: string) =>
  `GET ${path} HTTP/1.1\r\nHost: keybrake\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`;

/** A connection that writes its calls and never reads a byte of what comes back. */
async function unreadConnection(): Promise<Socket> {
  const { hostname, port } = new URL(kb.urls.stripe!);
  const socket = connect(Number(port), hostname);
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.pause();
  return socket;
}

/** Polls `done` until it holds, failing past `deadlineMs`. */
async function until(done: () => boolean, what: string, deadlineMs = 20_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The proxy's resident memory, in bytes. */
function rss(): number {
  const line = readFileSync(`/proc/${kb.child.pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB$/m);
  return Number(line?.[1] ?? Number.NaN) * 1024;
}

const recordsOf = (from: number, prefix: string) =>
  kb.audit.slice(from).filter((r) => String(r.path).startsWith(prefix));

describe('answers a client never reads', () => {
  it('forward one call per connection at a time: the next waits until the answers before it are written out', async () => {
    const prefix = '/v1/customers/big';
    const from = kb.audit.length;
    const rssBefore = rss();
    const sockets = await Promise.all(Array.from({ length: CONNECTIONS }, unreadConnection));
    sockets.forEach((socket, c) => {
      socket.write(Array.from({ length: MAX_PIPELINED }, (_, k) => read(`${prefix}_${c}_${k}`)).join(''));
    });
    const forwarded = () => upstream.requests.filter((p) => p.startsWith(prefix));
    await until(() => forwarded().length >= CONNECTIONS, 'the first call of every connection');

    // Another tenant is served meanwhile.
    const honest = await rawHttp(kb.urls.stripe!, {
      method: 'GET',
      target: '/v1/customers/cus_honest',
      headers: { Authorization: `Bearer ${HONEST_TOKEN}` },
    });
    expect(honest.status).toBe(200);
    expect(honest.headers['keybrake-decision']).toBe('allow; reason=ok');
    // At most one answer per connection is held (a second only if the kernel took the first whole):
    // well under what the calls pipelined on them would hold, MAX_PIPELINED answers each.
    expect(rss() - rssBefore).toBeLessThan(CONNECTIONS * 2 * ANSWER_BYTES + 64 * 1024 * 1024);

    // The client gives up: every call still waiting is dropped unsent, each with one record.
    for (const socket of sockets) socket.destroy();
    await until(
      () => recordsOf(from, prefix).length === CONNECTIONS * MAX_PIPELINED,
      'a record of every call',
    );
    expect(forwarded().length).toBeLessThanOrEqual(2 * CONNECTIONS);
    const records = recordsOf(from, prefix);
    for (let c = 0; c < CONNECTIONS; c++) {
      const first = `${prefix}_${c}_0`;
      expect(forwarded()).toContain(first);
      expect(records.filter((r) => r.path === first)).toMatchObject([
        { decision: 'allow', reason: 'ok', upstreamStatus: 200 },
      ]);
    }
    // One record per call: forwarded and answered by the vendor, or dropped unsent.
    for (const record of records) {
      const sent = forwarded().includes(String(record.path));
      expect([record.decision, record.reason]).toEqual(sent ? ['allow', 'ok'] : ['deny', 'request_invalid']);
    }
    expect(new Set(records.map((r) => r.path)).size).toBe(records.length);
  });
});

describe('a client that takes no byte of its answer for --client-timeout', () => {
  it('loses its connection, not the records of its calls', async () => {
    const prefix = '/v1/customers/bigstall';
    const from = kb.audit.length;
    const sockets = await Promise.all(Array.from({ length: 2 }, unreadConnection));
    const closed = sockets.map(() => false);
    sockets.forEach((socket, c) => {
      socket.once('close', () => {
        closed[c] = true;
      });
      socket.write(Array.from({ length: MAX_PIPELINED }, (_, k) => read(`${prefix}_${c}_${k}`)).join(''));
    });
    // Every call has its record once the proxy has closed the connections: the calls waiting behind
    // the unread answer are dropped unsent then. Well before the idle timeout (--client-timeout + 6
    // upstream timeouts + 5 s: 186.5 s here).
    await until(() => recordsOf(from, prefix).length === 2 * MAX_PIPELINED, 'a record of every call', 15_000);
    // A paused socket sees no close: read what the kernel holds, and the end behind it.
    for (const socket of sockets) socket.resume();
    await until(() => closed.every(Boolean), 'the closed connections to end');
    const forwarded = upstream.requests.filter((p) => p.startsWith(prefix));
    for (const record of recordsOf(from, prefix)) {
      const sent = forwarded.includes(String(record.path));
      expect([record.decision, record.reason]).toEqual(sent ? ['allow', 'ok'] : ['deny', 'request_invalid']);
    }
  });

  it('a client that reads slowly, with pauses shorter than that, gets its whole answer', async () => {
    const { hostname, port } = new URL(kb.urls.stripe!);
    const socket = connect(Number(port), hostname);
    socket.on('error', () => {});
    await once(socket, 'connect');
    let received = 0;
    let burst = 0;
    socket.on('data', (d: Buffer) => {
      received += d.length;
      burst += d.length;
      // A megabyte at a time, then a pause of a third of the timeout: the client's own pace, which
      // takes several times the timeout over the whole answer.
      if (burst >= 1024 * 1024) {
        burst = 0;
        socket.pause();
        setTimeout(() => socket.resume(), CLIENT_TIMEOUT_MS / 3);
      }
    });
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write(read('/v1/customers/bigslow').replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'));
    await closed;
    expect(received).toBeGreaterThan(BIG.length);
  });
});
