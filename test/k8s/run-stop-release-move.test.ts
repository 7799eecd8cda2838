// A run stopped under one release stays stopped once its namespace moves to another (twelfth round,
// HIGH). Found by a tester: stops live in the releasing operator's memory and Redis, and revocations
// alone travel with the namespace (ConfigMap keybrake-revocations), so after the move
// docs/kubernetes.md describes (install a release watching the namespace, uninstall the first) the
// stopped run's key charged again through the new release (3 charges at the upstream), with its cap
// counted afresh. Now a release mixes the claim it holds (its holder and the acquireTime it wrote on
// taking it) into the run secrets of the namespace's keys: every run key minted under the earlier
// claim is key_unknown, stopped or not; runs minted by the new release work, and survive a failover
// within it (a leader keeps its release's acquireTime).
import { readFile } from 'node:fs/promises';
import { Agent, Pool, request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type StripeEmulator, startStripeEmulator } from '../../src/emulators/stripe.ts';
import { injectedControlPlane } from '../env/control-plane/inject.ts';
import { type K8sSystem, startK8sSystem, tenantKubectl, until } from '../env/k8s-system.ts';
import { stripeUpstreamSecret, stripeVaultKey } from './fixtures.ts';
import { SHORT_CLAIM_ARGS } from './two-releases.ts';

const cp = injectedControlPlane();
const FIRST_NS = 'runmove-first';
const SECOND_NS = 'runmove-second';
const TENANT = 'runmove-agents';
const REAL_KEY = 'sk_test_runmove_upstream_00000000000000';

let stripe: StripeEmulator;
let first: K8sSystem | undefined;
let second: K8sSystem | undefined;
const pools: Pool[] = [];
const agents: Agent[] = [];
let runner = '';
const { kubectl, mintedToken } = tenantKubectl(cp, TENANT);

const bindRunner = (release: string) => `
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: runner-mints-${release} }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ${release}-keybrake-run-minter }
subjects: [{ kind: ServiceAccount, name: runner, namespace: ${TENANT} }]
`;

/** Charges that reached the upstream (the proxies forward only with the real key). */
const chargePosts = () =>
  stripe.requests.filter((r) => r.method === 'POST' && r.path === '/v1/charges').length;

/** A $1 charge: Keybrake's reason (`ok` when allowed), or the status when there is none. */
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

async function read(pool: Pool, token: string): Promise<string> {
  const res = await pool.request({
    path: '/v1/customers?limit=1',
    method: 'GET',
    headers: { authorization: `Bearer ${token}` },
  });
  await res.body.dump();
  return /reason=([a-z_]+)/.exec(String(res.headers['keybrake-decision'] ?? ''))?.[1] ?? `${res.statusCode}`;
}

/** The run API of one operator (its release's CA), as the runner's ServiceAccount. */
async function runApi(
  system: K8sSystem,
  identity: string,
  method: 'POST' | 'DELETE',
  path: string,
  body?: unknown,
) {
  const agent = new Agent({ connect: { ca: await readFile(system.caFile) } });
  agents.push(agent);
  const res = await request(`${system.operators.get(identity)!.url}${path}`, {
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
  const parsed = JSON.parse(await res.body.text()) as Record<string, unknown>;
  return { status: res.statusCode, body: parsed };
}

beforeAll(async () => {
  stripe = await startStripeEmulator({ validKeys: [REAL_KEY] });
  await cp.kubectl(['create', 'namespace', TENANT]);
  first = await startK8sSystem({
    cp,
    namespace: FIRST_NS,
    proxies: 1,
    upstreams: { stripe: stripe.url },
    operatorArgs: SHORT_CLAIM_ARGS,
    proxyArgs: ['--max-staleness', '2s'],
  });
  await first.proxies[0]!.waitReady(30_000);
  pools.push(new Pool(first.proxies[0]!.vendorUrls['stripe']!, { connections: 2 }));
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
---${bindRunner(FIRST_NS)}---${bindRunner(SECOND_NS)}---${stripeVaultKey('bot', 'runs')}`,
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
}, 180_000);

afterAll(async () => {
  for (const p of pools) await p.close();
  for (const a of agents) await a.close();
  await first?.stop();
  await second?.stop();
  await stripe?.close();
  await cp.kubectl([
    'delete',
    'namespace',
    TENANT,
    FIRST_NS,
    SECOND_NS,
    '--wait=false',
    '--ignore-not-found',
  ]);
});

it("refuses the runs of the release a namespace moved from, a stopped one above all; the new release's runs work and survive its failover", async () => {
  const parent = await mintedToken('bot');
  const p1 = pools[0]!;
  await until(async () => (await charge(p1, parent)) === 'ok', 60_000, 'bot served by the first release');

  const stoppedRun = await runApi(first!, 'a', 'POST', '/v1/runs', {
    key: `${TENANT}/bot`,
    cap: '10',
    runId: 'agent-7',
    ttl: '24h',
  });
  const liveRun = await runApi(first!, 'a', 'POST', '/v1/runs', {
    key: `${TENANT}/bot`,
    runId: 'agent-8',
    ttl: '24h',
  });
  expect([stoppedRun.status, liveRun.status]).toEqual([201, 201]);
  const stoppedKey = String(stoppedRun.body['token']);
  const liveKey = String(liveRun.body['token']);
  expect(await charge(p1, stoppedKey)).toBe('ok');
  expect(await charge(p1, liveKey)).toBe('ok');
  const stop = await runApi(first!, 'a', 'DELETE', `/v1/runs/${TENANT}/bot/agent-7`);
  expect(stop.status).toBe(200);
  expect(await charge(p1, stoppedKey)).toBe('key_unknown');

  // The move: a second release watching the namespace, then the first uninstalled.
  second = await startK8sSystem({
    cp,
    namespace: SECOND_NS,
    operators: ['a', 'b'],
    proxies: 1,
    upstreams: { stripe: stripe.url },
    operatorArgs: [...SHORT_CLAIM_ARGS, '--namespace', TENANT],
    proxyArgs: ['--max-staleness', '2s'],
  });
  await until(async () => (await second!.leaseHolder()) === 'a', 30_000, 'a leads the second release');
  await second.proxies[0]!.waitReady(30_000);
  const p2 = new Pool(second.proxies[0]!.vendorUrls['stripe']!, { connections: 2 });
  pools.push(p2);
  await first!.stop();
  first = undefined;
  await until(async () => (await charge(p2, parent)) === 'ok', 120_000, 'bot served by the second release');

  const before = chargePosts();
  const answers = new Set<string>();
  for (let i = 0; i < 3; i++) {
    answers.add(`stopped charge ${await charge(p2, stoppedKey)}`);
    answers.add(`stopped read ${await read(p2, stoppedKey)}`);
    answers.add(`earlier run ${await charge(p2, liveKey)}`);
  }
  expect(chargePosts() - before, "charges at the upstream with the first release's run keys").toBe(0);
  expect([...answers].sort()).toEqual([
    'earlier run key_unknown',
    'stopped charge key_unknown',
    'stopped read key_unknown',
  ]);

  // The second release's own runs: minted, spending, and kept across a failover of its leader.
  const fresh = await runApi(second, 'a', 'POST', '/v1/runs', {
    key: `${TENANT}/bot`,
    runId: 'agent-9',
    ttl: '1h',
  });
  expect(fresh.status).toBe(201);
  const freshKey = String(fresh.body['token']);
  expect(await charge(p2, freshKey)).toBe('ok');
  const version = (await second.proxies[0]!.snapshotVersion()) ?? 0;
  await second.operators.get('a')!.process.stop();
  await until(async () => (await second!.leaseHolder()) === 'b', 30_000, 'b leads the second release');
  // The proxy follows b's table once it is there and serves the namespace.
  await until(
    async () =>
      ((await second!.proxies[0]!.snapshotVersion()) ?? 0) > version && (await charge(p2, parent)) === 'ok',
    90_000,
    "the proxy on b's table, serving the namespace",
  );
  // The run survives the failover: b serves the namespace under the acquireTime a wrote, so at once.
  // (Fifteenth round: under load, a stopped ~130 ms after taking the first release's lapsed claim,
  // before b's standby read showed its release holding it; b, leading, took the claim for one handed
  // over by hand and wrote a new acquireTime, ending the run: key_unknown for good.)
  expect(await charge(p2, freshKey), "the second release's run after its failover").toBe('ok');
  expect(await charge(p2, stoppedKey)).toBe('key_unknown');
}, 300_000);
