// Shutdown as Kubernetes does it (ADR 0007 §9): SIGTERM to the real `keybrake serve` while a call is
// in flight on a held upstream (and SIGHUP, what a closed terminal sends, drains the same way). The call in flight finishes with the vendor's answer; a call on
// another open keep-alive connection is answered 503 shutting_down in Stripe's shape; new
// connections are refused; the process exits 0 once the call is done, with every call audited.
// Everything waits on events (log lines, arrivals upstream, socket events), never on sleeps.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newToken } from '../../src/tokens/token.ts';
import { type KeybrakeProcess, manifestDir, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { openConnection } from './fixtures/raw-connection.ts';
import { type ScriptedUpstream, startScriptedUpstream } from './fixtures/scripted-upstream.ts';
import { stripeKey, yamlDocuments } from './fixtures/stripe-manifests.ts';

const UPSTREAM_KEY = `sk_test_drain${randomBytes(12).toString('hex')}`;
const TOKEN = newToken('stripe');
const CLEAN_ENV = { KEYBRAKE_DRAIN_TIMEOUT: '', KEYBRAKE_CLIENT_TIMEOUT: '', KEYBRAKE_MAX_CONNECTIONS: '' };

let upstream: ScriptedUpstream;
let dir: Awaited<ReturnType<typeof manifestDir>>;
const processes: KeybrakeProcess[] = [];

beforeAll(async () => {
  upstream = await startScriptedUpstream();
  dir = await manifestDir({
    'keys.yaml': yamlDocuments(...stripeKey({ name: 'drain', token: TOKEN, upstreamKey: UPSTREAM_KEY })),
  });
});

afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
  await upstream?.close();
  await dir?.remove();
});

async function serve(extra: string[] = []): Promise<KeybrakeProcess> {
  const kb = await startKeybrake([...serveArgs(dir.dir, { stripe: upstream.url }), ...extra], {
    env: CLEAN_ENV,
  });
  processes.push(kb);
  return kb;
}

const get = (path: string, runId?: string) =>
  `GET ${path} HTTP/1.1\r\nHost: keybrake\r\nAuthorization: Bearer ${TOKEN}\r\n` +
  (runId !== undefined ? `Keybrake-Run-Id: ${runId}\r\n` : '') +
  '\r\n';

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

/** Every record the process wrote, once its stdout has closed. */
async function finalAudit(kb: KeybrakeProcess) {
  if (kb.child.stdout && !kb.child.stdout.readableEnded) await once(kb.child.stdout, 'end');
  // readline hands over the last lines on 'close', after the stream's own 'end'.
  await new Promise((resolve) => setImmediate(resolve));
  return kb.audit.map((r) => ({ path: r.path, reason: r.reason, upstreamStatus: r.upstreamStatus }));
}

/** Who each record names: the key and the run (seventh round: a shutdown 503 named neither). */
const callers = (kb: KeybrakeProcess) =>
  kb.audit.map((r) => ({ vaultKey: r.vaultKey, runId: r.runId, operation: r.operation }));

describe('keybrake serve on SIGTERM', () => {
  it('finishes the call in flight, answers new calls 503 shutting_down, refuses connections and exits 0', async () => {
    const kb = await serve();
    const base = kb.urls.stripe!;

    // A keep-alive connection that has made one call and sits idle.
    const idle = await openConnection(base);
    expect((await idle.request(get('/v1/customers/cus_first'))).status).toBe(200);
    // A call in flight: the upstream holds it until the test releases it.
    const busy = await openConnection(base);
    const inFlight = busy.request(get('/v1/customers/cus_held_drain'));
    await upstream.arrived('/v1/customers/cus_held_drain');

    const exited = once(kb.child, 'exit');
    const draining = kb.waitForNextLog((l) => l.msg === 'draining');
    kb.child.kill('SIGTERM');
    expect(await draining).toMatchObject({ inFlight: 1, drainTimeoutMs: 25_000 });

    // No new connection is accepted.
    await expect(connectOnce(base)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await expect(connectOnce(kb.urls.main!)).rejects.toMatchObject({ code: 'ECONNREFUSED' });

    // A new call on the open connection: Keybrake's 503 in Stripe's shape, and the connection ends.
    const late = await idle.request(get('/v1/customers/cus_late', 'u3'));
    expect(late.status).toBe(503);
    expect(late.headers['keybrake-decision']).toBe('deny; reason=shutting_down');
    expect(late.headers.connection).toBe('close');
    expect(late.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(late.body)).toEqual({
      error: expect.objectContaining({
        type: expect.any(String),
        code: 'shutting_down',
        message: expect.stringMatching(/shutting down/),
      }),
    });
    await idle.closed;
    expect(kb.child.exitCode).toBeNull();

    // The call in flight gets the vendor's own answer, and then the process exits 0.
    upstream.release('/v1/customers/cus_held_drain');
    const answered = await inFlight;
    expect(answered.status).toBe(200);
    expect(answered.headers['keybrake-decision']).toBe('allow; reason=ok');
    expect(answered.headers.connection).toBe('close');
    expect(JSON.parse(answered.body)).toMatchObject({ id: 'cus_held_drain', held: true });
    expect(await exited).toEqual([0, null]);

    expect(upstream.requests).not.toContain('GET /v1/customers/cus_late');
    expect(await finalAudit(kb)).toEqual([
      { path: '/v1/customers/cus_first', reason: 'ok', upstreamStatus: 200 },
      { path: '/v1/customers/cus_late', reason: 'shutting_down', upstreamStatus: null },
      { path: '/v1/customers/cus_held_drain', reason: 'ok', upstreamStatus: 200 },
    ]);
    // The refusal names the key and run it read, and nothing of what only the pipeline finds.
    expect(callers(kb)).toEqual([
      { vaultKey: 'agents/drain', runId: null, operation: 'stripe.customers.retrieve' },
      { vaultKey: 'agents/drain', runId: 'u3', operation: null },
      { vaultKey: 'agents/drain', runId: null, operation: 'stripe.customers.retrieve' },
    ]);
    expect(kb.output()).not.toContain(UPSTREAM_KEY);
    expect(kb.output()).not.toContain(TOKEN);
  });

  it('cuts off a call still in flight at --drain-timeout, audits it, and exits 0', async () => {
    const kb = await serve(['--drain-timeout', '300ms']);
    const busy = await openConnection(kb.urls.stripe!);
    const cutOff = busy.request(get('/v1/customers/cus_held_stuck'));
    await upstream.arrived('/v1/customers/cus_held_stuck');

    const exited = once(kb.child, 'exit');
    const deadline = kb.waitForNextLog((l) => /drain deadline passed/.test(String(l.msg)));
    kb.child.kill('SIGTERM');
    expect(await deadline).toMatchObject({ inFlight: 1, drainTimeoutMs: 300 });
    // The caller still hears from Keybrake: no answer came, and the vendor may have acted.
    const answer = await cutOff;
    expect(answer.status).toBe(502);
    expect(answer.headers['keybrake-decision']).toBe('deny; reason=upstream_unavailable');
    expect(JSON.parse(answer.body).error.message).toMatch(/shut down before the stripe API answered/);
    expect(await exited).toEqual([0, null]);
    await busy.closed;

    // The vendor may have acted: the call is on record, denied as unanswered, never lost.
    expect(await finalAudit(kb)).toEqual([
      { path: '/v1/customers/cus_held_stuck', reason: 'upstream_unavailable', upstreamStatus: null },
    ]);
    upstream.release('/v1/customers/cus_held_stuck');
  });

  it('drains on SIGINT the same way, and exits 0 at once with nothing in flight', async () => {
    const kb = await serve();
    const exited = once(kb.child, 'exit');
    const stopped = kb.waitForNextLog((l) => l.msg === 'stopped');
    kb.child.kill('SIGINT');
    expect(await stopped).toMatchObject({ drained: true });
    expect(await exited).toEqual([0, null]);
  });
});

describe('keybrake serve on SIGHUP', () => {
  // Node's default for SIGHUP is to die at once: the call already forwarded lost its answer and its
  // audit record (fourth-round probe). A closing terminal may send it twice: the second is ignored.
  it('drains like SIGTERM: the call in flight is answered and audited, and the process exits 0', async () => {
    const kb = await serve();
    const busy = await openConnection(kb.urls.stripe!);
    const inFlight = busy.request(get('/v1/customers/cus_held_hangup'));
    await upstream.arrived('/v1/customers/cus_held_hangup');

    const exited = once(kb.child, 'exit');
    const draining = kb.waitForNextLog((l) => l.msg === 'draining');
    kb.child.kill('SIGHUP');
    expect(await draining).toMatchObject({ inFlight: 1 });
    kb.child.kill('SIGHUP');

    upstream.release('/v1/customers/cus_held_hangup');
    const answered = await inFlight;
    expect(answered.status).toBe(200);
    expect(answered.headers['keybrake-decision']).toBe('allow; reason=ok');
    expect(JSON.parse(answered.body)).toMatchObject({ id: 'cus_held_hangup', held: true });
    expect(await exited).toEqual([0, null]);
    expect(await finalAudit(kb)).toEqual([
      { path: '/v1/customers/cus_held_hangup', reason: 'ok', upstreamStatus: 200 },
    ]);
    expect(kb.output()).not.toContain('exiting without waiting');
  });
});
