// Two releases whose scopes overlap, on the test control plane: one watches every namespace, the
// other one tenant namespace. Found by a tester: both served the tenant's VaultKey, each fleet with
// its own counters, so $40 of refunds reached Stripe against a $20/day cap. Now the tenant namespace
// is claimed (Lease keybrake-claim) by the release that came first; the other fleet answers
// key_unknown until that claim lapses, and then takes it.
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StripeEmulator, startStripeEmulator } from '../../src/emulators/stripe.ts';
import { injectedControlPlane } from '../env/control-plane/inject.ts';
import { get, type K8sSystem, metric, startK8sSystem, tenantKubectl, until } from '../env/k8s-system.ts';
import { charge, probe, stripeUpstreamSecret } from './fixtures.ts';

const cp = injectedControlPlane();
const WIDE_NS = 'claims-wide';
const TEAM_NS = 'claims-team';
const TENANT = 'claims-tenant';
const REAL_KEY = 'sk_test_claims_upstream_0000000000000000';
// Short timings: a claim left unrenewed passes on after 3 s + 2 s.
const ARGS = ['--lease-duration', '3s', '--renew-deadline', '2s', '--retry-period', '250ms'];
const OPERATOR_ARGS = [...ARGS, '--proxy-max-staleness', '2s'];

const MANIFESTS = `${stripeUpstreamSecret(REAL_KEY)}---
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: claims }
spec:
  vendor: stripe
  limits: { perDayUsd: "2" }
  allow:
    endpoints: ["POST /v1/charges", "GET /v1/**"]
---
apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: claims-bot }
spec:
  vendor: stripe
  policyRef: { name: claims }
  upstreamSecretRef: { name: stripe-live, key: apiKey }
  tokenSecretRef: { name: claims-bot-token, key: token }
`;

let stripe: StripeEmulator;
let wide: K8sSystem | undefined;
let team: K8sSystem;
let widePool: Pool;
let teamPool: Pool;
let token = '';
const { kubectl, mintedToken } = tenantKubectl(cp, TENANT);

/** The reason of the decision header ("ok" for an allowed call); a charge is $1: the $2 cap admits two. */
async function call(pool: Pool, method: 'GET' | 'POST'): Promise<string> {
  const answer = await (method === 'GET' ? probe : charge)(pool, token);
  return answer.reason ?? answer.decision;
}

const claimHolder = async () =>
  (
    await cp.kubectl([
      '-n',
      TENANT,
      'get',
      'lease',
      'keybrake-claim',
      '-o',
      'jsonpath={.spec.holderIdentity}',
    ])
  ).stdout;

beforeAll(async () => {
  stripe = await startStripeEmulator({ validKeys: [REAL_KEY] });
  await cp.kubectl(['create', 'namespace', TENANT]);
  // The cluster-wide release first: it claims the tenant namespace.
  wide = await startK8sSystem({
    cp,
    namespace: WIDE_NS,
    proxies: 1,
    upstreams: { stripe: stripe.url },
    operatorArgs: OPERATOR_ARGS,
    proxyArgs: ['--max-staleness', '2s'],
  });
  await kubectl(['apply', '-f', '-'], MANIFESTS);
  token = await mintedToken('claims-bot');
  widePool = new Pool(wide.proxies[0]!.vendorUrls['stripe']!, { connections: 2 });
  // Served once claimed: the claim is the wide release's from here on.
  await until(
    async () => (await call(widePool, 'GET')) === 'ok',
    20_000,
    'the wide release to serve the key',
  );
  // Then the team's release, watching the same namespace.
  team = await startK8sSystem({
    cp,
    namespace: TEAM_NS,
    proxies: 1,
    upstreams: { stripe: stripe.url },
    operatorArgs: [...OPERATOR_ARGS, '--namespace', TENANT],
    proxyArgs: ['--max-staleness', '2s'],
  });
  // Ready: it applied its operator's first table, which holds no key of a namespace not claimed yet.
  await team.proxies[0]!.waitReady();
  teamPool = new Pool(team.proxies[0]!.vendorUrls['stripe']!, { connections: 2 });
});

afterAll(async () => {
  await widePool?.close();
  await teamPool?.close();
  await wide?.stop();
  await team?.stop();
  await stripe?.close();
  await cp.kubectl(['delete', 'namespace', TENANT, WIDE_NS, TEAM_NS, '--wait=false', '--ignore-not-found']);
});

describe('two releases watching one namespace', () => {
  it('serve its key from one fleet only: the cap holds at the upstream', async () => {
    stripe.reset();
    const wideAnswers: string[] = [];
    const teamAnswers: string[] = [];
    for (let i = 0; i < 3; i++) {
      wideAnswers.push(await call(widePool, 'POST'));
      teamAnswers.push(await call(teamPool, 'POST'));
    }
    expect(
      stripe.requests.filter((r) => r.method === 'POST' && r.path.startsWith('/v1/charges')),
    ).toHaveLength(2);
    expect(wideAnswers).toEqual(['ok', 'ok', 'daily_cap_exceeded']);
    expect(teamAnswers).toEqual(['key_unknown', 'key_unknown', 'key_unknown']);
    expect(await claimHolder()).toBe(`${WIDE_NS}/keybrake-operator`);
    // Said loudly on the team's operator: an error log line and this gauge.
    const teamOperator = team.operators.get('a')!;
    const claimedElsewhere = async () =>
      metric(await get(`${teamOperator.adminUrl}/metrics`), 'keybrake_operator_namespaces_claimed_elsewhere');
    await until(async () => (await claimedElsewhere()) === 1, 5_000, 'the team release to report the claim');
  });

  it('passes the namespace to the other release once the first is gone and its claim has lapsed', async () => {
    await wide!.stop();
    wide = undefined;
    await until(
      async () => (await call(teamPool, 'GET')) === 'ok',
      30_000,
      'the team release to take the key',
    );
    expect(await claimHolder()).toBe(`${TEAM_NS}/keybrake-operator`);
  });
});
