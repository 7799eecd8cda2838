// Run keys in Kubernetes mode (ADR 0010): the real `keybrake operator` and three real `keybrake proxy`
// processes on the test control plane (the chart's RBAC, run-minter role included), Redis shared, the
// real `keybrake run` CLI and the stripe SDK. Minting is authorised by RBAC: a ServiceAccount bound to
// the run-minter role may, one without is refused with 403. Mint, use, cap, expire, stop (measured on
// the three proxies), parent suspension (a pause), new parent token and revoke.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import Stripe from 'stripe';
import { Agent, Pool, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StripeEmulator, startStripeEmulator } from '../../src/emulators/stripe.ts';
import { injectedControlPlane } from '../env/control-plane/inject.ts';
import { type K8sSystem, startK8sSystem, tenantKubectl, until } from '../env/k8s-system.ts';
import { runKeybrake } from '../env/keybrake.ts';
import { type RedisServer, startRedis } from '../env/redis.ts';
import { stripeUpstreamSecret, stripeVaultKey } from './fixtures.ts';

const cp = injectedControlPlane();
const SYSTEM_NS = 'runkeys-system';
const TENANT = 'runkeys-agents';
const FULLNAME = `${SYSTEM_NS}-keybrake`;
const REAL_KEY = 'sk_test_runkeys_upstream_00000000000000';
const TRIALS = 20;
const P99_BOUND_MS = Number(process.env['KEYBRAKE_REVOKE_P99_MS'] ?? 200);

const BASE = `${stripeUpstreamSecret(REAL_KEY)}
---
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: runs }
spec:
  vendor: stripe
  limits: { perRunUsd: "20", perDayUsd: "100000" }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: runner }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: intruder }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: { name: runner-mints }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ${FULLNAME}-run-minter }
subjects: [{ kind: ServiceAccount, name: runner, namespace: ${TENANT} }]
`;

let system: K8sSystem;
let stripe: StripeEmulator;
let redis: RedisServer;
let work: string;
let pools: Pool[] = [];
let operatorAgent: Agent;
const files = { runner: '', intruder: '', wrongAudience: '' };
const { kubectl, mintedToken } = tenantKubectl(cp, TENANT);

/** `keybrake run …` against the operator, as a ServiceAccount. */
const run = (args: string[], as: keyof typeof files = 'runner') =>
  runKeybrake(
    [
      'run',
      ...args,
      '--operator',
      system.operatorServiceUrl,
      '--operator-ca',
      system.caFile,
      '--token-file',
      files[as],
    ],
    { timeoutMs: 30_000 },
  );

async function api(method: 'POST' | 'DELETE', pathname: string, token: string, body?: unknown) {
  const res = await request(`${system.operatorServiceUrl}${pathname}`, {
    method,
    dispatcher: operatorAgent,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
}

interface Answer {
  status: number;
  reason: string | undefined;
}

async function probe(pool: Pool, token: string, method: 'GET' | 'POST' = 'GET'): Promise<Answer> {
  const res = await pool.request({
    path: method === 'GET' ? '/v1/customers?limit=1' : '/v1/charges',
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
    },
    ...(method === 'POST' ? { body: 'amount=100&currency=usd&source=tok_visa' } : {}),
  });
  await res.body.dump();
  return {
    status: res.statusCode,
    reason: /reason=([a-z_]+)/.exec(String(res.headers['keybrake-decision'] ?? ''))?.[1],
  };
}

const everyProxy = (what: string, check: (pool: Pool) => Promise<boolean>, timeoutMs = 20_000) =>
  Promise.all(pools.map((pool, i) => until(() => check(pool), timeoutMs, `proxy ${i}: ${what}`)));

const chargePosts = () =>
  stripe.requests.filter((r) => r.method === 'POST' && r.path === '/v1/charges').length;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] ?? Number.NaN;
}

beforeAll(async () => {
  stripe = await startStripeEmulator({ validKeys: [REAL_KEY] });
  redis = await startRedis();
  await cp.kubectl(['create', 'namespace', TENANT]);
  system = await startK8sSystem({
    cp,
    namespace: SYSTEM_NS,
    proxies: 3,
    upstreams: { stripe: stripe.url },
    operatorArgs: ['--redis', redis.url],
    proxyArgs: ['--redis', redis.url, '--redis-timeout', '1000'],
  });
  await Promise.all(system.proxies.map((p) => p.waitReady()));
  pools = system.proxies.map((p) => new Pool(p.vendorUrls['stripe']!, { connections: 2, pipelining: 1 }));
  operatorAgent = new Agent({
    connect: { ca: await import('node:fs/promises').then((f) => f.readFile(system.caFile)) },
  });
  await kubectl(
    ['apply', '-f', '-'],
    `${BASE}---${stripeVaultKey('bot', 'runs')}---${stripeVaultKey('doomed', 'runs')}`,
  );
  work = await mkdtemp(path.join(tmpdir(), 'keybrake-k8s-runs-'));
  const token = async (sa: string, audience: string) => {
    const r = await cp.kubectl([
      'create',
      'token',
      sa,
      '-n',
      TENANT,
      '--audience',
      audience,
      '--duration',
      '1h',
    ]);
    if (r.code !== 0) throw new Error(r.stderr);
    return r.stdout.trim();
  };
  for (const [name, sa, audience] of [
    ['runner', 'runner', 'keybrake'],
    ['intruder', 'intruder', 'keybrake'],
    ['wrongAudience', 'runner', 'https://kubernetes.default.svc'],
  ] as const) {
    files[name] = path.join(work, name);
    await writeFile(files[name], await token(sa, audience), { mode: 0o600 });
  }
  // Served on every proxy before any run is minted from it.
  for (const key of ['bot', 'doomed']) {
    const parent = await mintedToken(key);
    await everyProxy(`${key} served`, async (pool) => (await probe(pool, parent)).status === 200);
  }
});

afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
  await operatorAgent?.close();
  await system?.stop();
  await stripe?.close();
  await redis?.stop();
  if (work) await rm(work, { recursive: true, force: true });
  await cp.kubectl(['delete', 'namespace', TENANT, SYSTEM_NS, '--wait=false', '--ignore-not-found']);
});

describe('minting is authorised by RBAC (create/delete on vaultkeys/runs)', () => {
  it('mints for the runner ServiceAccount: the run key alone on stdout', async () => {
    const r = await run(['start', '--key', `${TENANT}/bot`, '--cap', '5', '--run-id', 'rbac-ok']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^kb_stripe_r1_[A-Za-z0-9_-]+\n$/);
  });

  it('refuses a ServiceAccount without the permission with 403, to start and to stop', async () => {
    const started = await run(['start', '--key', `${TENANT}/bot`], 'intruder');
    expect(started.code).toBe(1);
    expect(started.stdout).toBe('');
    expect(started.stderr).toContain('answered 403 forbidden');
    expect(started.stderr).toContain(`system:serviceaccount:${TENANT}:intruder`);
    const stopped = await run(['stop', '--key', `${TENANT}/bot`, 'rbac-ok'], 'intruder');
    expect(stopped.stderr).toContain('answered 403 forbidden');
    // The run the intruder tried to stop still works.
  });

  it('refuses a token without the keybrake audience, and no token, with 401', async () => {
    const r = await run(['start', '--key', `${TENANT}/bot`], 'wrongAudience');
    expect(r.stderr).toContain('answered 401 unauthenticated');
    const res = await request(`${system.operatorServiceUrl}/v1/runs`, {
      method: 'POST',
      dispatcher: operatorAgent,
      body: '{}',
    });
    expect(res.statusCode).toBe(401);
    await res.body.dump();
  });
});

describe('a run key minted by the operator, on three proxies sharing Redis', () => {
  it('is capped at its own $5 exactly across the three, and audited under its run on each, with no header', async () => {
    const r = await run(['start', '--key', `${TENANT}/bot`, '--cap', '5', '--run-id', 'k8s-cap']);
    const token = r.stdout.trim();
    const clients = system.proxies.map((p) => {
      const url = new URL(p.vendorUrls['stripe']!);
      return new Stripe(token, {
        host: url.hostname,
        port: Number(url.port),
        protocol: 'http',
        maxNetworkRetries: 0,
      });
    });
    const before = chargePosts();
    const results = await Promise.allSettled(
      Array.from({ length: 60 }, (_, i) =>
        clients[i % 3]!.charges.create({ amount: 100, currency: 'usd', source: 'tok_visa' }),
      ),
    );
    expect(results.filter((x) => x.status === 'fulfilled')).toHaveLength(5);
    const codes = results.flatMap((x) =>
      x.status === 'rejected' ? [(x.reason as { code?: string }).code] : [],
    );
    expect(codes.every((c) => c === 'run_cap_exceeded')).toBe(true);
    expect(chargePosts() - before).toBe(5);
    for (const p of system.proxies) {
      await p.process.waitForAudit((a) => a['runId'] === 'k8s-cap');
      const mine = p.process.audit.filter(
        (a) => a['path'] === '/v1/charges' && a['vaultKey'] === `${TENANT}/bot`,
      );
      expect(mine.every((a) => a['runId'] === 'k8s-cap')).toBe(true);
      expect(p.process.output()).not.toContain(token);
    }
  });

  it('expires at its TTL on every proxy', async () => {
    const token = (await run(['start', '--key', `${TENANT}/bot`, '--ttl', '1s'])).stdout.trim();
    for (const pool of pools) expect((await probe(pool, token)).status).toBe(200);
    await everyProxy(
      'key_expired',
      async (pool) => (await probe(pool, token)).reason === 'key_expired',
      10_000,
    );
  });

  it(`is refused on all three within the revoke target once stopped (${TRIALS} trials); money at once`, async () => {
    const runner = (await import('node:fs/promises').then((f) => f.readFile(files.runner, 'utf8'))).trim();
    const all: number[] = [];
    const each: number[] = [];
    const apiMs: number[] = [];
    for (let trial = 0; trial < TRIALS; trial++) {
      const started = await api('POST', '/v1/runs', runner, { key: `${TENANT}/bot` });
      expect(started.status).toBe(201);
      const token = started.body['token'] as string;
      const runId = started.body['runId'] as string;
      for (const pool of pools) expect((await probe(pool, token)).status).toBe(200);
      let sentAt = 0;
      const denials = pools.map(async (pool, i) => {
        const deadline = Date.now() + 10_000;
        for (;;) {
          const got = await probe(pool, token);
          const at = performance.now();
          if (got.status !== 200) {
            if (got.reason !== 'key_unknown') throw new Error(`proxy ${i} answered ${JSON.stringify(got)}`);
            return at;
          }
          if (Date.now() > deadline) throw new Error(`proxy ${i} still allows a stopped run 10 s later`);
          await delay(2);
        }
      });
      sentAt = performance.now();
      const stopped = await api('DELETE', `/v1/runs/${TENANT}/bot/${runId}`, runner);
      apiMs.push(performance.now() - sentAt);
      expect(stopped).toMatchObject({
        status: 200,
        body: { proxies: 3, acknowledged: 3, redis: 'recorded' },
      });
      const before = chargePosts();
      for (const pool of pools)
        expect(await probe(pool, token, 'POST')).toEqual({ status: 401, reason: 'key_unknown' });
      expect(chargePosts()).toBe(before);
      const per = (await Promise.all(denials)).map((at) => at - sentAt);
      each.push(...per);
      all.push(Math.max(...per));
    }
    const figures = {
      what: 'run stop (operator → 3 proxies: stream + Redis)',
      trials: TRIALS,
      p50AllMs: Math.round(percentile(all, 0.5) * 10) / 10,
      p99AllMs: Math.round(percentile(all, 0.99) * 10) / 10,
      p50PerProxyMs: Math.round(percentile(each, 0.5) * 10) / 10,
      p99PerProxyMs: Math.round(percentile(each, 0.99) * 10) / 10,
      // The DELETE answers once every proxy has acknowledged: an upper bound of the whole stop.
      p50StopAnsweredMs: Math.round(percentile(apiMs, 0.5) * 10) / 10,
      p99StopAnsweredMs: Math.round(percentile(apiMs, 0.99) * 10) / 10,
    };
    console.log(`[run-stop] ${JSON.stringify(figures)}`);
    const leader = [...system.operators.values()][0]!.process;
    const logged = leader
      .output()
      .split('\n')
      .filter((l) => l.includes('"msg":"run stopped"'))
      .map((l) => JSON.parse(l) as { reviewMs: number; propagationMs: number });
    console.log(
      `[run-stop] operator: review (TokenReview + SubjectAccessReview) p50 ${percentile(
        logged.map((l) => l.reviewMs),
        0.5,
      )} ms p99 ${percentile(
        logged.map((l) => l.reviewMs),
        0.99,
      )} ms; stream + Redis until every ack p50 ${percentile(
        logged.map((l) => l.propagationMs),
        0.5,
      )} ms p99 ${percentile(
        logged.map((l) => l.propagationMs),
        0.99,
      )} ms`,
    );
    expect(figures.p99AllMs).toBeLessThan(P99_BOUND_MS);
  });

  it('stops with the CLI too, and a stopped run id cannot be minted again', async () => {
    const token = (await run(['start', '--key', `${TENANT}/bot`, '--run-id', 'cli-stop'])).stdout.trim();
    const stopped = await run(['stop', '--key', `${TENANT}/bot`, 'cli-stop']);
    expect(stopped.code, stopped.stderr).toBe(0);
    for (const pool of pools)
      expect(await probe(pool, token)).toEqual({ status: 401, reason: 'key_unknown' });
    const again = await run(['start', '--key', `${TENANT}/bot`, '--run-id', 'cli-stop']);
    expect(again.stderr).toContain('409 run_stopped');
  });

  // A tester resumed a suspended parent and its run keys, minted before, worked again: the docs said
  // a suspension ended them. It pauses them; a new parent token (or deleting the key) ends them.
  it('pauses with its parent (suspended, resumed), dies with a new parent token, and with the parent (kubectl)', async () => {
    const token = (await run(['start', '--key', `${TENANT}/doomed`])).stdout.trim();
    for (const pool of pools) expect((await probe(pool, token)).status).toBe(200);
    const suspend = (on: boolean) =>
      kubectl(['patch', 'vaultkey', 'doomed', '--type=merge', '-p', `{"spec":{"suspended":${on}}}`]);
    await suspend(true);
    await everyProxy('key_suspended', async (pool) => (await probe(pool, token)).reason === 'key_suspended');
    await suspend(false);
    await everyProxy('the run key allowed again', async (pool) => (await probe(pool, token)).status === 200);

    // The operator mints a fresh token into the Secret it owned: the run secret changes with it.
    const oldParent = await mintedToken('doomed');
    await kubectl(['delete', 'secret', 'doomed-token']);
    let parent = oldParent;
    await until(
      async () => {
        parent = await mintedToken('doomed');
        return parent !== oldParent;
      },
      20_000,
      'a fresh token in doomed-token',
    );
    await everyProxy('the fresh token served', async (pool) => (await probe(pool, parent)).status === 200);
    const before = stripe.requests.length;
    for (const pool of pools) {
      expect(await probe(pool, token)).toEqual({ status: 401, reason: 'key_unknown' });
      expect(await probe(pool, token, 'POST')).toEqual({ status: 401, reason: 'key_unknown' });
    }
    expect(stripe.requests.length).toBe(before);

    const fresh = (await run(['start', '--key', `${TENANT}/doomed`])).stdout.trim();
    await kubectl(['delete', 'vaultkey', 'doomed']);
    await everyProxy('key_unknown', async (pool) => (await probe(pool, fresh)).reason === 'key_unknown');
    // The wait's own reads are forwarded until the deletion reaches each proxy: count from here.
    const deleted = stripe.requests.length;
    for (const pool of pools)
      expect(await probe(pool, fresh, 'POST')).toEqual({ status: 401, reason: 'key_unknown' });
    expect(stripe.requests.length).toBe(deleted);
  });
});
