// The real resend-mcp 2.22.0 server, spawned over stdio and driven by the MCP SDK client exactly as an
// agent host drives it, with only RESEND_API_KEY (the vault token) and RESEND_BASE_URL (Keybrake)
// changed: an allowed send-email reaches the Resend emulator with the real key; a denied one comes
// back to the model as an isError tool result carrying Keybrake's message.
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESEND_EMULATOR_KEY, type ResendEmulator, startResendEmulator } from '../../src/emulators/resend.ts';
import { formatUsd } from '../../src/money/micro-usd.ts';
import { newToken } from '../../src/tokens/token.ts';
import { DEFAULT_RESEND_PRICES } from '../../src/vendors/resend/index.ts';
import { type KeybrakeProcess, manifestDir, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { connectMcpServer, type McpServer } from '../env/mcp.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const RESEND_MCP = realpathSync(path.join(ROOT, 'node_modules/.bin/resend-mcp'));
const SENDER = 'Support Bot <bot@acme.test>';
const token = newToken('resend');

const MANIFESTS = `
apiVersion: v1
kind: Secret
metadata: { name: resend-live, namespace: agents }
stringData: { apiKey: ${RESEND_EMULATOR_KEY} }
---
apiVersion: v1
kind: Secret
metadata: { name: mcp-mailer-token, namespace: agents }
stringData: { token: ${token} }
---
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: mcp-mailer, namespace: agents }
spec:
  vendor: resend
  limits: { perDayUsd: "1" }
  allow:
    endpoints: ["POST /emails", "GET /emails/**"]
    recipients: ["*@example.com"]
    senders: ["*@acme.test"]
---
apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: mcp-mailer, namespace: agents }
spec:
  vendor: resend
  policyRef: { name: mcp-mailer }
  upstreamSecretRef: { name: resend-live, key: apiKey }
  tokenSecretRef: { name: mcp-mailer-token, key: token }
`;

let emulator: ResendEmulator;
let kb: KeybrakeProcess;
let dir: Awaited<ReturnType<typeof manifestDir>>;
let mcp: McpServer;
/** Every tool result text the model would have seen. */
const seen: string[] = [];

type ToolResult = { isError?: boolean; content: { type: string; text?: string }[] };

function text(result: ToolResult): string {
  return result.content.map((c) => c.text ?? '').join('\n');
}

async function sendEmail(to: string[]): Promise<ToolResult> {
  const result = (await mcp.client.callTool({
    name: 'send-email',
    arguments: { to, subject: 'Your order', text: 'It has shipped.' },
  })) as ToolResult;
  seen.push(text(result));
  return result;
}

beforeAll(async () => {
  emulator = await startResendEmulator();
  dir = await manifestDir({ 'keys.yaml': MANIFESTS });
  kb = await startKeybrake(serveArgs(dir.dir, { resend: emulator.url }));
  mcp = await connectMcpServer({
    args: [RESEND_MCP],
    env: {
      RESEND_API_KEY: token,
      RESEND_BASE_URL: `${kb.urls['main']}/resend`,
      SENDER_EMAIL_ADDRESS: SENDER,
    },
    cwd: dir.dir,
  });
});

afterAll(async () => {
  await mcp?.close();
  await kb?.stop();
  await emulator?.close();
  await dir?.remove();
});

describe('resend-mcp through Keybrake', () => {
  it('lists send-email among its tools, taking recipients as `to`', async () => {
    const { tools } = await mcp.client.listTools();
    const send = tools.find((t) => t.name === 'send-email');
    expect(send?.inputSchema.properties).toHaveProperty('to');
  });

  it('sends an allowed email that reaches Resend with the real key', async () => {
    const before = emulator.requests.length;

    const result = await sendEmail(['ann@example.com']);

    expect(result.isError).toBeFalsy();
    expect(text(result)).toContain('Email sent successfully');
    const arrived = emulator.requests.slice(before);
    expect(arrived).toHaveLength(1);
    expect(arrived[0]).toMatchObject({ method: 'POST', path: '/emails' });
    expect(arrived[0]!.headers.authorization).toBe(`Bearer ${RESEND_EMULATOR_KEY}`);
    // It really is the MCP server's own Resend client talking, not this test.
    expect(arrived[0]!.headers['user-agent']).toBe('resend-mcp:2.22.0');
    expect(JSON.parse(arrived[0]!.body)).toMatchObject({ to: ['ann@example.com'], from: SENDER });
    expect(
      await kb.waitForAudit((r) => r['vaultKey'] === 'agents/mcp-mailer' && r['decision'] === 'allow'),
    ).toMatchObject({ operation: 'resend.emails.send', costUsd: formatUsd(DEFAULT_RESEND_PRICES.perEmail) });
  });

  it('returns a denied send to the model as an isError result with our message, without reaching Resend', async () => {
    const before = emulator.requests.length;

    const result = await sendEmail(['ann@example.com', 'bob@other.test']);

    expect(result.isError).toBe(true);
    expect(text(result)).toContain("Recipient bob@other.test is not in this key's recipient allowlist.");
    expect(text(result)).toContain('restricted_api_key');
    expect(emulator.requests.length).toBe(before);
    expect(
      await kb.waitForAudit((r) => r['vaultKey'] === 'agents/mcp-mailer' && r['decision'] === 'deny'),
    ).toMatchObject({ reason: 'recipient_not_allowed', costUsd: '0.00' });
  });

  it('keeps the real key out of everything the agent side sees, and both secrets out of the proxy output', () => {
    expect(seen).toHaveLength(2);
    expect(seen.join('\n')).not.toContain(RESEND_EMULATOR_KEY);
    expect(mcp.stderr()).not.toContain(RESEND_EMULATOR_KEY);
    expect(kb.output()).not.toContain(token);
    expect(kb.output()).not.toContain(RESEND_EMULATOR_KEY);
  });
});
