// DNS rebinding against serve's admin listener (sixth round): a web page the agent's browser opens
// can make its own name resolve to 127.0.0.1 and then read /metrics (every key and its spend) and the
// run API's answers as a same-origin page. On loopback, the admin listener answers only requests
// addressed to an IP address or localhost; `keybrake run start` and `run stop` work against both.
// Bound to every address, it answers so on a connection that reached 127.0.0.1 too.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newToken } from '../../src/tokens/token.ts';
import { type KeybrakeProcess, manifestDir, runKeybrake, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { sendRaw } from '../hostile/raw-http.ts';
import { stripeKey, yamlDocuments } from './fixtures/stripe-manifests.ts';

const PARENT = newToken('stripe');

let dir: Awaited<ReturnType<typeof manifestDir>>;
let kb: KeybrakeProcess;
/** The same, its admin listener bound to every address (as the chart binds it in a Pod). */
let everywhere: KeybrakeProcess;
let work: string;
let tokenFile: string;

beforeAll(async () => {
  dir = await manifestDir({
    'keys.yaml': yamlDocuments(
      ...stripeKey({ name: 'bot', token: PARENT, upstreamKey: 'sk_test_adminhost0123456789' }),
    ),
  });
  // No upstream is reached: runs are started and stopped on the admin listener alone.
  kb = await startKeybrake(serveArgs(dir.dir, { stripe: 'http://127.0.0.1:9' }));
  const args = serveArgs(dir.dir, { stripe: 'http://127.0.0.1:9' });
  args[args.indexOf('--admin-listen') + 1] = '0.0.0.0:0';
  everywhere = await startKeybrake(args);
  work = await mkdtemp(path.join(tmpdir(), 'keybrake-admin-host-'));
  tokenFile = path.join(work, 'parent-token');
  await writeFile(tokenFile, `${PARENT}\n`, { mode: 0o600 });
});

afterAll(async () => {
  await kb?.stop();
  await everywhere?.stop();
  await dir?.remove();
  if (work) await rm(work, { recursive: true, force: true });
});

/** One request on a raw socket to the admin listener, naming `host` (none: HTTP/1.0 without Host). */
function adminRequest(target: string, host: string | undefined, method = 'GET', of = kb) {
  const head =
    host === undefined
      ? `${method} ${target} HTTP/1.0\r\n\r\n`
      : `${method} ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;
  return sendRaw(of.urls['admin']!, Buffer.from(head, 'latin1'));
}

describe("serve's admin listener on 127.0.0.1", () => {
  it.each([
    ['/metrics', 'GET'],
    ['/readyz', 'GET'],
    ['/v1/runs/agents/bot/some-run', 'DELETE'],
  ])('refuses %s for a rebound name with 421, answering nothing of the route', async (target, method) => {
    const res = await adminRequest(target, 'rebind.evil.example:9090', method);
    expect(res.status).toBe(421);
    expect(JSON.parse(res.body.toString('utf8'))).toMatchObject({ error: 'misdirected_request' });
    expect(res.raw).not.toMatch(/keybrake_calls_total|agents\/bot|snapshotVersion/);
  });

  it.each([
    ['127.0.0.1 and its port', () => new URL(kb.urls['admin']!).host],
    ['localhost and its port', () => `localhost:${new URL(kb.urls['admin']!).port}`],
    ['no Host (HTTP/1.0)', () => undefined],
  ])('answers /metrics for %s', async (_what, host) => {
    const res = await adminRequest('/metrics', host());
    expect(res.status).toBe(200);
    expect(res.body.toString('utf8')).toContain('keybrake_snapshot_version');
  });

  it.each([
    ['http://127.0.0.1', (port: string) => `http://127.0.0.1:${port}`],
    ['http://localhost', (port: string) => `http://localhost:${port}`],
  ])('keybrake run start and run stop work against --admin %s', async (_what, url) => {
    const admin = url(new URL(kb.urls['admin']!).port);
    const runId = `host-${admin.includes('localhost') ? 'localhost' : 'address'}`;
    const args = ['--admin', admin, '--token-file', tokenFile, '--key', 'agents/bot'];
    const started = await runKeybrake(['run', 'start', ...args, '--run-id', runId, '--cap', '1']);
    expect(started.stderr).toContain(`started run ${runId} of agents/bot`);
    expect(started.code).toBe(0);
    expect(await runKeybrake(['run', 'stop', ...args, runId])).toMatchObject({ code: 0, stdout: '' });
  });
});

// Eighth round: bound to 0.0.0.0 it answered a rebound name on 127.0.0.1 with the whole of /metrics.
describe("serve's admin listener on 0.0.0.0, reached on 127.0.0.1", () => {
  it('refuses /metrics for a rebound name with 421', async () => {
    const res = await adminRequest('/metrics', 'rebind.evil.example', 'GET', everywhere);
    expect(res.status).toBe(421);
    expect(res.raw).not.toMatch(/keybrake_/);
  });

  it.each([
    ['127.0.0.1 and its port', () => new URL(everywhere.urls['admin']!).host],
    ['localhost and its port', () => `localhost:${new URL(everywhere.urls['admin']!).port}`],
  ])('answers /metrics for %s', async (_what, host) => {
    const res = await adminRequest('/metrics', host(), 'GET', everywhere);
    expect(res.status).toBe(200);
    expect(res.body.toString('utf8')).toContain('keybrake_snapshot_version');
  });
});
