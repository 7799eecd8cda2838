// Answers held for clients that do not read them, bounded in bytes per key (ninth round, ADR 0007 §8):
// each unread connection holds one whole answer for --client-timeout, and one key on its 256
// connections held 256 of them (640 MB of 2.5 MB lists, 4 GiB of 16 MiB answers), past the chart's
// 512 Mi memory limit. Past --max-held-answers, a call of a key whose answers hold at least an equal
// share of them is refused before anything is forwarded; another key's calls are still answered. No
// sleeps: every wait polls the proxy's metrics or is on an answer.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newToken } from '../../src/tokens/token.ts';
import { type KeybrakeProcess, manifestDir, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { BIG, type BigUpstream, startBigUpstream } from './fixtures/big-upstream.ts';
import { metricValue, rawHttp } from './fixtures/http.ts';
import { stripeKey, yamlDocuments } from './fixtures/stripe-manifests.ts';

const UPSTREAM_KEY = `sk_test_held${randomBytes(12).toString('hex')}`;
/** The agent that never reads its answers. */
const TOKEN = newToken('stripe');
/** Another tenant, whose calls must still be answered meanwhile. */
const HONEST_TOKEN = newToken('stripe');
/** --max-held-answers: one BIG answer is under it, two are past it. */
const MAX_HELD = 12 * 1024 * 1024;
const CLEAN_ENV = { KEYBRAKE_CLIENT_TIMEOUT: '', KEYBRAKE_MAX_HELD_ANSWERS: '' };

let upstream: BigUpstream;
let dir: Awaited<ReturnType<typeof manifestDir>>;
let kb: KeybrakeProcess;

beforeAll(async () => {
  upstream = await startBigUpstream();
  dir = await manifestDir({
    'keys.yaml': yamlDocuments(
      ...stripeKey({ name: 'greedy', token: TOKEN, upstreamKey: UPSTREAM_KEY }),
      ...stripeKey({ name: 'honest', token: HONEST_TOKEN, upstreamKey: UPSTREAM_KEY }),
    ),
  });
  // The default --client-timeout (30 s): the unread answers stay held for the whole test.
  kb = await startKeybrake(
    [...serveArgs(dir.dir, { stripe: upstream.url }), '--max-held-answers', String(MAX_HELD)],
    { env: CLEAN_ENV },
  );
});

afterAll(async () => {
  await kb?.stop();
  await upstream?.close();
  await dir?.remove();
});

/** A connection that sends one read and never takes a byte of its answer. */
async function unreadRead(path: string): Promise<Socket> {
  const { hostname, port } = new URL(kb.urls.stripe!);
  const socket = connect(Number(port), hostname);
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.pause();
  socket.write(`GET ${path} HTTP/1.1\r\nHost: keybrake\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`);
  return socket;
}

const read = (token: string, target: string) =>
  rawHttp(kb.urls.stripe!, { method: 'GET', target, headers: { Authorization: `Bearer ${token}` } });

async function heldBytes(): Promise<number | undefined> {
  const text = await (await fetch(`${kb.urls.admin}/metrics`)).text();
  return metricValue(text, 'keybrake_answer_held_bytes');
}

/** Polls the gauge until `done` holds of it, failing past `deadlineMs`. */
async function untilHeld(done: (bytes: number | undefined) => boolean, what: string, deadlineMs = 20_000) {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const bytes = await heldBytes();
    if (done(bytes)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (held: ${bytes})`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('answers held for clients that do not read them', () => {
  it("refuse the calls of the key holding its share past --max-held-answers, unsent, and not another key's", async () => {
    // One unread answer is under the bound: the key's next call is still taken.
    const sockets = [await unreadRead('/v1/customers/big_0')];
    await untilHeld((bytes) => bytes === BIG.length, 'the first answer to be held');
    sockets.push(await unreadRead('/v1/customers/big_1'));
    await untilHeld((bytes) => bytes === 2 * BIG.length, 'the second answer to be held');

    // Past the bound, the key holding all of it is refused before anything is forwarded.
    const refused = await read(TOKEN, '/v1/customers/big_2');
    expect(refused.status).toBe(429);
    expect(refused.headers['keybrake-decision']).toBe('deny; reason=rate_limited');
    expect(upstream.requests).toEqual(['/v1/customers/big_0', '/v1/customers/big_1']);
    const record = await kb.waitForAudit((r) => r.path === '/v1/customers/big_2');
    expect(record).toMatchObject({ decision: 'deny', reason: 'rate_limited', vaultKey: 'agents/greedy' });

    // Another key, holding nothing, is answered meanwhile.
    const honest = await read(HONEST_TOKEN, '/v1/customers/cus_honest');
    expect(honest.status).toBe(200);
    expect(honest.headers['keybrake-decision']).toBe('allow; reason=ok');

    // The client gives up: its answers are no longer held, and its key's calls are taken again.
    for (const socket of sockets) socket.destroy();
    await untilHeld((bytes) => bytes === 0, 'the held answers to be let go');
    const again = await read(TOKEN, '/v1/customers/cus_again');
    expect(again.status).toBe(200);
    expect(upstream.requests).toContain('/v1/customers/cus_again');
  });
});
