// The audit stream's bound, against the real `keybrake serve` (DESIGN.md §7, fail closed): with its
// stdout a pipe nobody reads, an agent's reads with 15 000-character paths (a tester grew a proxy by
// 200 MB with 6 000 of them) fill what the audit sink may hold; the next call is refused 503
// audit_backlog in Stripe's shape, retryable, and nothing of it reaches the vendor; once stdout is
// read again calls are admitted, and every call, the refused one too, has its record. No sleeps:
// every wait is on an answer, a scrape or an audit record.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_AUDIT_MAX_HELD_BYTES } from '../../src/telemetry/audit.ts';
import { newToken } from '../../src/tokens/token.ts';
import { type KeybrakeProcess, manifestDir, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { metricValue } from './fixtures/http.ts';
import { type ScriptedUpstream, startScriptedUpstream } from './fixtures/scripted-upstream.ts';
import { stripeKey, yamlDocuments } from './fixtures/stripe-manifests.ts';

const UPSTREAM_KEY = `sk_test_backlog${randomBytes(12).toString('hex')}`;
const TOKEN = newToken('stripe');
/** Far more calls than the bound holds records of: the loop stops at the first refusal. */
const MAX_CALLS = 3 * Math.ceil(DEFAULT_AUDIT_MAX_HELD_BYTES / 15_000);

let upstream: ScriptedUpstream;
let dir: Awaited<ReturnType<typeof manifestDir>>;
let kb: KeybrakeProcess;

beforeAll(async () => {
  upstream = await startScriptedUpstream();
  dir = await manifestDir({
    'keys.yaml': yamlDocuments(...stripeKey({ name: 'backlog', token: TOKEN, upstreamKey: UPSTREAM_KEY })),
  });
  kb = await startKeybrake(serveArgs(dir.dir, { stripe: upstream.url }));
});

afterAll(async () => {
  kb?.child.stdout?.resume();
  await kb?.stop();
  await upstream?.close();
  await dir?.remove();
});

const longPath = (i: number) => `/v1/customers/cus_${i}_${'a'.repeat(15_000)}`;

async function read(path: string): Promise<{ status: number; decision: string | null; body: string }> {
  const res = await fetch(`${kb.urls.stripe}${path}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  return { status: res.status, decision: res.headers.get('keybrake-decision'), body: await res.text() };
}

async function heldBytes(): Promise<number> {
  const text = await (await fetch(`${kb.urls.admin}/metrics`)).text();
  return metricValue(text, 'keybrake_audit_held_bytes')!;
}

describe('serve with a stdout nobody reads', () => {
  it('refuses calls once the audit sink holds its bound, forwards none of them, and records every call', async () => {
    kb.child.stdout!.pause();
    let admitted = 0;
    let refused: Awaited<ReturnType<typeof read>> | undefined;
    for (let i = 0; i < MAX_CALLS && refused === undefined; i++) {
      const res = await read(longPath(i));
      if (res.status === 200) admitted++;
      else refused = res;
    }
    expect(refused?.status).toBe(503);
    expect(refused?.decision).toBe('deny; reason=audit_backlog');
    expect(JSON.parse(refused!.body)).toMatchObject({ error: { code: 'audit_backlog' } });
    // Only the calls admitted reached the vendor; the refused one (the last path) did not.
    expect(upstream.requests).toHaveLength(admitted);
    expect(upstream.requests).not.toContain(`GET ${longPath(admitted)}`);
    expect(await heldBytes()).toBeGreaterThanOrEqual(DEFAULT_AUDIT_MAX_HELD_BYTES);

    kb.child.stdout!.resume();
    // Each scrape is a round trip to the proxy, which meanwhile writes to the reader.
    let held = await heldBytes();
    while (held >= DEFAULT_AUDIT_MAX_HELD_BYTES) held = await heldBytes();
    const after = await read('/v1/customers/cus_after');
    expect(after.status).toBe(200);
    expect(upstream.requests.at(-1)).toBe('GET /v1/customers/cus_after');

    await kb.waitForAudit((r) => r.path === '/v1/customers/cus_after', 30_000);
    const mine = kb.audit.filter((r) => String(r.path).startsWith('/v1/customers/cus_'));
    expect(mine.filter((r) => r.reason === 'ok')).toHaveLength(admitted + 1);
    expect(mine.filter((r) => r.reason === 'audit_backlog')).toEqual([
      expect.objectContaining({ path: longPath(admitted), vaultKey: expect.stringContaining('backlog') }),
    ]);
  }, 120_000);
});
