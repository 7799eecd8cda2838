// A namespace's claim deleted or handed over by hand stays with the release that holds it, and a
// release whose operator.leaseName changes keeps its claims (twelfth round, ops probe, findings 2
// and 3). Found by a tester with two releases, each with its own counters: (2) a tenant allowed to
// delete Leases in its own namespace (RBAC cannot prevent it) deleted `keybrake-claim` until the
// other release's leader recreated it first (2 to 10 deletions): that release served the namespace
// from its own counters, $20 reached Stripe against a $10/day cap. (3) `helm upgrade --set
// operator.leaseName=…` renamed the release in its claims (`<namespace>/<leaseName>`), so it took
// its own claims for another release's: every key key_unknown for a claim duration, or the claims
// went to the other release. Now a release that last saw another hold the claim leaves a deleted
// or handed-over claim to it for the claim's duration (the holder, alive, recreates or takes it back
// within its round), and the chart names the release in its claims by its operator's name.
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StripeEmulator, startStripeEmulator } from '../../src/emulators/stripe.ts';
import { injectedControlPlane } from '../env/control-plane/inject.ts';
import { type K8sSystem, startK8sSystem, tenantKubectl, until } from '../env/k8s-system.ts';
import { charge, probe, stripeUpstreamSecret } from './fixtures.ts';

const cp = injectedControlPlane();
const WIDE_NS = 'handmove-wide';
const TEAM_NS = 'handmove-team';
const TENANT = 'handmove-tenant';
const WIDE = `${WIDE_NS}/keybrake-operator`;
const REAL_KEY = 'sk_test_handmove_upstream_000000000000000';
// Short timings: a claim left unrenewed passes on after 3 s + 2 s.
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
metadata: { name: handmove }
spec:
  vendor: stripe
  limits: { perDayUsd: "2" }
  allow:
    endpoints: ["POST /v1/charges", "GET /v1/**"]
---
apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: handmove-bot }
spec:
  vendor: stripe
  policyRef: { name: handmove }
  upstreamSecretRef: { name: stripe-live, key: apiKey }
  tokenSecretRef: { name: handmove-bot-token, key: token }
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

/** holderIdentity of the tenant namespace's claim, '' while there is none. */
const claimHolder = async () => {
  const r = await cp.kubectl([
    '-n',
    TENANT,
    'get',
    'lease',
    'keybrake-claim',
    '-o',
    'jsonpath={.spec.holderIdentity}',
    '--ignore-not-found',
  ]);
  return r.code === 0 ? r.stdout.trim() : '';
};

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
  token = await mintedToken('handmove-bot');
  widePool = new Pool(wide.proxies[0]!.vendorUrls['stripe']!, { connections: 2 });
  await until(
    async () => (await call(widePool, 'GET')) === 'ok',
    20_000,
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

describe('a claim deleted or handed over by hand (a tenant allowed to write Leases in its namespace)', () => {
  it('stays with the release that holds it: the other never serves the key, the cap holds at the upstream', async () => {
    stripe.reset();
    expect([
      await call(widePool, 'POST'),
      await call(widePool, 'POST'),
      await call(widePool, 'POST'),
    ]).toEqual(['ok', 'ok', 'daily_cap_exceeded']);
    // The wide leader takes its claim back only once it has read its own renewals unbroken for a
    // claim duration and its renew deadline (twelfth round, probe fixes12k: a hold aged through a
    // tenant's writes let two releases take it back from each other every round).
    await wide.operators
      .get('a')!
      .process.waitForLog(
        (l) => l['namespace'] === TENANT && /claim of this namespace is established/.test(String(l['msg'])),
        30_000,
      );
    // The tester's loop: delete the claim, see who recreated it, again (it moved within 2 to 10).
    const holders: string[] = [];
    for (let i = 0; i < 12; i++) {
      await kubectl(['delete', 'lease', 'keybrake-claim', '--ignore-not-found']);
      let holder = '';
      await until(
        async () => {
          holder = await claimHolder();
          return holder !== '';
        },
        20_000,
        'the claim to be recreated',
      );
      holders.push(holder);
    }
    expect(holders).toEqual(Array(12).fill(WIDE));
    // And handed to the other release by hand, twice.
    for (let i = 0; i < 2; i++) {
      await kubectl([
        'patch',
        'lease',
        'keybrake-claim',
        '--type',
        'merge',
        '-p',
        JSON.stringify({ spec: { holderIdentity: `${TEAM_NS}/keybrake-operator` } }),
      ]);
      await until(
        async () => (await claimHolder()) === WIDE,
        20_000,
        'the wide release to take its claim back',
      );
    }
    // The wide release serves the key again (a claim duration after the last change by hand) ...
    await until(
      async () => (await call(widePool, 'GET')) === 'ok',
      30_000,
      'the wide release to serve again',
    );
    // ... and the team's still does not: nothing more is forwarded, whoever is asked.
    expect([await call(teamPool, 'POST'), await call(teamPool, 'GET')]).toEqual([
      'key_unknown',
      'key_unknown',
    ]);
    expect(await call(widePool, 'POST')).toBe('daily_cap_exceeded');
    expect(chargesForwarded()).toBe(2);
    expect(await claimHolder()).toBe(WIDE);
  });
});

describe('a release whose operator.leaseName changes (helm upgrade)', () => {
  /** The claim's holderIdentity and renewTime. */
  const claim = async () => {
    const r = await cp.kubectl(['-n', TENANT, 'get', 'lease', 'keybrake-claim', '-o', 'json']);
    const spec = (JSON.parse(r.stdout) as { spec: { holderIdentity?: string; renewTime?: string } }).spec;
    return { holder: spec.holderIdentity ?? '', renewTime: spec.renewTime ?? '' };
  };
  /** Until operator `identity` leads and has renewed the claim twice, under `holder`. */
  const renewedBy = async (identity: string, holder: string) => {
    await wide.operators.get(identity)!.process.waitForLog((l) => l['msg'] === 'leading', 30_000);
    const seen = new Set<string>();
    await until(
      async () => {
        const c = await claim();
        if (c.holder === holder) seen.add(c.renewTime);
        return seen.size >= 3;
      },
      30_000,
      `operator ${identity} to renew the claim as ${holder}`,
    );
  };
  /** What operator `identity` logged about the tenant namespace's claim: nothing while it serves it. */
  const claimProblems = (identity: string) =>
    wide.operators
      .get(identity)!
      .process.output()
      .split('\n')
      .filter((l) => l.includes(`"namespace":"${TENANT}"`) && /claim/.test(l));

  it('keeps its claims: the restarted operator renews and serves them at once, under the same name', async () => {
    await until(async () => (await call(widePool, 'GET')) === 'ok', 30_000, 'the wide release to serve');
    // As the chart renders a new operator.leaseName: another leader Lease, the same --claim-holder.
    await wide.operators.get('a')!.process.stop();
    await wide.startOperator('b', {}, ['--lease-name', 'keybrake-renamed', '--claim-holder', WIDE]);
    await renewedBy('b', WIDE);
    expect(claimProblems('b')).toEqual([]);
    expect(await call(widePool, 'GET')).toBe('ok');
  });

  it('takes the claims held under its former name (a custom leaseName upgraded to --claim-holder) for its own', async () => {
    await wide.operators.get('b')!.process.stop();
    // Before --claim-holder the release was named by its Lease: its claim as such a release wrote it.
    await kubectl([
      'patch',
      'lease',
      'keybrake-claim',
      '--type',
      'merge',
      '-p',
      JSON.stringify({ spec: { holderIdentity: `${WIDE_NS}/keybrake-renamed` } }),
    ]);
    await wide.startOperator('c', {}, ['--lease-name', 'keybrake-renamed', '--claim-holder', WIDE]);
    await renewedBy('c', WIDE);
    expect(claimProblems('c')).toEqual([]);
    await until(async () => (await call(widePool, 'GET')) === 'ok', 20_000, 'the release to serve');
    expect(await call(teamPool, 'GET')).toBe('key_unknown');
  });
});
