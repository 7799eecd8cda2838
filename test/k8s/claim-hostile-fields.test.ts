// A namespace's claim patched by hand with values the API server stores but a holder's own write
// cannot build on (thirteenth round, probe k8s13, finding 1, HIGH; finding 2a, MEDIUM). A tenant
// allowed to write Leases in its namespace patched `keybrake-claim` once: holderIdentity the other
// release, leaseTransitions 2147483647. The holder's take-back wrote leaseTransitions + 1 = 2^31,
// which the API server refuses (int32: 400) at every round, so its hold lapsed, the other release
// adopted the claim, and served the namespace from its own counters: 4 charges reached the upstream
// against a $2/day cap. Named nobody, the claim stayed unserved for good (every take-over a 400).
// Now a leaseTransitions written over another's stops at the int32 ceiling (leader-election.ts
// nextLeaseTransitions). Charges are counted at the emulator.
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StripeEmulator, startStripeEmulator } from '../../src/emulators/stripe.ts';
import { injectedControlPlane } from '../env/control-plane/inject.ts';
import { type K8sSystem, startK8sSystem, tenantKubectl, until } from '../env/k8s-system.ts';
import { charge, probe, stripeUpstreamSecret } from './fixtures.ts';

const cp = injectedControlPlane();
const WIDE_NS = 'claimfields-wide';
const TEAM_NS = 'claimfields-team';
const TENANT = 'claimfields-tenant';
const WIDE = `${WIDE_NS}/keybrake-operator`;
const TEAM = `${TEAM_NS}/keybrake-operator`;
const INT32_MAX = 2_147_483_647;
const REAL_KEY = 'sk_test_claimfields_upstream_0000000000000';
// Short timings: a claim left unrenewed passes on after 3 s + 2 s; a hold is established after 7 s.
const OPERATOR_ARGS = [
  '--lease-duration',
  '3s',
  '--renew-deadline',
  '2s',
  '--retry-period',
  '250ms',
  '--proxy-max-staleness',
  '2s',
];

const MANIFESTS = `${stripeUpstreamSecret(REAL_KEY)}---
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: claimfields }
spec:
  vendor: stripe
  limits: { perDayUsd: "2" }
  allow:
    endpoints: ["POST /v1/charges", "GET /v1/**"]
---
apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: claimfields-bot }
spec:
  vendor: stripe
  policyRef: { name: claimfields }
  upstreamSecretRef: { name: stripe-live, key: apiKey }
  tokenSecretRef: { name: claimfields-bot-token, key: token }
`;

let stripe: StripeEmulator;
let wide: K8sSystem;
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

/** Charges that reached the upstream (the proxies forward only with the real key). */
const chargesForwarded = () =>
  stripe.requests.filter((r) => r.method === 'POST' && r.path.startsWith('/v1/charges')).length;

/** The tenant namespace's claim as stored. */
const claim = async () => {
  const r = await cp.kubectl(['-n', TENANT, 'get', 'lease', 'keybrake-claim', '-o', 'json']);
  if (r.code !== 0) return { holder: '', transitions: undefined };
  const spec = (JSON.parse(r.stdout) as { spec: { holderIdentity?: string; leaseTransitions?: number } })
    .spec;
  return { holder: spec.holderIdentity ?? '', transitions: spec.leaseTransitions };
};

/** The tenant's one write: a merge patch of the claim's spec. */
const patchClaim = (spec: Record<string, unknown>) =>
  kubectl(['patch', 'lease', 'keybrake-claim', '--type', 'merge', '-p', JSON.stringify({ spec })]);

/** What the wide leader logged about failing to write the tenant namespace's claim. */
const refusedWrites = () =>
  wide.operators
    .get('a')!
    .process.output()
    .split('\n')
    .filter((l) => l.includes(`"namespace":"${TENANT}"`) && /cannot claim namespace/.test(l));

beforeAll(async () => {
  stripe = await startStripeEmulator({ validKeys: [REAL_KEY] });
  await cp.kubectl(['create', 'namespace', TENANT]);
  wide = await startK8sSystem({
    cp,
    namespace: WIDE_NS,
    proxies: 1,
    upstreams: { stripe: stripe.url },
    operatorArgs: OPERATOR_ARGS,
    proxyArgs: ['--max-staleness', '2s'],
  });
  await kubectl(['apply', '-f', '-'], MANIFESTS);
  token = await mintedToken('claimfields-bot');
  widePool = new Pool(wide.proxies[0]!.vendorUrls['stripe']!, { connections: 2 });
  await until(
    async () => (await call(widePool, 'GET')) === 'ok',
    30_000,
    'the wide release to serve the key',
  );
  team = await startK8sSystem({
    cp,
    namespace: TEAM_NS,
    proxies: 1,
    upstreams: { stripe: stripe.url },
    operatorArgs: [...OPERATOR_ARGS, '--namespace', TENANT],
    proxyArgs: ['--max-staleness', '2s'],
  });
  await team.proxies[0]!.waitReady();
  teamPool = new Pool(team.proxies[0]!.vendorUrls['stripe']!, { connections: 2 });
  // The team's leader has seen the wide release hold the claim.
  await team.operators
    .get('a')!
    .process.waitForLog(
      (l) => l['namespace'] === TENANT && /claimed by the Keybrake release/.test(String(l['msg'])),
      30_000,
    );
});

afterAll(async () => {
  await widePool?.close();
  await teamPool?.close();
  await wide?.stop();
  await team?.stop();
  await stripe?.close();
  await cp.kubectl(['delete', 'namespace', TENANT, WIDE_NS, TEAM_NS, '--wait=false', '--ignore-not-found']);
});

describe('a claim patched by hand with leaseTransitions at the int32 ceiling (thirteenth round)', () => {
  it('handed to the other release: the holder takes it back, the other never serves, the cap holds at the upstream', async () => {
    stripe.reset();
    expect([
      await call(widePool, 'POST'),
      await call(widePool, 'POST'),
      await call(widePool, 'POST'),
    ]).toEqual(['ok', 'ok', 'daily_cap_exceeded']);
    await wide.operators
      .get('a')!
      .process.waitForLog(
        (l) => l['namespace'] === TENANT && /claim of this namespace is established/.test(String(l['msg'])),
        30_000,
      );
    await patchClaim({ holderIdentity: TEAM, leaseTransitions: INT32_MAX });
    // Taken back within a round or so (250 ms); the other release would adopt it only after 5 s.
    await until(
      async () => (await claim()).holder === WIDE,
      20_000,
      'the wide release to take its claim back',
    );
    expect(await claim()).toEqual({ holder: WIDE, transitions: INT32_MAX });
    await until(
      async () => (await call(widePool, 'GET')) === 'ok',
      30_000,
      'the wide release to serve again',
    );
    expect([await call(teamPool, 'POST'), await call(teamPool, 'GET')]).toEqual([
      'key_unknown',
      'key_unknown',
    ]);
    expect(await call(widePool, 'POST')).toBe('daily_cap_exceeded');
    expect(chargesForwarded()).toBe(2);
    expect(refusedWrites()).toEqual([]);
  });

  it('named nobody: the holder takes it back and serves the namespace again', async () => {
    await patchClaim({ holderIdentity: 'nobody/else', leaseTransitions: INT32_MAX });
    await until(
      async () => (await claim()).holder === WIDE,
      20_000,
      'the wide release to take its claim back',
    );
    await until(
      async () => (await call(widePool, 'GET')) === 'ok',
      30_000,
      'the wide release to serve again',
    );
    expect(await call(teamPool, 'GET')).toBe('key_unknown');
    expect(await claim()).toEqual({ holder: WIDE, transitions: INT32_MAX });
    expect(chargesForwarded()).toBe(2);
    expect(refusedWrites()).toEqual([]);
  });
});
