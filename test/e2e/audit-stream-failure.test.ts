// The audit stream failing under the real `keybrake serve` (tenth round, MEDIUM): stdout is a pipe
// whose reader goes away (EPIPE: a `serve | shipper` whose shipper restarts) or /dev/full (ENOSPC: a
// full disk). Before, nothing listened for the stream's 'error': the process died at once, and the
// calls it had forwarded (a $10 payment intent answered 200) had no record anywhere. Now the records
// it had not written and those of the calls still at the vendor are written to stderr; no call after
// the failure is forwarded (checked at the upstream): a call on an open connection is answered 503
// shutting_down in Stripe's shape, new connections are refused; the calls in flight get the vendor's
// answers, and the process exits 1 with a line saying why. No sleeps: every wait is on an event.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newToken } from '../../src/tokens/token.ts';
import { type KeybrakeProcess, manifestDir, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { openConnection } from './fixtures/raw-connection.ts';
import { type ScriptedUpstream, startScriptedUpstream } from './fixtures/scripted-upstream.ts';
import { stripeKey, yamlDocuments } from './fixtures/stripe-manifests.ts';

const UPSTREAM_KEY = `sk_test_auditfail${randomBytes(12).toString('hex')}`;
const TOKEN = newToken('stripe');
const CLEAN_ENV = { KEYBRAKE_DRAIN_TIMEOUT: '', KEYBRAKE_AUDIT_FLUSH_INTERVAL: '' };
/** Generous: the box runs many suites at once. */
const WAIT_MS = 30_000;

let upstream: ScriptedUpstream;
let dir: Awaited<ReturnType<typeof manifestDir>>;
const processes: KeybrakeProcess[] = [];

beforeAll(async () => {
  upstream = await startScriptedUpstream();
  dir = await manifestDir({
    'keys.yaml': yamlDocuments(...stripeKey({ name: 'shipped', token: TOKEN, upstreamKey: UPSTREAM_KEY })),
  });
});

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  await upstream?.close();
  await dir?.remove();
});

async function serve(opts: { stdout?: number } = {}): Promise<KeybrakeProcess> {
  const kb = await startKeybrake(serveArgs(dir.dir, { stripe: upstream.url }), {
    env: CLEAN_ENV,
    ...opts,
    timeoutMs: WAIT_MS,
  });
  processes.push(kb);
  return kb;
}

const get = (path: string) =>
  `GET ${path} HTTP/1.1\r\nHost: keybrake\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`;

const paymentIntent = (amount: number) => {
  const body = `amount=${amount}&currency=usd&confirm=true&payment_method=pm_card_visa`;
  return (
    `POST /v1/payment_intents HTTP/1.1\r\nHost: keybrake\r\nAuthorization: Bearer ${TOKEN}\r\n` +
    `Content-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n${body}`
  );
};

/** Resolves when a new TCP connection to `baseUrl` is accepted, rejects with the refusal. */
function connectOnce(baseUrl: string): Promise<void> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), hostname);
    s.once('connect', () => {
      s.destroy();
      resolve();
    });
    s.once('error', reject);
  });
}

/** The audit record of `path` the process wrote to stderr (its fallback). */
const onStderr = (kb: KeybrakeProcess, path: string) =>
  kb.waitForLog((l) => l.event === 'keybrake.call' && l.path === path, WAIT_MS);

const failedLine = (kb: KeybrakeProcess) =>
  kb.waitForLog((l) => /^audit stream failed/.test(String(l.msg)), WAIT_MS);

/** A call on `conn` after the failure: refused with the reason, never forwarded. */
async function expectRefused(conn: Awaited<ReturnType<typeof openConnection>>, path: string) {
  const late = await conn.request(get(path));
  expect(late.status).toBe(503);
  expect(late.headers['keybrake-decision']).toBe('deny; reason=shutting_down');
  expect(JSON.parse(late.body)).toEqual({
    error: expect.objectContaining({
      code: 'shutting_down',
      message: expect.stringMatching(/cannot write its audit log/),
    }),
  });
}

describe('keybrake serve whose audit stream fails', () => {
  it('EPIPE (the reader of its stdout went away): records of calls forwarded go to stderr, nothing more is forwarded, and it exits 1 once drained', async () => {
    const kb = await serve();
    const base = kb.urls.stripe!;
    // A keep-alive connection that has made one call, recorded on stdout, and sits idle.
    const idle = await openConnection(base);
    expect((await idle.request(get('/v1/customers/cus_before'))).status).toBe(200);
    await kb.waitForAudit((r) => r.path === '/v1/customers/cus_before', WAIT_MS);
    // Two calls at the vendor, held there.
    const busyA = await openConnection(base);
    const busyB = await openConnection(base);
    const heldA = busyA.request(get('/v1/customers/cus_held_pipe_a'));
    const heldB = busyB.request(get('/v1/customers/cus_held_pipe_b'));
    await upstream.arrived('/v1/customers/cus_held_pipe_a');
    await upstream.arrived('/v1/customers/cus_held_pipe_b');

    // The shipper goes away; the next record written meets EPIPE.
    kb.child.stdout!.destroy();
    const exited = once(kb.child, 'exit');
    const trigger = await openConnection(base);
    const answered = await trigger.request(paymentIntent(1000));
    expect(answered.status).toBe(200);
    expect(await failedLine(kb)).toMatchObject({ err: expect.stringMatching(/EPIPE/), inFlight: 2 });

    // After the failure: refused on an open connection, no new connection taken, nothing forwarded.
    await expectRefused(idle, '/v1/customers/cus_after_pipe');
    await expect(connectOnce(base)).rejects.toMatchObject({ code: 'ECONNREFUSED' });

    // The calls at the vendor get its answers.
    upstream.release('/v1/customers/cus_held_pipe_a');
    upstream.release('/v1/customers/cus_held_pipe_b');
    expect((await heldA).status).toBe(200);
    expect((await heldB).status).toBe(200);
    expect(await exited).toEqual([1, null]);

    // Every call after the first has its record on stderr: the one whose write failed, the refusal,
    // and the two that were at the vendor, with the vendor's status and request id.
    expect(await onStderr(kb, '/v1/payment_intents')).toMatchObject({
      reason: 'ok',
      costUsd: '10.00',
      upstreamStatus: 200,
    });
    expect(await onStderr(kb, '/v1/customers/cus_after_pipe')).toMatchObject({
      reason: 'shutting_down',
      upstreamStatus: null,
    });
    for (const path of ['/v1/customers/cus_held_pipe_a', '/v1/customers/cus_held_pipe_b']) {
      expect(await onStderr(kb, path)).toMatchObject({
        reason: 'ok',
        upstreamStatus: 200,
        upstreamRequestId: expect.stringMatching(/^req_/),
      });
    }
    expect(upstream.requests).not.toContain('GET /v1/customers/cus_after_pipe');
    expect(kb.output()).toMatch(
      /keybrake serve: exiting 1: the audit stream \(stdout\) failed \(write EPIPE\)/,
    );
    expect(kb.output()).not.toContain(UPSTREAM_KEY);
    expect(kb.output()).not.toContain(TOKEN);
  });

  it('ENOSPC (stdout is /dev/full): the $10 payment intent it forwarded is on record on stderr, later calls are refused unforwarded, and it exits 1', async () => {
    const full = openSync('/dev/full', 'w');
    let kb: KeybrakeProcess;
    try {
      kb = await serve({ stdout: full });
    } finally {
      closeSync(full);
    }
    const base = kb.urls.stripe!;
    const idle = await openConnection(base);
    const busy = await openConnection(base);
    const held = busy.request(get('/v1/customers/cus_held_full'));
    await upstream.arrived('/v1/customers/cus_held_full');

    const exited = once(kb.child, 'exit');
    const trigger = await openConnection(base);
    const charged = await trigger.request(paymentIntent(1000));
    expect(charged.status).toBe(200);
    expect(await failedLine(kb)).toMatchObject({ err: expect.stringMatching(/ENOSPC/) });

    await expectRefused(idle, '/v1/customers/cus_after_full');
    await expect(connectOnce(base)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    upstream.release('/v1/customers/cus_held_full');
    expect((await held).status).toBe(200);
    expect(await exited).toEqual([1, null]);

    expect(await onStderr(kb, '/v1/payment_intents')).toMatchObject({
      operation: 'stripe.payment_intents.create',
      reason: 'ok',
      costUsd: '10.00',
      upstreamStatus: 200,
    });
    expect(await onStderr(kb, '/v1/customers/cus_after_full')).toMatchObject({ reason: 'shutting_down' });
    expect(await onStderr(kb, '/v1/customers/cus_held_full')).toMatchObject({
      reason: 'ok',
      upstreamStatus: 200,
    });
    expect(upstream.requests).not.toContain('GET /v1/customers/cus_after_full');
    expect(kb.output()).toMatch(/exiting 1: the audit stream \(stdout\) failed \(ENOSPC/);
  });
});
