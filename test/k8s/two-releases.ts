// Two Keybrake releases on the test control plane whose scopes overlap on one tenant namespace, for
// the tests of namespace claims: the wide release watches every namespace and starts first (it
// claims the tenant namespace and serves its key), the team release watches the tenant namespace
// alone. The tenant's one Stripe key has a $2/day cap ($1 charges: two pass), and charges are counted
// at the Stripe emulator, whichever release forwarded them.
import { Pool } from 'undici';
import { type StripeEmulator, startStripeEmulator } from '../../src/emulators/stripe.ts';
import type { ControlPlaneClient } from '../env/control-plane/control-plane.ts';
import { type K8sSystem, startK8sSystem, tenantKubectl, until } from '../env/k8s-system.ts';
import { charge, probe, stripeUpstreamSecret } from './fixtures.ts';

/** Short claim timings: a claim left unrenewed passes on after 3 s + 2 s. */
export const SHORT_CLAIM_ARGS = [
  '--lease-duration',
  '3s',
  '--renew-deadline',
  '2s',
  '--retry-period',
  '250ms',
  '--proxy-max-staleness',
  '2s',
];

export interface TwoReleases {
  readonly stripe: StripeEmulator;
  /** The tenant namespace both releases watch. */
  readonly tenant: string;
  /** The releases' names in a claim (`holderIdentity`). */
  readonly wideHolder: string;
  readonly teamHolder: string;
  /** The wide release, until stopWide. */
  readonly wide: K8sSystem;
  readonly team: K8sSystem;
  readonly widePool: Pool;
  readonly teamPool: Pool;
  /** kubectl in the tenant namespace (throws on a non-zero exit). */
  kubectl(args: string[], input?: string): Promise<string>;
  /** The reason of the decision header ("ok" for an allowed call) of a $1 charge or a read. */
  call(pool: Pool, method: 'GET' | 'POST'): Promise<string>;
  /** Charges that reached the upstream (the proxies forward only with the real key). */
  chargesForwarded(): number;
  /**
   * Spends the tenant's cap through the wide release (the emulator's count reset first): three $1
   * charges, whose answers it returns (ok, ok, daily_cap_exceeded as it should be), then waits until
   * the wide leader (operator `a`) has logged its claim of the tenant namespace established, i.e.
   * read its own renewals unbroken for a claim duration and its renew deadline.
   */
  spendCapUntilEstablished(): Promise<string[]>;
  /** holderIdentity of the tenant namespace's claim, '' while there is none. */
  claimHolder(): Promise<string>;
  /** What operator `identity` of the wide release logged about the tenant namespace. */
  wideLog(identity: string): string[];
  /** Stops the wide release (its claim then lapses). */
  stopWide(): Promise<void>;
  /** Stops everything and deletes the namespaces. */
  close(): Promise<void>;
}

/**
 * Starts the emulator, the wide release, the tenant's key (served by the wide release once it has
 * claimed the namespace), then the team release, ready. `name` prefixes the namespaces
 * (`<name>-wide`, `<name>-team`, `<name>-tenant`), the policy and the key (`<name>-bot`).
 * `teamSeesClaim`: also wait until the team's leader has seen the wide release hold the claim.
 */
export async function startTwoReleases(
  cp: ControlPlaneClient,
  name: string,
  opts: { teamSeesClaim?: boolean } = {},
): Promise<TwoReleases> {
  const wideNs = `${name}-wide`;
  const teamNs = `${name}-team`;
  const tenant = `${name}-tenant`;
  const realKey = `sk_test_${name}_upstream_${'0'.repeat(24)}`;
  const stripe = await startStripeEmulator({ validKeys: [realKey] });
  const { kubectl, mintedToken } = tenantKubectl(cp, tenant);
  const systems: K8sSystem[] = [];
  const pools: Pool[] = [];
  let wideStopped = false;
  const close = async () => {
    await Promise.allSettled(pools.map((p) => p.close()));
    for (const s of systems) await s.stop();
    await stripe.close();
    await cp.kubectl(['delete', 'namespace', tenant, wideNs, teamNs, '--wait=false', '--ignore-not-found']);
  };
  try {
    await cp.kubectl(['create', 'namespace', tenant]);
    const start = (namespace: string, operatorArgs: string[]) =>
      startK8sSystem({
        cp,
        namespace,
        proxies: 1,
        upstreams: { stripe: stripe.url },
        operatorArgs,
        proxyArgs: ['--max-staleness', '2s'],
      }).then((s) => {
        systems.push(s);
        return s;
      });
    const pool = (s: K8sSystem) => {
      const p = new Pool(s.proxies[0]!.vendorUrls['stripe']!, { connections: 2 });
      pools.push(p);
      return p;
    };

    const wide = await start(wideNs, SHORT_CLAIM_ARGS);
    await kubectl(
      ['apply', '-f', '-'],
      `${stripeUpstreamSecret(realKey)}---
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: ${name} }
spec:
  vendor: stripe
  limits: { perDayUsd: "2" }
  allow:
    endpoints: ["POST /v1/charges", "GET /v1/**"]
---
apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: ${name}-bot }
spec:
  vendor: stripe
  policyRef: { name: ${name} }
  upstreamSecretRef: { name: stripe-live, key: apiKey }
  tokenSecretRef: { name: ${name}-bot-token, key: token }
`,
    );
    const token = await mintedToken(`${name}-bot`);
    const call = async (p: Pool, method: 'GET' | 'POST') => {
      const answer = await (method === 'GET' ? probe : charge)(p, token);
      return answer.reason ?? answer.decision;
    };
    const widePool = pool(wide);
    // Served once claimed: the claim is the wide release's from here on.
    await until(
      async () => (await call(widePool, 'GET')) === 'ok',
      30_000,
      'the wide release to serve the key',
    );

    const team = await start(teamNs, [...SHORT_CLAIM_ARGS, '--namespace', tenant]);
    // Ready: it applied its operator's first table, which holds no key of a namespace not its own.
    await team.proxies[0]!.waitReady();
    const teamPool = pool(team);
    if (opts.teamSeesClaim)
      await team.operators
        .get('a')!
        .process.waitForLog(
          (l) => l['namespace'] === tenant && /claimed by the Keybrake release/.test(String(l['msg'])),
          30_000,
        );

    return {
      stripe,
      tenant,
      wideHolder: `${wideNs}/keybrake-operator`,
      teamHolder: `${teamNs}/keybrake-operator`,
      wide,
      team,
      widePool,
      teamPool,
      kubectl,
      call,
      spendCapUntilEstablished: async () => {
        stripe.reset();
        const answers: string[] = [];
        for (let i = 0; i < 3; i++) answers.push(await call(widePool, 'POST'));
        await wide.operators
          .get('a')!
          .process.waitForLog(
            (l) =>
              l['namespace'] === tenant && /claim of this namespace is established/.test(String(l['msg'])),
            60_000,
          );
        return answers;
      },
      chargesForwarded: () =>
        stripe.requests.filter((r) => r.method === 'POST' && r.path.startsWith('/v1/charges')).length,
      claimHolder: async () => {
        const r = await cp.kubectl([
          '-n',
          tenant,
          'get',
          'lease',
          'keybrake-claim',
          '-o',
          'jsonpath={.spec.holderIdentity}',
          '--ignore-not-found',
        ]);
        return r.code === 0 ? r.stdout.trim() : '';
      },
      wideLog: (identity) =>
        wide.operators
          .get(identity)!
          .process.output()
          .split('\n')
          .filter((l) => l.includes(`"namespace":"${tenant}"`)),
      stopWide: async () => {
        if (wideStopped) return;
        wideStopped = true;
        systems.splice(systems.indexOf(wide), 1);
        await wide.stop();
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
