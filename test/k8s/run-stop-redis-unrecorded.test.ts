// A run stop Redis did not record is no 200 (twelfth round, HIGH with preconditions). Found by a
// tester: with the operators' Redis cut at the moment of the stop (a Redis restart, a failover, a
// blip), the operator answered 200 `"redis":"failed"`, which `keybrake run` never read: `run stop`
// exited 0 and `run exec` retried nothing. The proxies connected then refused the key, but after a
// change of leader the new one read the stops from Redis, which lacked this one, and a proxy started
// afterwards admitted the stopped run's key for money (3 charges at the upstream in the probe). Now
// the operator answers 503 counter_store_unavailable (retryable, as `serve` does), `run stop` exits
// 1 saying so, and the stop retried once Redis answers is recorded: after the failover a new proxy
// refuses the key and nothing reaches the upstream.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Socket, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Agent, Pool, request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type StripeEmulator, startStripeEmulator } from '../../src/emulators/stripe.ts';
import { injectedControlPlane } from '../env/control-plane/inject.ts';
import { type K8sSystem, startK8sSystem, tenantKubectl, until } from '../env/k8s-system.ts';
import { CLI } from '../env/keybrake.ts';
import { type RedisServer, startRedis } from '../env/redis.ts';
import { stripeUpstreamSecret, stripeVaultKey } from './fixtures.ts';

const cp = injectedControlPlane();
const SYSTEM_NS = 'runstopredis-system';
const TENANT = 'runstopredis-agents';
const REAL_KEY = 'sk_test_runstopredis_upstream_000000000';
const LEASE_ARGS = ['--lease-duration', '3s', '--renew-deadline', '2s', '--retry-period', '250ms'];

/**
 * A TCP relay in front of Redis that, while down, resets every connection and refuses new ones: a
 * Redis restarting or failing over, as the operators see it (test/env/tcp-relay.ts lets new ones pass).
 */
async function cuttableRelay(targetPort: number) {
  let down = false;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    if (down) {
      client.destroy();
      return;
    }
    const up = tcpConnect(targetPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(up);
    client.pipe(up);
    up.pipe(client);
    const end = () => {
      client.destroy();
      up.destroy();
      sockets.delete(client);
      sockets.delete(up);
    };
    for (const s of [client, up]) {
      s.on('error', end);
      s.on('close', end);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `redis://127.0.0.1:${(server.address() as { port: number }).port}`,
    cut() {
      down = true;
      for (const s of sockets) s.destroy();
    },
    heal() {
      down = false;
    },
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

let system: K8sSystem;
let stripe: StripeEmulator;
let redis: RedisServer;
let relay: Awaited<ReturnType<typeof cuttableRelay>>;
let agent: Agent;
let work: string;
let tokenFile: string;
let runner = '';
const pools: Pool[] = [];
const { kubectl, mintedToken } = tenantKubectl(cp, TENANT);

const chargePosts = () =>
  stripe.requests.filter((r) => r.method === 'POST' && r.path === '/v1/charges').length;

async function charge(pool: Pool, token: string): Promise<string> {
  const res = await pool.request({
    path: '/v1/charges',
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'amount=100&currency=usd&source=tok_visa',
  });
  await res.body.dump();
  return /reason=([a-z_]+)/.exec(String(res.headers['keybrake-decision'] ?? ''))?.[1] ?? `${res.statusCode}`;
}

async function api(base: string, method: 'POST' | 'DELETE', pathname: string, body?: unknown) {
  const res = await request(`${base}${pathname}`, {
    method,
    dispatcher: agent,
    headers: {
      authorization: `Bearer ${runner}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    headersTimeout: 60_000,
    bodyTimeout: 60_000,
  });
  return { status: res.statusCode, body: JSON.parse(await res.body.text()) as Record<string, unknown> };
}

/** `keybrake run stop` through operator a: its exit code and stderr. */
async function runStop(runId: string): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(
    process.execPath,
    [
      CLI,
      'run',
      'stop',
      '--key',
      `${TENANT}/bot`,
      '--operator',
      system.operators.get('a')!.url,
      '--operator-ca',
      system.caFile,
      '--token-file',
      tokenFile,
      runId,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stderr };
}

beforeAll(async () => {
  stripe = await startStripeEmulator({ validKeys: [REAL_KEY] });
  redis = await startRedis();
  relay = await cuttableRelay(redis.port);
  work = await mkdtemp(path.join(tmpdir(), 'keybrake-run-stop-redis-'));
  await cp.kubectl(['create', 'namespace', TENANT]);
  system = await startK8sSystem({
    cp,
    namespace: SYSTEM_NS,
    operators: ['a', 'b'],
    proxies: 1,
    upstreams: { stripe: stripe.url },
    operatorArgs: [...LEASE_ARGS, '--redis', relay.url],
    proxyArgs: ['--redis', redis.url],
  });
  await until(async () => (await system.leaseHolder()) === 'a', 30_000, 'a leads');
  await system.proxies[0]!.waitReady(30_000);
  pools.push(new Pool(system.proxies[0]!.vendorUrls['stripe']!, { connections: 2 }));
  agent = new Agent({ connect: { ca: await readFile(system.caFile) } });
  await kubectl(
    ['apply', '-f', '-'],
    `${stripeUpstreamSecret(REAL_KEY)}
---
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: runs }
spec: { vendor: stripe, limits: { perRunUsd: "20", perDayUsd: "1000" } }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: runner }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: runner-mints }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ${SYSTEM_NS}-keybrake-run-minter }
subjects: [{ kind: ServiceAccount, name: runner, namespace: ${TENANT} }]
---${stripeVaultKey('bot', 'runs')}`,
  );
  const r = await cp.kubectl([
    'create',
    'token',
    'runner',
    '-n',
    TENANT,
    '--audience',
    'keybrake',
    '--duration',
    '1h',
  ]);
  if (r.code !== 0) throw new Error(r.stderr);
  runner = r.stdout.trim();
  tokenFile = path.join(work, 'runner.token');
  await writeFile(tokenFile, runner, { mode: 0o600 });
}, 180_000);

afterAll(async () => {
  relay?.heal();
  for (const p of pools) await p.close();
  await agent?.close();
  await system?.stop();
  relay?.close();
  await redis?.stop();
  await stripe?.close();
  if (work) await rm(work, { recursive: true, force: true });
  await cp.kubectl(['delete', 'namespace', TENANT, SYSTEM_NS, '--wait=false', '--ignore-not-found']);
});

it('answers a stop Redis did not record 503 counter_store_unavailable, run stop exits 1, and the stop retried once Redis answers holds after a failover', async () => {
  const parent = await mintedToken('bot');
  const p0 = pools[0]!;
  await until(async () => (await charge(p0, parent)) === 'ok', 60_000, 'bot served');
  const A = system.operators.get('a')!.url;
  const minted = await api(A, 'POST', '/v1/runs', {
    key: `${TENANT}/bot`,
    cap: '10',
    runId: 'agent-9',
    ttl: '24h',
  });
  expect(minted.status).toBe(201);
  const runKey = String(minted.body['token']);
  expect(await charge(p0, runKey)).toBe('ok');

  // Redis blips for the operators at the moment of the stop.
  relay.cut();
  const byHand = await api(A, 'DELETE', `/v1/runs/${TENANT}/bot/agent-10`);
  expect(byHand).toMatchObject({ status: 503, body: { error: 'counter_store_unavailable' } });
  const refused = await runStop('agent-9');
  expect(refused.code, refused.stderr).toBe(1);
  expect(refused.stderr).toContain('503 counter_store_unavailable');
  expect(refused.stderr).not.toContain('stopped run agent-9');
  // Stopped on the proxies connected now all the same.
  expect(await charge(p0, runKey)).toBe('key_unknown');

  relay.heal();
  // The retry (what `run exec` does by itself) once the operators' Redis answers again.
  let retried = { code: null as number | null, stderr: '' };
  await until(
    async () => {
      retried = await runStop('agent-9');
      return retried.code === 0;
    },
    60_000,
    'run stop to succeed once Redis answers',
    250,
  );
  expect(retried.stderr).toContain('stopped run agent-9');

  // A rollout: the leader goes, b leads (reading the stops from Redis), a proxy is added.
  await system.operators.get('a')!.process.stop();
  await until(async () => (await system.leaseHolder()) === 'b', 30_000, 'b leads');
  const added = await system.startProxy();
  await added.waitReady(60_000);
  const p1 = new Pool(added.vendorUrls['stripe']!, { connections: 2 });
  pools.push(p1);
  await until(async () => (await charge(p1, parent)) === 'ok', 90_000, 'the new proxy serving bot');
  const before = chargePosts();
  const answers = new Set<string>();
  for (let i = 0; i < 3; i++) {
    answers.add(await charge(p1, runKey));
    answers.add(await charge(p0, runKey));
  }
  expect(chargePosts() - before, "charges at the upstream with the stopped run's key").toBe(0);
  expect([...answers]).toEqual(['key_unknown']);
}, 300_000);
