// Every tool of the official Stripe MCP server, governed by Keybrake. The real @stripe/mcp 0.2.5
// (`--tools=all`, stripe-node 17 inside) runs under the redirect preload with a vault token as its
// STRIPE_SECRET_KEY and is driven by the MCP SDK client; Keybrake (`keybrake serve`) forwards to
// stripe-mock, Stripe's own mock, behind a recording relay (`atStripe`) that shows what reached "Stripe".
//
// Two vault keys with caps-only policies (no allowlists), one MCP server each:
// - `mcp-caps`, $1000 a day: every tool that calls the Stripe API is allowed; the money tools are priced.
// - `mcp-tiny`, $0.01 a day: every priced money tool is denied (`daily_cap_exceeded`) and the call it
//   asked for never reaches Stripe; only Keybrake's own pricing reads (the object it prices from, or
//   Stripe's invoice preview) do. Free tools still work.
//
// The server swallows every SDK error into a fixed string ("Failed to create refund") returned as an
// ordinary tool result (no `isError`), so the model never sees Keybrake's message; the audit log does.
//
// The server's https traffic that the preload does not redirect goes to a recording proxy that refuses
// it (NODE_USE_ENV_PROXY + HTTPS_PROXY): nothing leaves the machine, and anything that tried to reach
// Stripe around Keybrake would show up there.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
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
const UPSTREAM_KEY = `sk_test_tools${randomBytes(12).toString('hex')}`;
const TOKENS = { caps: newToken('stripe'), tiny: newToken('stripe') };

const MANIFESTS = yamlDocuments(
  ...stripeKey({
    name: 'mcp-caps',
    token: TOKENS.caps,
    upstreamKey: UPSTREAM_KEY,
    limits: { perDayUsd: '1000' },
  }),
  ...stripeKey({
    name: 'mcp-tiny',
    token: TOKENS.tiny,
    upstreamKey: UPSTREAM_KEY,
    limits: { perDayUsd: '0.01' },
  }),
);

/**
 * How Keybrake treats a tool's call:
 * - `free`: a read or a write that moves no money (costUsd 0.00), allowed under any cap;
 * - `money`: priced above zero: allowed with room (costUsd > 0), denied under the tiny cap;
 * - `none`: the tool does not call the Stripe API at all.
 */
type Kind = 'free' | 'money' | 'none';

interface Tool {
  readonly name: string;
  readonly args: Record<string, unknown>;
  readonly kind: Kind;
  /** The Stripe API call the tool makes (`METHOD /path`, no query). */
  readonly request?: string;
  /** The server's fixed string when the call fails. */
  readonly failure?: string;
  /** Set when stripe-mock itself refuses the call: its status, and why (see the tool). */
  readonly stripeRefuses?: { readonly status: number; readonly why: string };
  readonly note?: string;
}

// Fixed ids: stripe-mock is stateless and answers for any id from its fixtures (an invoice that is
// charged automatically with amount_due $10.00, a price of $20.00, a payment intent of $10.99).
const TOOLS: Tool[] = [
  {
    name: 'create_customer',
    args: { name: 'Ann', email: 'ann@example.com' },
    kind: 'free',
    request: 'POST /v1/customers',
  },
  {
    name: 'list_customers',
    args: { limit: 2, email: 'ann@example.com' },
    kind: 'free',
    request: 'GET /v1/customers',
  },
  {
    name: 'create_product',
    args: { name: 'Gold plan', description: 'The monthly gold plan' },
    kind: 'free',
    request: 'POST /v1/products',
  },
  { name: 'list_products', args: { limit: 2 }, kind: 'free', request: 'GET /v1/products' },
  {
    name: 'create_price',
    args: { product: 'prod_mcp', unit_amount: 1500, currency: 'usd' },
    kind: 'free',
    request: 'POST /v1/prices',
  },
  {
    name: 'list_prices',
    args: { product: 'prod_mcp', limit: 2 },
    kind: 'free',
    request: 'GET /v1/prices',
  },
  {
    name: 'create_payment_link',
    args: { price: 'price_mcp', quantity: 2, redirect_url: 'https://example.com/thanks' },
    kind: 'free',
    request: 'POST /v1/payment_links',
  },
  {
    name: 'create_invoice',
    args: { customer: 'cus_mcp', days_until_due: 30 },
    kind: 'free',
    request: 'POST /v1/invoices',
  },
  {
    name: 'list_invoices',
    args: { customer: 'cus_mcp', limit: 2 },
    kind: 'free',
    request: 'GET /v1/invoices',
  },
  {
    name: 'create_invoice_item',
    args: { customer: 'cus_mcp', price: 'price_mcp', invoice: 'in_mcp' },
    kind: 'money',
    request: 'POST /v1/invoiceitems',
    failure: 'Failed to create invoice item',
    // stripe-node 17 sends the legacy `price` parameter, which Stripe's current definition (the one
    // stripe-mock serves) has replaced by `pricing[price]`; real Stripe still takes it under the API
    // version stripe-node 17 pins. So stripe-mock answers 400 and Keybrake releases the reservation
    // (the vendor provably did nothing): the call is allowed, priced, and ends at costUsd 0.00. The
    // tiny cap shows the price: the same call is denied there before it is forwarded.
    stripeRefuses: { status: 400, why: 'additional properties are not allowed' },
  },
  {
    name: 'finalize_invoice',
    args: { invoice: 'in_mcp' },
    kind: 'money',
    request: 'POST /v1/invoices/in_mcp/finalize',
    failure: 'Failed to finalize invoice',
  },
  { name: 'retrieve_balance', args: {}, kind: 'free', request: 'GET /v1/balance' },
  {
    name: 'create_refund',
    args: { payment_intent: 'pi_123', amount: 500 },
    kind: 'money',
    request: 'POST /v1/refunds',
    failure: 'Failed to create refund',
  },
  {
    name: 'list_payment_intents',
    args: { customer: 'cus_mcp', limit: 2 },
    kind: 'free',
    request: 'GET /v1/payment_intents',
  },
  {
    name: 'list_subscriptions',
    args: { customer: 'cus_mcp', status: 'active', limit: 2 },
    kind: 'free',
    request: 'GET /v1/subscriptions',
  },
  {
    name: 'update_subscription',
    args: {
      subscription: 'sub_mcp',
      proration_behavior: 'create_prorations',
      items: [
        { id: 'si_mcp', deleted: true },
        { price: 'price_mcp', quantity: 2 },
      ],
    },
    kind: 'money',
    request: 'POST /v1/subscriptions/sub_mcp',
    failure: 'Failed to update subscription',
  },
  {
    name: 'cancel_subscription',
    args: { subscription: 'sub_mcp' },
    // A money operation, priced at $0 here: the server sends no `invoice_now`, so Stripe issues no
    // final invoice and collects nothing. Allowed under any cap.
    kind: 'free',
    request: 'DELETE /v1/subscriptions/sub_mcp',
    note: 'cancel without invoice_now moves no money',
  },
  {
    name: 'search_stripe_documentation',
    args: { question: 'How do I refund a payment?', language: 'node' },
    // POSTs the question to https://ai.stripe.com/search, without any key: not the Stripe API, not
    // redirected by the preload, nothing for Keybrake to govern. Here it reaches the refusing proxy.
    kind: 'none',
    failure: 'Failed to search documentation',
  },
  { name: 'list_coupons', args: { limit: 2 }, kind: 'free', request: 'GET /v1/coupons' },
  {
    name: 'create_coupon',
    args: { name: 'Spring', amount_off: 500, currency: 'USD', duration: 'once' },
    kind: 'free',
    request: 'POST /v1/coupons',
  },
  {
    name: 'update_dispute',
    args: { dispute: 'dp_mcp', evidence: { uncategorized_text: 'Delivered on time.' }, submit: false },
    kind: 'free',
    request: 'POST /v1/disputes/dp_mcp',
  },
  {
    name: 'list_disputes',
    args: { payment_intent: 'pi_123', limit: 2 },
    kind: 'free',
    request: 'GET /v1/disputes',
  },
];

type ToolResult = { isError?: boolean; content: { type: string; text?: string }[] };
type Audit = Record<string, unknown>;

let mock: StripeMock;
let atStripe: RecordingRelay;
let outside: { server: Server; url: string; connects: string[] };
let dir: Awaited<ReturnType<typeof manifestDir>>;
let kb: KeybrakeProcess;
const servers: Partial<Record<keyof typeof TOKENS, McpServer>> = {};
/** Every tool result text the model would have seen. */
const seen: string[] = [];

/** A forward proxy that records each CONNECT and refuses it. */
async function refusingProxy(): Promise<typeof outside> {
  const connects: string[] = [];
  const server = createServer((_req, res) => res.writeHead(403).end());
  server.on('connect', (req, socket) => {
    connects.push(req.url ?? '');
    socket.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connects };
}

function startMcp(which: keyof typeof TOKENS): Promise<McpServer> {
  return connectMcpServer({
    args: ['--require', PRELOAD, STRIPE_MCP, '--tools=all'],
    env: {
      STRIPE_SECRET_KEY: TOKENS[which],
      KEYBRAKE_STRIPE_URL: kb.urls['stripe']!,
      NODE_USE_ENV_PROXY: '1',
      HTTPS_PROXY: outside.url,
      NO_PROXY: '127.0.0.1,localhost',
    },
    cwd: dir.dir,
  });
}

async function callTool(
  which: keyof typeof TOKENS,
  tool: Tool,
): Promise<{ result: ToolResult; text: string }> {
  const result = (await servers[which]!.client.callTool({
    name: tool.name,
    arguments: tool.args,
  })) as ToolResult;
  const text = result.content.map((c) => c.text ?? '').join('\n');
  seen.push(text);
  return { result, text };
}

const requestOf = (r: { method: string; path: string }) => `${r.method} ${r.path.split('?')[0]}`;

/** The audit records of `key`'s calls to `request` written since `from` (waits for the first). */
async function auditOf(key: string, request: string, from: number): Promise<Audit[]> {
  const mine = (r: Audit) =>
    kb.audit.indexOf(r) >= from && r.vaultKey === `agents/${key}` && `${r.method} ${r.path}` === request;
  await kb.waitForAudit(mine);
  return kb.audit.filter(mine);
}

/** The reads Keybrake makes itself to price a call: a GET of the object, or Stripe's invoice preview. */
const isPricingRead = (r: { method: string; path: string }) =>
  r.method === 'GET' || requestOf(r) === 'POST /v1/invoices/create_preview';

beforeAll(async () => {
  mock = await startStripeMock();
  atStripe = await startRecordingRelay(mock.url);
  outside = await refusingProxy();
  dir = await manifestDir({ 'keys.yaml': MANIFESTS });
  // Each tool's call stands alone, while the tiny key calls them all on the same objects: one refused
  // after its lookup would hold the key off that object for the next (ADR 0007 §5, lease duty).
  kb = await startKeybrake([...serveArgs(dir.dir, { stripe: atStripe.url }), '--lease-backoff', '0']);
  [servers.caps, servers.tiny] = await Promise.all([startMcp('caps'), startMcp('tiny')]);
});

afterAll(async () => {
  await Promise.all([servers.caps?.close(), servers.tiny?.close()]);
  await kb?.stop();
  await atStripe?.close();
  await mock?.stop();
  await new Promise((resolve) => outside?.server.close(resolve));
  await dir?.remove();
});

describe('@stripe/mcp --tools=all through Keybrake, caps-only policy with room ($1000 a day)', () => {
  it('lists exactly the tools exercised here', async () => {
    const { tools } = await servers.caps!.client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(TOOLS.map((t) => t.name).sort());
  });

  it.each(TOOLS.filter((t) => t.kind !== 'none').map((t) => [t.name, t] as const))(
    '%s is allowed, reaches Stripe with the real key, and is priced when it moves money',
    async (_name, tool) => {
      const from = kb.audit.length;
      const before = atStripe.requests.length;

      const { result, text } = await callTool('caps', tool);

      const [record, ...more] = await auditOf('mcp-caps', tool.request!, from);
      expect(more).toEqual([]);
      expect(record).toMatchObject({ decision: 'allow', reason: 'ok', vendor: 'stripe' });
      const arrived = atStripe.requests.slice(before);
      const own = arrived.filter((r) => requestOf(r) === tool.request);
      expect(own).toHaveLength(1);
      expect(own[0]!.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
      // It really is the MCP server's own stripe-node 17 talking, not this test.
      expect(own[0]!.headers['user-agent']).toMatch(/^Stripe\/v1 NodeBindings\/17\./);
      // Anything else that reached Stripe is a read Keybrake made to price the call.
      expect(arrived.filter((r) => r !== own[0]).every(isPricingRead)).toBe(true);
      expect(result.isError).toBeFalsy();

      if (tool.stripeRefuses) {
        expect(own[0]!.status).toBe(tool.stripeRefuses.status);
        expect(record).toMatchObject({ upstreamStatus: tool.stripeRefuses.status, costUsd: '0.00' });
        expect(JSON.parse(text)).toBe(tool.failure);
        return;
      }
      expect(own[0]!.status).toBe(200);
      expect(record!.upstreamStatus).toBe(200);
      expect(JSON.parse(text)).not.toEqual(expect.stringMatching(/^Failed/));
      if (tool.kind === 'money') expect(Number(record!.costUsd)).toBeGreaterThan(0);
      else expect(record!.costUsd).toBe('0.00');
    },
  );

  it('search_stripe_documentation calls no Stripe API: Keybrake sees nothing, and it does not leave the machine', async () => {
    const tool = TOOLS.find((t) => t.kind === 'none')!;
    const from = kb.audit.length;
    const before = atStripe.requests.length;
    const connects = outside.connects.length;

    const { text } = await callTool('caps', tool);

    expect(JSON.parse(text)).toBe(tool.failure);
    expect(outside.connects.slice(connects)).toEqual(['ai.stripe.com:443']);
    // Audit lines are written in call order: once a later call's line is in, any from this one would be.
    const marker = TOOLS.find((t) => t.name === 'retrieve_balance')!;
    await callTool('caps', marker);
    await auditOf('mcp-caps', marker.request!, from);
    expect(kb.audit.slice(from).map((r) => `${r.method} ${r.path}`)).toEqual([marker.request]);
    expect(atStripe.requests.slice(before).map(requestOf)).toEqual([marker.request]);
  });
});

describe('the same tools under a $0.01 day cap: every priced tool is denied before Stripe sees it', () => {
  it.each(TOOLS.filter((t) => t.kind !== 'none').map((t) => [t.name, t] as const))(
    '%s',
    async (_name, tool) => {
      const from = kb.audit.length;
      const before = atStripe.requests.length;

      const { result, text } = await callTool('tiny', tool);

      const [record, ...more] = await auditOf('mcp-tiny', tool.request!, from);
      expect(more).toEqual([]);
      const arrived = atStripe.requests.slice(before);
      expect(result.isError).toBeFalsy();
      if (tool.kind === 'money') {
        expect(record).toMatchObject({
          decision: 'deny',
          reason: 'daily_cap_exceeded',
          costUsd: '0.00',
          upstreamStatus: null,
        });
        expect(JSON.parse(text)).toBe(tool.failure);
        // What the tool asked for never reached Stripe; only Keybrake's pricing reads did.
        expect(arrived.filter((r) => requestOf(r) === tool.request)).toEqual([]);
        expect(arrived.every(isPricingRead)).toBe(true);
      } else {
        expect(record).toMatchObject({
          decision: 'allow',
          reason: 'ok',
          costUsd: '0.00',
          upstreamStatus: 200,
        });
        expect(arrived.filter((r) => requestOf(r) === tool.request)).toHaveLength(1);
      }
    },
  );
});

describe('nothing bypasses Keybrake, and no secret leaks', () => {
  it('sends every Stripe API call through Keybrake: the only other connection attempted was the docs search', () => {
    expect(outside.connects.every((c) => c === 'ai.stripe.com:443')).toBe(true);
    const audited = kb.audit.filter((r) => r.vendor === 'stripe' && r.upstreamStatus !== null).length;
    expect(audited).toBeGreaterThan(0);
  });

  it('never lets a vault token upstream, nor a secret into any output', () => {
    expect(atStripe.requests.length).toBeGreaterThan(0);
    const upstream = JSON.stringify(atStripe.requests);
    for (const token of Object.values(TOKENS)) {
      expect(upstream).not.toContain(token);
      expect(kb.output()).not.toContain(token);
      for (const server of Object.values(servers)) expect(server!.stderr()).not.toContain(token);
    }
    expect(seen.join('\n')).not.toContain(UPSTREAM_KEY);
    expect(kb.output()).not.toContain(UPSTREAM_KEY);
    for (const server of Object.values(servers)) expect(server!.stderr()).not.toContain(UPSTREAM_KEY);
  });
});
