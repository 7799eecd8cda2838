// The audit backlog's hard bound holds for the HTTP layer's own refusals too (thirteenth round, probe
// observe13). Those refusals (a bad Expect, requests pipelined behind an answer that closes, a parser
// error, CONNECT, a missing Host, a shutdown 503) were recorded without waiting for room: with stdout
// a pipe nobody read, a flood of them took what the audit sink held to 14 times its hard bound, until
// the proxy died on a RangeError and the records of charges another key had at the vendor were
// written nowhere. Here stdout is never read while one key floods connections, each with an Expect
// other than 100-continue and 8 requests pipelined behind it, worth 1.5 times the hard bound in
// records; what the sink holds must stay at the hard bound, the refusals it had no room for are
// counted (and closed unanswered), nothing of the flood reaches the vendor, and another key's write
// made meanwhile waits, then is forwarded, answered and recorded once stdout is read again.
// No sleeps: every wait is on a connection's close, a scrape, an answer or an audit record.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { MAX_PIPELINED } from '../../src/proxy/server.ts';
import { AUDIT_PATH_CHARS, DEFAULT_AUDIT_MAX_HELD_BYTES } from '../../src/telemetry/audit.ts';
import { newToken } from '../../src/tokens/token.ts';
import { metricValue } from './fixtures/http.ts';
import { useScriptedServe } from './fixtures/scripted-serve.ts';

const UPSTREAM_KEY = `sk_test_hardbound${randomBytes(12).toString('hex')}`;
const ATTACKER = newToken('stripe');
const VICTIM = newToken('stripe');
/** Where no call is answered any more (audit.ts: twice the bound). */
const HARD_BOUND = 2 * DEFAULT_AUDIT_MAX_HELD_BYTES;
/**
 * Past the hard bound a record already written may add one more; the flood's records are 1.3 KB.
 * Nothing else of the flood may add to the backlog.
 */
const SLACK = 64 * 1024;
/** Records per connection: the refusal and the requests pipelined behind it. */
const PER_CONNECTION = 1 + MAX_PIPELINED;
/** The least a flood record holds: a path cut to AUDIT_PATH_CHARS, and the other fields' 250 or so. */
const MIN_RECORD_CHARS = AUDIT_PATH_CHARS + 250;
/** Connections whose records, all written, would hold 1.5 times the hard bound. */
const CONNECTIONS = Math.ceil((1.5 * HARD_BOUND) / (PER_CONNECTION * MIN_RECORD_CHARS));
/** The flood's connections open at once (the probe's 16 loops). */
const LOOPS = 16;

const { upstream, kb } = useScriptedServe([
  { name: 'attacker', token: ATTACKER, upstreamKey: UPSTREAM_KEY },
  { name: 'victim', token: VICTIM, upstreamKey: UPSTREAM_KEY },
]);

const path = (i: number) => `/v1/customers/cus_${i}_${'a'.repeat(1100)}`;
const request = (i: number, extra: string) =>
  `GET ${path(i)} HTTP/1.1\r\nHost: keybrake\r\nAuthorization: Bearer ${ATTACKER}\r\n${extra}\r\n`;

/** One connection of the flood: an Expect the proxy refuses, 8 requests behind it; resolves on its close. */
async function floodOne(port: number, i: number): Promise<void> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  socket.on('data', () => {});
  socket.write(request(i, 'Expect: nope\r\n') + request(i, '').repeat(MAX_PIPELINED));
  await once(socket, 'close');
}

/** Writes `bytes` on a connection of its own; resolves, once the proxy has closed it, with what it answered. */
async function answerTo(port: number, bytes: string): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  let answer = '';
  socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
  socket.write(bytes);
  await once(socket, 'close');
  return answer;
}

/** One request of each kind the HTTP layer refuses itself, bar those that wait on a call before them. */
const REFUSED_BY_THE_HTTP_LAYER = [
  // A parser error (node's clientError).
  `GET /v1/customers HTTP/1.1\r\nHost: keybrake\r\nBad Header\r\n\r\n`,
  // CONNECT.
  'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n',
  // An HTTP/1.1 request without Host.
  `GET /v1/customers HTTP/1.1\r\nAuthorization: Bearer ${ATTACKER}\r\n\r\n`,
  // An Expect other than 100-continue, alone.
  `GET /v1/customers HTTP/1.1\r\nHost: keybrake\r\nExpect: nope\r\n\r\n`,
];

async function metrics(): Promise<string> {
  return (await fetch(`${kb().urls.admin}/metrics`)).text();
}

/** The audit figures, scraped until `done` holds: a render is reused for a moment (scrape-cache.ts). */
async function scrapeUntil(
  done: (held: number, unrecorded: number) => boolean,
): Promise<{ held: number; unrecorded: number }> {
  for (;;) {
    const text = await metrics();
    const held = metricValue(text, 'keybrake_audit_held_bytes')!;
    const unrecorded =
      metricValue(text, 'keybrake_audit_unrecorded_refusals_total', { reason: 'request_invalid' }) ?? 0;
    if (done(held, unrecorded)) return { held, unrecorded };
  }
}

describe('serve with a stdout nobody reads, flooded with refusals the HTTP layer writes', () => {
  it('holds the audit backlog at its hard bound, counts the refusals it could not record, and records the write another key made meanwhile', async () => {
    kb().child.stdout!.pause();
    const port = Number(new URL(kb().urls.stripe!).port);
    let next = 0;
    const loop = async () => {
      while (next < CONNECTIONS) await floodOne(port, next++);
    };
    await Promise.all(Array.from({ length: LOOPS }, loop));

    // At the hard bound: the flood filled it, and went no further (before the fix it went on, with
    // nothing counted).
    const { held, unrecorded } = await scrapeUntil((h, u) => u > 0 || h > HARD_BOUND + SLACK);
    expect(held).toBeGreaterThanOrEqual(HARD_BOUND);
    expect(held).toBeLessThanOrEqual(HARD_BOUND + SLACK);

    // Each kind of refusal the HTTP layer writes: closed unanswered, counted, and adding nothing.
    for (const bytes of REFUSED_BY_THE_HTTP_LAYER) expect(await answerTo(port, bytes)).toBe('');
    const counted = unrecorded + REFUSED_BY_THE_HTTP_LAYER.length;
    const after = await scrapeUntil((_h, u) => u >= counted);
    expect(after).toEqual({ held, unrecorded: counted });

    // Another key's write, made at the hard bound: it waits, unanswered, until stdout is read. (A
    // customer: the stand-in answers a charge with the key it was sent, which is withheld.)
    const write = fetch(`${kb().urls.stripe}/v1/customers`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${VICTIM}`, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'email=victim%40example.com',
    });
    kb().child.stdout!.resume();
    const answer = await write;
    expect(answer.status).toBe(200);
    expect(answer.headers.get('keybrake-decision')).toBe('allow; reason=ok');
    expect(
      await kb().waitForAudit((r) => r.vaultKey === 'agents/victim' && r.path === '/v1/customers', 60_000),
    ).toMatchObject({ reason: 'ok', operation: 'stripe.customers.create', upstreamStatus: 200 });
    // Nothing of the flood reached the vendor; the write did, once.
    expect(upstream().requests).toEqual(['POST /v1/customers']);
    // Every record of the flood is a refusal of the attacker's, none an allow.
    const attacker = kb().audit.filter((r) => r.vaultKey === 'agents/attacker');
    expect(attacker.length).toBeGreaterThan(0);
    expect(attacker.every((r) => r.decision === 'deny' && r.reason === 'request_invalid')).toBe(true);
  }, 180_000);
});
