// A run stop taken by an operator that loses the Lease while it reviews the caller (eleventh round,
// HIGH). Two real operators (a, b; no Redis, as the chart runs them without one), one real proxy, the
// Stripe emulator counting what reaches the upstream. Operator a reaches the apiserver through a relay
// that holds every byte, of open and new connections, until released: a partition that heals, or an
// apiserver slow to answer. The runner's DELETE reaches a while it leads; its SubjectAccessReview
// waits; b takes the Lease; the partition heals. a used to answer 200 with `proxies: 0` and no proxy
// nor b ever heard of the stop: the run key kept spending (3 charges forwarded in the probe). Now a
// answers 503 not leader, the runner's retry through the Service reaches b, and nothing is forwarded.
// Also (LOW): b's run API never says 404 "No such vault key is served" for the key while its table
// leaves the namespace out after the takeover; it says 503 not_ready until it serves it.
import { readFile } from 'node:fs/promises';
import { createServer, type Socket, connect as tcpConnect } from 'node:net';
import { Agent, Pool, request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type StripeEmulator, startStripeEmulator } from '../../src/emulators/stripe.ts';
import { injectedControlPlane } from '../env/control-plane/inject.ts';
import { type K8sSystem, startK8sSystem, tenantKubectl, until } from '../env/k8s-system.ts';
import { stripeUpstreamSecret, stripeVaultKey } from './fixtures.ts';

const cp = injectedControlPlane();
const SYSTEM_NS = 'runstopfo-system';
const TENANT = 'runstopfo-agents';
const REAL_KEY = 'sk_test_runstopfo_upstream_0000000000000';
const LEASE_ARGS = ['--lease-duration', '3s', '--renew-deadline', '2s', '--retry-period', '250ms'];

/**
 * A TCP relay that, once `hold()` is called, holds every byte of every connection, new ones too,
 * until `release()` delivers them in order (test/env/tcp-relay.ts lets new connections pass, and a
 * new connection would let the operator renew its Lease).
 */
async function holdingRelay(target: { host: string; port: number }) {
  let holding = false;
  const held: (() => void)[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    sockets.add(client);
    const start = () => {
      const up = tcpConnect(target.port, target.host);
      sockets.add(up);
      const pass = (from: Socket, to: Socket) =>
        from.on('data', (b: Buffer) => (holding ? held.push(() => to.write(b)) : to.write(b)));
      pass(client, up);
      pass(up, client);
      const end = () => {
        client.destroy();
        up.destroy();
      };
      for (const s of [client, up]) {
        s.on('error', end);
        s.on('close', end);
      }
    };
    if (holding) {
      client.pause();
      held.push(() => {
        client.resume();
        start();
      });
    } else start();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `https://127.0.0.1:${port}`,
    hold() {
      holding = true;
    },
    release() {
      holding = false;
      for (const f of held.splice(0)) f();
    },
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

let system: K8sSystem;
let stripe: StripeEmulator;
let relay: Awaited<ReturnType<typeof holdingRelay>>;
let pool: Pool;
let agent: Agent;
let runner = '';
const { kubectl, mintedToken } = tenantKubectl(cp, TENANT);

const chargePosts = () =>
  stripe.requests.filter((r) => r.method === 'POST' && r.path === '/v1/charges').length;

async function charge(token: string): Promise<string> {
  const res = await pool.request({
    path: '/v1/charges',
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'amount=100&currency=usd&source=tok_visa',
  });
  await res.body.dump();
  return /reason=([a-z_]+)/.exec(String(res.headers['keybrake-decision'] ?? ''))?.[1] ?? `${res.statusCode}`;
}

/** A read with `token`: Keybrake's reason (reads cost nothing of the run's cap). */
async function read(token: string): Promise<string> {
  const res = await pool.request({
    path: '/v1/customers?limit=1',
    method: 'GET',
    headers: { authorization: `Bearer ${token}` },
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
    headersTimeout: 120_000,
    bodyTimeout: 120_000,
  });
  const text = await res.body.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {}
  return { status: res.statusCode, body: parsed };
}

beforeAll(async () => {
  stripe = await startStripeEmulator({ validKeys: [REAL_KEY] });
  const apiserver = new URL(cp.server);
  relay = await holdingRelay({ host: apiserver.hostname, port: Number(apiserver.port) });
  await cp.kubectl(['create', 'namespace', TENANT]);
  system = await startK8sSystem({
    cp,
    namespace: SYSTEM_NS,
    operators: ['a', 'b'],
    proxies: 1,
    upstreams: { stripe: stripe.url },
    operatorArgs: LEASE_ARGS,
    operatorApiServers: { a: relay.url },
  });
  await until(async () => (await system.leaseHolder()) === 'a', 30_000, 'a leads');
  await system.proxies[0]!.waitReady(30_000);
  pool = new Pool(system.proxies[0]!.vendorUrls['stripe']!, { connections: 2 });
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
  const parent = await mintedToken('bot');
  await until(async () => (await charge(parent)) === 'ok', 30_000, 'bot served');
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
}, 180_000);

afterAll(async () => {
  relay?.release();
  await pool?.close();
  await agent?.close();
  await system?.stop();
  relay?.close();
  await stripe?.close();
  await cp.kubectl(['delete', 'namespace', TENANT, SYSTEM_NS, '--wait=false', '--ignore-not-found']);
});

it('answers a stop whose operator lost the Lease during its review 503 not leader; retried through the Service, nothing more is forwarded', async () => {
  const A = system.operators.get('a')!.url;
  const B = system.operators.get('b')!.url;
  const minted = await api(A, 'POST', '/v1/runs', { key: `${TENANT}/bot`, cap: '10', runId: 'agent-7' });
  expect(minted.status).toBe(201);
  const runKey = minted.body['token'] as string;
  expect(await charge(runKey)).toBe('ok');

  // a leads when the DELETE arrives; its `delete` SubjectAccessReview (not cached) waits on the relay.
  relay.hold();
  const stopping = api(A, 'DELETE', `/v1/runs/${TENANT}/bot/agent-7`);
  await until(async () => (await system.leaseHolder()) === 'b', 60_000, 'b leads');
  await until(async () => (await charge(await mintedToken('bot'))) === 'ok', 30_000, 'proxy serving under b');
  // The partition heals: a's review answers, after a stopped leading.
  relay.release();
  const stopped = await stopping;
  expect(stopped).toMatchObject({ status: 503, body: { error: 'not leader' } });

  // b's run API, until its table serves the namespace: never "no such vault key" (finding 3; a's
  // held writes, landing now, may have b confirm the namespace's claim again first).
  const answers: string[] = [];
  await until(
    async () => {
      const r = await api(B, 'POST', '/v1/runs', { key: `${TENANT}/bot`, cap: '1' });
      answers.push(`${r.status} ${String(r.body['error'] ?? '')}`.trim());
      return r.status === 201;
    },
    90_000,
    "b's run API mints",
  );
  expect(answers.filter((a) => !/^(201|503 not_ready)$/.test(a))).toEqual([]);
  console.log(
    `[run-stop-failover] b's run API after the takeover: ${JSON.stringify(answers.slice(0, 3))} … ${answers.length} answers`,
  );

  // What `run exec` / `run stop` do with a 503: retry, through the Service, which reaches b. a's
  // held writes, landing late, can have b confirm the namespace's claim again (the claim duration,
  // lease + proxy staleness: 33 s here): b answers 503 not_ready meanwhile, never 404 (finding 3).
  const retried: string[] = [];
  let again = { status: 0, body: {} as Record<string, unknown> };
  await until(
    async () => {
      again = await api(system.operatorServiceUrl, 'DELETE', `/v1/runs/${TENANT}/bot/agent-7`);
      retried.push(`${again.status} ${String(again.body['error'] ?? '')}`.trim());
      return again.status !== 503;
    },
    90_000,
    'the stop taken by the leader',
  ).catch(async (err: Error) => {
    const claimLines = (id: string) =>
      system.operators
        .get(id)!
        .process.output()
        .split('\n')
        .filter((l) => /claim|leading|leader/i.test(l))
        .slice(-8)
        .join('\n');
    throw new Error(
      `${err.message}: answers ${[...new Set(retried)].join(', ')}; lease holder ${await system.leaseHolder()}\na:\n${claimLines('a')}\nb:\n${claimLines('b')}`,
    );
  });
  expect(retried.filter((a) => !/^(200|503 not leader|503 not_ready)$/.test(a))).toEqual([]);
  console.log(
    `[run-stop-failover] the retried stop: ${retried.length} answers, ${new Set(retried).size} kinds (${[...new Set(retried)].join(', ')}); then ${JSON.stringify(again.body)}`,
  );
  let last = '';
  await until(
    // A stop taken while the proxy reconnects answers `proxies: 0` and reaches it on its reconnect.
    async () => {
      last = await read(runKey);
      return last === 'key_unknown';
    },
    10_000,
    'the run key refused',
  ).catch((err: Error) => {
    throw new Error(`${err.message}: last answer ${last}`);
  });
  const before = chargePosts();
  for (let i = 0; i < 3; i++) expect(await charge(runKey)).toBe('key_unknown');
  expect(chargePosts()).toBe(before);
  // b knows the stop: the id is not minted again.
  // (503 not_ready while b's table leaves the namespace out, as above: asked again.)
  let remint = { status: 0, body: {} as Record<string, unknown> };
  await until(
    async () => {
      remint = await api(B, 'POST', '/v1/runs', { key: `${TENANT}/bot`, runId: 'agent-7' });
      return !(remint.status === 503 && remint.body['error'] === 'not_ready');
    },
    90_000,
    "b's answer to a mint of agent-7",
  );
  expect(remint).toMatchObject({ status: 409, body: { error: 'run_stopped' } });
}, 240_000);
