// `keybrake run exec` around the real resend-mcp 2.22.0 server (ADR 0010), spawned over stdio and driven
// by the MCP SDK client exactly as an agent host starts a session's MCP server: the host's command is
// `keybrake run exec --key … --cap … -- resend-mcp`. Every call of the session is audited under the
// run's id with no header anywhere, the run's own cap stops it, and the run is stopped when the host
// closes the session.
import { realpathSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESEND_EMULATOR_KEY, type ResendEmulator, startResendEmulator } from '../../src/emulators/resend.ts';
import { formatUsd } from '../../src/money/micro-usd.ts';
import { newToken } from '../../src/tokens/token.ts';
import { DEFAULT_RESEND_PRICES } from '../../src/vendors/resend/index.ts';
import { CLI, type KeybrakeProcess, manifestDir, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { connectMcpServer, type McpServer } from '../env/mcp.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const RESEND_MCP = realpathSync(path.join(ROOT, 'node_modules/.bin/resend-mcp'));
const SENDER = 'Support Bot <bot@acme.test>';
const PER_EMAIL = DEFAULT_RESEND_PRICES.perEmail;
const PARENT = newToken('resend');
/** Room for two single-recipient emails, not three. */
const CAP_USD = formatUsd(2 * PER_EMAIL + Math.floor(PER_EMAIL / 2));

const MANIFESTS = `
apiVersion: v1
kind: Secret
metadata: { name: resend-live, namespace: agents }
stringData: { apiKey: ${RESEND_EMULATOR_KEY} }
---
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: sessions, namespace: agents }
spec:
  vendor: resend
  limits: { perDayUsd: "1", perRunUsd: "0.5" }
  allow:
    endpoints: ["POST /emails", "GET /emails/**"]
    recipients: ["*@example.com"]
    senders: ["*@acme.test"]
---
apiVersion: v1
kind: Secret
metadata: { name: session-mailer-token, namespace: agents }
stringData: { token: ${PARENT} }
---
apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: session-mailer, namespace: agents }
spec:
  vendor: resend
  policyRef: { name: sessions }
  upstreamSecretRef: { name: resend-live, key: apiKey }
  tokenSecretRef: { name: session-mailer-token, key: token }
`;

type ToolResult = { isError?: boolean; content: { type: string; text?: string }[] };
const text = (r: ToolResult) => r.content.map((c) => c.text ?? '').join('\n');

let emulator: ResendEmulator;
let kb: KeybrakeProcess;
let dir: Awaited<ReturnType<typeof manifestDir>>;
let work: string;
let mcp: McpServer;

beforeAll(async () => {
  emulator = await startResendEmulator();
  dir = await manifestDir({ 'keys.yaml': MANIFESTS });
  kb = await startKeybrake(serveArgs(dir.dir, { resend: emulator.url }));
  work = await mkdtemp(path.join(tmpdir(), 'keybrake-mcp-run-'));
  const tokenFile = path.join(work, 'parent-token');
  await writeFile(tokenFile, PARENT, { mode: 0o600 });
  // What an agent host would put in its MCP server config: keybrake run exec around the server.
  mcp = await connectMcpServer({
    args: [
      CLI,
      'run',
      'exec',
      '--admin',
      kb.urls['admin']!,
      '--token-file',
      tokenFile,
      '--key',
      'agents/session-mailer',
      '--cap',
      CAP_USD,
      '--',
      process.execPath,
      RESEND_MCP,
    ],
    env: {
      RESEND_BASE_URL: `${kb.urls['main']}/resend`,
      SENDER_EMAIL_ADDRESS: SENDER,
      RESEND_DASHBOARD_URL: emulator.url,
    },
    cwd: dir.dir,
  });
});

afterAll(async () => {
  await mcp?.close();
  await kb?.stop();
  await emulator?.close();
  await dir?.remove();
  if (work) await rm(work, { recursive: true, force: true });
});

const send = async (to: string) =>
  (await mcp.client.callTool({
    name: 'send-email',
    arguments: { to: [to], subject: 'Your order', text: 'It has shipped.' },
  })) as ToolResult;

const sessionCalls = () => kb.audit.filter((r) => r['vaultKey'] === 'agents/session-mailer');

describe('keybrake run exec -- resend-mcp, driven by the MCP SDK client', () => {
  let runId: string;

  it('sends with the run key: every call audited under the run, with no header anywhere', async () => {
    const before = emulator.requests.length;
    const result = await send('ann@example.com');
    expect(result.isError, text(result)).toBeFalsy();
    const arrived = emulator.requests.slice(before);
    expect(arrived).toHaveLength(1);
    expect(arrived[0]!.headers.authorization).toBe(`Bearer ${RESEND_EMULATOR_KEY}`);
    expect(arrived[0]!.headers['keybrake-run-id']).toBeUndefined();
    const record = await kb.waitForAudit(
      (r) => r['vaultKey'] === 'agents/session-mailer' && r['decision'] === 'allow',
    );
    runId = record['runId'] as string;
    expect(runId).toMatch(/^run-[0-9a-f]{20}$/);
    expect(await kb.waitForLog((l) => l.msg === 'run started' && l['runId'] === runId)).toMatchObject({
      vaultKey: 'agents/session-mailer',
      capUsd: CAP_USD,
    });
  });

  it("is stopped by the run's own cap: the third email is refused to the model, never reaching Resend", async () => {
    expect((await send('ben@example.com')).isError).toBeFalsy();
    const before = emulator.requests.length;
    const third = await send('cat@example.com');
    expect(third.isError).toBe(true);
    expect(text(third)).toContain('spend cap for this run');
    expect(emulator.requests.length).toBe(before);
    await kb.waitForAudit((r) => r['reason'] === 'run_cap_exceeded' && r['runId'] === runId);
    const calls = sessionCalls();
    expect(calls.map((r) => r['decision'])).toEqual(['allow', 'allow', 'deny']);
    expect(calls.every((r) => r['runId'] === runId)).toBe(true);
  });

  it('stops the run when the host closes the session', async () => {
    await mcp.close();
    await kb.waitForLog((l) => l.msg === 'run stopped' && l['runId'] === runId, 15_000);
    expect(kb.output()).not.toContain(PARENT);
    expect(mcp.stderr()).not.toContain(PARENT);
  });
});
