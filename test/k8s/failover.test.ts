// Operator failover on the test control plane: two real `keybrake operator` processes (identities a
// and b) share a Lease with short timings; three real proxies follow them through a round-robin TCP
// balancer, as they would follow the operator Service. Stopping the leader hands over to the standby,
// proxies reconnect without ever stepping back a snapshot version, and later changes reach them all.
// Also: the operator refuses proxies without a valid, audience-bound, allowed ServiceAccount token.
import { readFile } from 'node:fs/promises';
import { Agent, Pool, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StripeEmulator, startStripeEmulator } from '../../src/emulators/stripe.ts';
import { injectedControlPlane } from '../env/control-plane/inject.ts';
import {
  type K8sSystem,
  type OperatorHandle,
  startK8sSystem,
  tenantKubectl,
  until,
} from '../env/k8s-system.ts';
import { stripeUpstreamSecret } from './fixtures.ts';

const cp = injectedControlPlane();

const SYSTEM_NS = 'failover-system';
const TENANT = 'failover-agents';
const REAL_KEY = 'sk_test_failover_upstream_000000000000000';
// Short client-go style timings so a takeover without a released Lease still fits in a test.
const LEASE_ARGS = ['--lease-duration', '3s', '--renew-deadline', '2s', '--retry-period', '250ms'];
const CLOCK_SKEW_MS = 5_000;

const BASE = `${stripeUpstreamSecret(REAL_KEY)}---
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: support-bot }
spec:
  vendor: stripe
  limits: { perDayUsd: "100" }
  allow: { endpoints: ["GET /v1/**"] }
`;

const vaultKey = (name: string) => `
apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: ${name} }
spec:
  vendor: stripe
  policyRef: { name: support-bot }
  upstreamSecretRef: { name: stripe-live, key: apiKey }
  tokenSecretRef: { name: ${name}-token }
`;

let system: K8sSystem;
let stripe: StripeEmulator;
let pools: Pool[] = [];

const { kubectl, mintedToken } = tenantKubectl(cp, TENANT);

async function reason(pool: Pool, token: string): Promise<string> {
  const res = await pool.request({
    path: '/v1/customers',
    method: 'GET',
    headers: { authorization: `Bearer ${token}` },
  });
  await res.body.dump();
  return (
    /reason=([a-z_]+)/.exec(String(res.headers['keybrake-decision'] ?? ''))?.[1] ?? `status ${res.statusCode}`
  );
}

/** Waits until every proxy answers `token` with `expected` (`ok` for an allowed call). */
async function everywhere(token: string, expected: string, timeoutMs = 20_000): Promise<void> {
  await Promise.all(
    pools.map((pool, i) =>
      until(
        async () => (await reason(pool, token)) === expected,
        timeoutMs,
        `proxy ${i} to answer ${expected}`,
      ),
    ),
  );
}

async function leader(): Promise<OperatorHandle> {
  let holder: string | undefined;
  await until(
    async () => {
      holder = await system.leaseHolder();
      return holder !== undefined && system.operators.has(holder);
    },
    20_000,
    'a leader',
  );
  return system.operators.get(holder!)!;
}

/** Samples every proxy's keybrake_snapshot_version until stopped; the versions each proxy reported. */
function sampleVersions(): { stop(): Promise<number[][]> } {
  const samples: number[][] = system.proxies.map(() => []);
  let running = true;
  const loops = system.proxies.map(async (proxy, i) => {
    while (running) {
      const v = await proxy.snapshotVersion().catch(() => undefined);
      if (v !== undefined) samples[i]!.push(v);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      return samples;
    },
  };
}

beforeAll(async () => {
  stripe = await startStripeEmulator({ validKeys: [REAL_KEY] });
  await cp.kubectl(['create', 'namespace', TENANT]);
  system = await startK8sSystem({
    cp,
    namespace: SYSTEM_NS,
    operators: ['a', 'b'],
    proxies: 3,
    upstreams: { stripe: stripe.url },
    operatorArgs: LEASE_ARGS,
  });
  await Promise.all(system.proxies.map((p) => p.waitReady()));
  pools = system.proxies.map((p) => new Pool(p.vendorUrls['stripe']!, { connections: 1 }));
  await kubectl(['apply', '-f', '-'], BASE);
});

afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
  await system?.stop();
  await stripe?.close();
  await cp.kubectl(['delete', 'namespace', TENANT, SYSTEM_NS, '--wait=false', '--ignore-not-found']);
});

describe('the snapshot server refuses callers that are not proxies', () => {
  let agent: Agent;
  let watchUrl: string;

  beforeAll(async () => {
    agent = new Agent({ connect: { ca: await readFile(system.caFile) } });
    // The standby answers 503 before it looks at a token: ask the leader.
    watchUrl = `${(await leader()).url}/v1/snapshots/watch`;
  });
  afterAll(() => agent.close());

  const watch = async (token: string | undefined) => {
    const res = await request(watchUrl, {
      dispatcher: agent,
      headers: {
        'keybrake-proxy-id': 'test',
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      },
    });
    const contentType = String(res.headers['content-type'] ?? '');
    // A stream never ends by itself: read the first line, then drop the connection.
    let first = '';
    for await (const chunk of res.body) {
      first += chunk.toString();
      if (first.includes('\n') || res.statusCode !== 200) break;
    }
    res.body.destroy();
    return { status: res.statusCode, contentType, first: first.split('\n')[0] ?? '' };
  };

  it.each([
    ['no token', 401, async () => undefined],
    ['a token for another audience', 401, () => system.createToken({ audience: 'not-keybrake' })],
    ['a malformed token', 401, async () => 'not-a-jwt'],
    ['a ServiceAccount other than the proxy', 403, () => system.createToken({ serviceAccount: 'intruder' })],
  ])('refuses %s with %i', async (_what, status, token) => {
    if (status === 403) await cp.kubectl(['create', 'serviceaccount', 'intruder', '-n', SYSTEM_NS]);
    const res = await watch(await token());
    expect(res.status).toBe(status);
    expect(res.contentType).toContain('application/json');
    expect(JSON.parse(res.first)).toHaveProperty('error');
  });

  it('streams a snapshot to the proxy ServiceAccount with the keybrake audience', async () => {
    const res = await watch(await system.createToken());
    expect(res.status).toBe(200);
    expect(res.contentType).toContain('application/x-ndjson');
    const line = JSON.parse(res.first) as { type: string; version: number; data: string };
    expect(line.type).toBe('snapshot');
    expect(Number.isSafeInteger(line.version)).toBe(true);
    expect(typeof line.data).toBe('string');
  });

  it('answers 503 "not leader" on the standby', async () => {
    const current = await leader();
    const standby = [...system.operators.values()].find((o) => o !== current)!;
    const res = await request(`${standby.url}/v1/snapshots/watch`, {
      dispatcher: agent,
      headers: { authorization: `Bearer ${await system.createToken()}` },
    });
    expect(res.statusCode).toBe(503);
    expect(await res.body.json()).toEqual({ error: 'not leader' });
  });
});

describe('leader failover', () => {
  it('hands over to the standby; proxies keep serving, never step back a version, and follow the new leader', async () => {
    await kubectl(['apply', '-f', '-'], vaultKey('before'));
    const before = await mintedToken('before');
    await everywhere(before, 'ok');

    const first = await leader();
    const standby = [...system.operators.values()].find((o) => o !== first)!;
    const versionsBefore = await Promise.all(system.proxies.map((p) => p.snapshotVersion()));
    const sampler = sampleVersions();

    const stoppedAt = Date.now();
    await first.process.stop(); // SIGTERM, then wait for the process to exit
    // With the leader gone and no new leader yet, proxies keep enforcing their last snapshot.
    for (const pool of pools) expect(await reason(pool, before)).toBe('ok');

    await until(async () => (await system.leaseHolder()) === standby.identity, 20_000, 'the standby to lead');
    const takeoverMs = Date.now() - stoppedAt;
    // Every proxy reconnected, through the balancer, to the new leader's stream.
    await Promise.all(
      system.proxies.map((p) =>
        standby.process.waitForLog((l) => l.msg === 'proxy connected' && l.proxyId === p.id, 20_000),
      ),
    );
    const reconnectedMs = Date.now() - stoppedAt;

    // Changes made after the failover reach every proxy: a new key works, a deleted one is gone, and
    // each proxy now holds a version above anything the old leader sent.
    await kubectl(['apply', '-f', '-'], vaultKey('after'));
    const after = await mintedToken('after');
    await everywhere(after, 'ok');
    await kubectl(['delete', 'vaultkey', 'before']);
    await everywhere(before, 'key_unknown', 5_000);
    const versionsAfter = await Promise.all(system.proxies.map((p) => p.snapshotVersion()));
    for (const [i, v] of versionsAfter.entries()) expect(v).toBeGreaterThan(versionsBefore[i] ?? 0);

    const samples = await sampler.stop();
    console.log(
      `[failover] lease taken over ${takeoverMs} ms after SIGTERM; all proxies on the new leader after ${reconnectedMs} ms`,
    );
    for (const [i, versions] of samples.entries()) {
      expect(versions.length, `samples from proxy ${i}`).toBeGreaterThan(10);
      for (let j = 1; j < versions.length; j++) {
        expect(versions[j]!, `proxy ${i} version went back at sample ${j}`).toBeGreaterThanOrEqual(
          versions[j - 1]!,
        );
      }
    }
  });

  it('lets a restarted operator rejoin as the standby without taking the lease back', async () => {
    const current = await leader();
    const gone = [...system.operators.values()].find((o) => o !== current)!;
    const rejoined = await system.startOperator(gone.identity);
    const agent = new Agent({ connect: { ca: await readFile(system.caFile) } });
    try {
      await until(
        async () => {
          const res = await request(`${rejoined.url}/v1/snapshots/watch`, { dispatcher: agent });
          await res.body.dump();
          return res.statusCode === 503;
        },
        10_000,
        'the rejoined operator to answer as a standby',
      );
    } finally {
      await agent.close();
    }
    expect(await system.leaseHolder()).toBe(current.identity);
  });

  it('takes over from a leader that crashed without releasing the Lease, once the lease expires', async () => {
    const crashed = await leader();
    const standby = [...system.operators.values()].find((o) => o !== crashed)!;
    await kubectl(['apply', '-f', '-'], vaultKey('crash'));
    const token = await mintedToken('crash');
    await everywhere(token, 'ok');

    const killedAt = Date.now();
    crashed.process.child.kill('SIGKILL');
    await until(async () => (await system.leaseHolder()) === standby.identity, 20_000, 'the standby to lead');
    const takeoverMs = Date.now() - killedAt;
    await kubectl(['delete', 'vaultkey', 'crash']);
    await everywhere(token, 'key_unknown', 10_000);
    console.log(`[failover] after SIGKILL (no release): lease taken over in ${takeoverMs} ms (lease 3s)`);
    // Not before the dead leader's lease ran out: nobody may lead while the Lease is still held.
    expect(takeoverMs).toBeGreaterThan(1_500);
  });

  it("applies a new leader's changes even when its clock runs behind the old leader's", async () => {
    // Snapshot versions are wall-clock based and proxies ignore lower versions: a new leader whose
    // clock is behind must still publish above what the proxies hold, or its revocations are ignored.
    const current = await leader();
    const gone = [...system.operators.values()].find((o) => o !== current)!;
    const skewed = await system.startOperator(gone.identity, {
      NODE_OPTIONS: `--import=data:text/javascript,${encodeURIComponent(`const n = Date.now; Date.now = () => n() - ${CLOCK_SKEW_MS};`)}`,
    });
    await kubectl(['apply', '-f', '-'], vaultKey('skew'));
    const token = await mintedToken('skew');
    await everywhere(token, 'ok');

    await current.process.stop();
    await until(
      async () => (await system.leaseHolder()) === skewed.identity,
      20_000,
      'the skewed standby to lead',
    );
    const deletedAt = Date.now();
    await kubectl(['delete', 'vaultkey', 'skew']);
    await everywhere(token, 'key_unknown', CLOCK_SKEW_MS * 2);
    const revokedMs = Date.now() - deletedAt;
    console.log(`[failover] revocation through a leader ${CLOCK_SKEW_MS} ms behind: ${revokedMs} ms`);
    expect(revokedMs).toBeLessThan(1_000);
  });
});
