// The real @stripe/mcp 0.2.5 server (stripe-node 17 inside), spawned over stdio and driven by the MCP SDK
// client as an agent host drives it. It has no base-URL option, so it runs under the Keybrake redirect
// preload (`--require src/preload/redirect.cjs`) with KEYBRAKE_STRIPE_URL pointing at Keybrake's Stripe
// port and STRIPE_SECRET_KEY holding the vault token: an allowed create_customer reaches Stripe (stripe-mock,
// Stripe's own mock, behind a recording relay) with the real key; a create_refund outside the policy is
// denied by Keybrake and never reaches Stripe. Every tool of the server: mcp-stripe-tools.test.ts.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newToken } from '../../src/tokens/token.ts';
import { type KeybrakeProcess, manifestDir, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { connectMcpServer, type McpServer } from '../env/mcp.ts';
import { type RecordingRelay, startRecordingRelay } from '../env/recording-relay.ts';
import { type StripeMock, startStripeMock } from '../env/stripe-mock.ts';
import { stripeKey, yamlDocuments } from './fixtures/stripe-manifests.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const PRELOAD = path.join(ROOT, 'src/preload/redirect.cjs');
const STRIPE_MCP = path.join(ROOT, 'node_modules/@stripe/mcp/dist/index.js');
const UPSTREAM_KEY = `sk_test_mcp${randomBytes(12).toString('hex')}`;
// @stripe/mcp checks the sk_/rk_ prefix only on --api-key, not on STRIPE_SECRET_KEY: the default prefix works.
const token = newToken('stripe');

const MANIFESTS = yamlDocuments(
  ...stripeKey({
    name: 'mcp-billing',
    token,
    upstreamKey: UPSTREAM_KEY,
    allow: {
      endpoints: [
        'POST /v1/customers',
        'POST /v1/payment_links',
        'POST /v1/products',
        'POST /v1/prices',
        'GET /v1/**',
      ],
    },
  }),
);

let mock: StripeMock;
/** Every request that reached stripe-mock. */
let atStripe: RecordingRelay;
let kb: KeybrakeProcess;
let dir: Awaited<ReturnType<typeof manifestDir>>;
let mcp: McpServer;
/** Every tool result text the model would have seen. */
const seen: string[] = [];

type ToolResult = { isError?: boolean; content: { type: string; text?: string }[] };

async function callTool(name: string, args: Record<string, unknown>): Promise<string> {
  const result = (await mcp.client.callTool({ name, arguments: args })) as ToolResult;
  const text = result.content.map((c) => c.text ?? '').join('\n');
  seen.push(text);
  return text;
}

beforeAll(async () => {
  mock = await startStripeMock();
  atStripe = await startRecordingRelay(mock.url);
  dir = await manifestDir({ 'keys.yaml': MANIFESTS });
  kb = await startKeybrake(serveArgs(dir.dir, { stripe: atStripe.url }));
  mcp = await connectMcpServer({
    args: ['--require', PRELOAD, STRIPE_MCP, '--tools=all'],
    env: { STRIPE_SECRET_KEY: token, KEYBRAKE_STRIPE_URL: kb.urls['stripe']! },
    cwd: dir.dir,
  });
});

afterAll(async () => {
  await mcp?.close();
  await kb?.stop();
  await atStripe?.close();
  await mock?.stop();
  await dir?.remove();
});

describe('@stripe/mcp through Keybrake via the redirect preload', () => {
  it('announces the redirect on stderr and lists create_customer and create_refund', async () => {
    const { tools } = await mcp.client.listTools();

    expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(['create_customer', 'create_refund']));
    expect(mcp.stderr()).toContain(`keybrake preload: redirecting stripe → ${kb.urls['stripe']}`);
  });

  it('creates a customer that reaches Stripe with the real key, not the vault token', async () => {
    const before = atStripe.requests.length;

    const text = await callTool('create_customer', { name: 'Ann', email: 'ann@example.com' });

    expect(JSON.parse(text)).toMatchObject({ id: expect.stringMatching(/^cus_/) });
    const arrived = atStripe.requests.slice(before);
    expect(arrived).toHaveLength(1);
    expect(arrived[0]).toMatchObject({ method: 'POST', path: '/v1/customers' });
    expect(arrived[0]!.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
    // It really is the MCP server's own stripe-node 17 talking, not this test.
    expect(arrived[0]!.headers['user-agent']).toMatch(/^Stripe\/v1 NodeBindings\/17\./);
    expect(arrived[0]!.headers['x-stripe-client-user-agent']).toContain('stripe-mcp');
    expect(arrived[0]!.body).toContain('email=ann%40example.com');
    expect(
      await kb.waitForAudit((r) => r['vaultKey'] === 'agents/mcp-billing' && r['decision'] === 'allow'),
    ).toMatchObject({ method: 'POST', path: '/v1/customers', vendor: 'stripe' });
  });

  it('denies create_refund in Keybrake: the model gets the fixed failure string and Stripe sees nothing', async () => {
    const before = atStripe.requests.length;

    const text = await callTool('create_refund', { payment_intent: 'pi_123', amount: 500 });

    // The server JSON-encodes every tool result, its swallowed-error strings included.
    expect(JSON.parse(text)).toBe('Failed to create refund');
    expect(atStripe.requests.length).toBe(before);
    expect(
      await kb.waitForAudit((r) => r['vaultKey'] === 'agents/mcp-billing' && r['decision'] === 'deny'),
    ).toMatchObject({ reason: 'endpoint_not_allowed', path: '/v1/refunds', costUsd: '0.00' });
  });

  it('never lets the vault token upstream, nor a secret into any output', () => {
    expect(atStripe.requests.length).toBeGreaterThan(0);
    for (const r of atStripe.requests) expect(JSON.stringify(r)).not.toContain(token);
    expect(seen.join('\n')).not.toContain(UPSTREAM_KEY);
    expect(mcp.stderr()).not.toContain(token);
    expect(mcp.stderr()).not.toContain(UPSTREAM_KEY);
    expect(kb.output()).not.toContain(token);
    expect(kb.output()).not.toContain(UPSTREAM_KEY);
  });
});
