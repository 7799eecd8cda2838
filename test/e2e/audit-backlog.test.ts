// The audit stream's bound, against the real `keybrake serve` (DESIGN.md §7, fail closed): with its
// stdout a pipe nobody reads, one key's calls fill what the audit sink may hold; that key's next
// call is refused 503 audit_backlog in Stripe's shape, retryable, while another key that wrote
// little is still admitted and forwarded. The fifth probe round's attack: a key allowed nothing it
// asked for, with 16 000-character paths (each refusal a 16 KB record), had another key's reads
// refused, 5 of 14 at 2 MB/s; its records now hold 1 KiB of a path, and the backlog is shared by
// key. Once stdout is read again calls are admitted, and every call, every refused one too, has its
// record. No sleeps: every wait is on an answer, a scrape or an audit record.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AUDIT_PATH_CHARS, DEFAULT_AUDIT_MAX_HELD_BYTES } from '../../src/telemetry/audit.ts';
import { newToken } from '../../src/tokens/token.ts';
import { metricValue } from './fixtures/http.ts';
import { useScriptedServe } from './fixtures/scripted-serve.ts';

const UPSTREAM_KEY = `sk_test_backlog${randomBytes(12).toString('hex')}`;
const ATTACKER = newToken('stripe');
const VICTIM = newToken('stripe');
/** The attacker's calls in flight at once (the finding's keep-alive loops). */
const LOOPS = 16;
/** Far more calls than the bound holds records of: the loops stop at the first refusal. */
const MAX_CALLS = 3 * Math.ceil(DEFAULT_AUDIT_MAX_HELD_BYTES / AUDIT_PATH_CHARS);

const { upstream, kb } = useScriptedServe([
  // Allowed nothing it will ask for: every call of its is refused, and recorded.
  {
    name: 'attacker',
    token: ATTACKER,
    upstreamKey: UPSTREAM_KEY,
    allow: { endpoints: ['POST /v1/refunds'] },
  },
  { name: 'victim', token: VICTIM, upstreamKey: UPSTREAM_KEY },
]);

const longPath = (i: number) => `/v1/customers/cus_${i}_${'a'.repeat(16_000)}`;

async function read(
  token: string,
  path: string,
): Promise<{ status: number; decision: string | null; body: string }> {
  const res = await fetch(`${kb().urls.stripe}${path}`, { headers: { Authorization: `Bearer ${token}` } });
  return { status: res.status, decision: res.headers.get('keybrake-decision'), body: await res.text() };
}

async function heldBytes(): Promise<number> {
  const text = await (await fetch(`${kb().urls.admin}/metrics`)).text();
  return metricValue(text, 'keybrake_audit_held_bytes')!;
}

describe('serve with a stdout nobody reads', () => {
  it("refuses the key whose records fill the audit backlog, still forwards another key's read, and records every call", async () => {
    kb().child.stdout!.pause();
    let calls = 0;
    let refused: Awaited<ReturnType<typeof read>> | undefined;
    const statuses = new Set<number>();
    const loop = async () => {
      while (calls < MAX_CALLS && refused === undefined) {
        const res = await read(ATTACKER, longPath(calls++));
        statuses.add(res.status);
        if (res.status !== 403) refused ??= res;
      }
    };
    await Promise.all(Array.from({ length: LOOPS }, loop));
    expect(refused?.status).toBe(503);
    expect(refused?.decision).toBe('deny; reason=audit_backlog');
    expect(JSON.parse(refused!.body)).toMatchObject({ error: { code: 'audit_backlog' } });
    expect([...statuses].sort()).toEqual([403, 503]);
    expect(await heldBytes()).toBeGreaterThanOrEqual(DEFAULT_AUDIT_MAX_HELD_BYTES);

    // The victim's few records are far under its share: admitted, and forwarded.
    const victim = await read(VICTIM, '/v1/customers/cus_v');
    expect(victim.status).toBe(200);
    expect((await read(ATTACKER, '/v1/customers/cus_again')).decision).toBe('deny; reason=audit_backlog');
    // Nothing of the attacker's reached the vendor, refused by policy or by the backlog.
    expect(upstream().requests).toEqual(['GET /v1/customers/cus_v']);

    kb().child.stdout!.resume();
    // Each scrape is a round trip to the proxy, which meanwhile writes to the reader.
    let held = await heldBytes();
    while (held >= DEFAULT_AUDIT_MAX_HELD_BYTES) held = await heldBytes();
    const after = await read(ATTACKER, '/v1/customers/cus_after');
    expect(after.decision).toBe('deny; reason=endpoint_not_allowed');

    await kb().waitForAudit((r) => r.path === '/v1/customers/cus_after', 30_000);
    const byKey = (name: string) => kb().audit.filter((r) => r.vaultKey === `agents/${name}`);
    expect(byKey('victim')).toEqual([expect.objectContaining({ path: '/v1/customers/cus_v', reason: 'ok' })]);
    const attacker = byKey('attacker');
    expect(attacker).toHaveLength(calls + 2);
    const backlogged = attacker.filter((r) => r.reason === 'audit_backlog');
    expect(backlogged.length).toBeGreaterThanOrEqual(2);
    expect(attacker.filter((r) => r.reason === 'endpoint_not_allowed')).toHaveLength(
      calls + 2 - backlogged.length,
    );
    // Every long path is recorded cut, its length kept: 16 018 characters and the digits of its index.
    for (const r of attacker.filter(
      (r) => r.path !== '/v1/customers/cus_again' && r.path !== '/v1/customers/cus_after',
    )) {
      expect(r.path).toMatch(/^\/v1\/customers\/cus_\d+_a+ \[cut: 160\d\d characters\]$/);
      expect(String(r.path).indexOf(' ')).toBe(AUDIT_PATH_CHARS);
    }
  }, 120_000);
});
