// A Redis outage must not drain the fleet (DESIGN.md §7): with the shared counter store stopped, the
// three real proxies stay ready (in their Services), GETs pass under readsWhenCountersDown: allow,
// money-moving calls get Stripe-shaped 503 counter_store_unavailable answers, keybrake_counter_store_up
// says 0; with Redis back, money-moving calls pass again within a second.
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StripeEmulator, startStripeEmulator } from '../../src/emulators/stripe.ts';
import { injectedControlPlane } from '../env/control-plane/inject.ts';
import { get, type K8sSystem, metric, startK8sSystem, tenantKubectl, until } from '../env/k8s-system.ts';
import { type RedisServer, startRedis } from '../env/redis.ts';
import { stripeUpstreamSecret } from './fixtures.ts';

const cp = injectedControlPlane();
const SYSTEM_NS = 'outage-system';
const TENANT = 'outage-agents';
const REAL_KEY = 'sk_test_outage_upstream_000000000000000';
/** The bound the issue sets for service to resume once Redis answers again. */
const RESUME_BOUND_MS = 1_000;

const MANIFESTS = `${stripeUpstreamSecret(REAL_KEY)}---
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: outage }
spec:
  vendor: stripe
  # requestsPerMinute puts every call, reads too, through the counter store.
  limits: { perCallUsd: "50", perDayUsd: "1000", requestsPerMinute: 100000 }
  allow:
    endpoints: ["POST /v1/charges", "GET /v1/**"]
  readsWhenCountersDown: allow
---
apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: outage-bot }
spec:
  vendor: stripe
  policyRef: { name: outage }
  upstreamSecretRef: { name: stripe-live, key: apiKey }
  tokenSecretRef: { name: outage-bot-token, key: token }
`;

let system: K8sSystem;
let stripe: StripeEmulator;
let redis: RedisServer;
let pools: Pool[] = [];
let token = '';
const { kubectl, mintedToken } = tenantKubectl(cp, TENANT);

interface Answer {
  status: number;
  decision: string;
  body: string;
}

async function call(pool: Pool, method: 'GET' | 'POST'): Promise<Answer> {
  const res = await pool.request(
    method === 'GET'
      ? { path: '/v1/customers?limit=1', method, headers: { authorization: `Bearer ${token}` } }
      : {
          path: '/v1/charges',
          method,
          headers: {
            authorization: `Bearer ${token}`,
            'content-type': 'application/x-www-form-urlencoded',
          },
          body: 'amount=100&currency=usd&source=tok_visa',
        },
  );
  return {
    status: res.statusCode,
    decision: String(res.headers['keybrake-decision'] ?? ''),
    body: await res.body.text(),
  };
}

const readyz = () => Promise.all(system.proxies.map(async (p) => (await get(`${p.adminUrl}/readyz`)).status));
const storeUp = () =>
  Promise.all(
    system.proxies.map(async (p) => metric(await get(`${p.adminUrl}/metrics`), 'keybrake_counter_store_up')),
  );

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
    proxyArgs: ['--redis', redis.url],
  });
  await Promise.all(system.proxies.map((p) => p.waitReady()));
  pools = system.proxies.map((p) => new Pool(p.vendorUrls['stripe']!, { connections: 2 }));
  await kubectl(['apply', '-f', '-'], MANIFESTS);
  token = await mintedToken('outage-bot');
  await Promise.all(
    pools.map((pool, i) =>
      until(async () => (await call(pool, 'POST')).status === 200, 20_000, `proxy ${i} to charge`),
    ),
  );
});

afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
  await system?.stop();
  await stripe?.close();
  await redis?.stop();
  await cp.kubectl(['delete', 'namespace', TENANT, SYSTEM_NS, '--wait=false', '--ignore-not-found']);
});

describe('Redis stopped', () => {
  it('keeps every proxy ready, passes reads, answers money-moving calls with a Stripe-shaped 503, and says so in a metric', async () => {
    expect(await readyz()).toEqual([200, 200, 200]);
    expect(await storeUp()).toEqual([1, 1, 1]);

    await redis.stop();
    await until(async () => (await storeUp()).every((v) => v === 0), 10_000, 'keybrake_counter_store_up 0');

    for (const [i, pool] of pools.entries()) {
      const read = await call(pool, 'GET');
      expect(read.status, `proxy ${i}: ${read.body}`).toBe(200);
      expect(read.decision).toMatch(/^allow/);

      const charge = await call(pool, 'POST');
      expect(charge.status, `proxy ${i}: ${charge.body}`).toBe(503);
      expect(charge.decision).toBe('deny; reason=counter_store_unavailable');
      const error = (JSON.parse(charge.body) as { error: { type: string; code: string; message: string } })
        .error;
      expect(error).toMatchObject({ type: 'api_error', code: 'counter_store_unavailable' });
    }
    // Still in their Services after answering all that: readiness is the snapshot's, not Redis's.
    expect(await readyz()).toEqual([200, 200, 200]);
  });

  it(`lets money-moving calls through again within ${RESUME_BOUND_MS} ms of Redis answering`, async () => {
    await redis.restart();
    const back = Date.now();
    // Back-to-back charges (each one a round trip, no sleeping) until each proxy charges again.
    const resumed = await Promise.all(
      pools.map(async (pool, i) => {
        for (;;) {
          const charge = await call(pool, 'POST');
          if (charge.status === 200) return Date.now() - back;
          expect(charge.decision, `proxy ${i}`).toBe('deny; reason=counter_store_unavailable');
          if (Date.now() - back > 10_000)
            throw new Error(`proxy ${i} still refuses 10 s after Redis came back`);
        }
      }),
    );
    console.log(`[redis-outage] money-moving calls resumed after ${JSON.stringify(resumed)} ms`);
    for (const ms of resumed) expect(ms).toBeLessThan(RESUME_BOUND_MS);
    await until(async () => (await storeUp()).every((v) => v === 1), 5_000, 'keybrake_counter_store_up 1');
    expect(await readyz()).toEqual([200, 200, 200]);
  });
});
