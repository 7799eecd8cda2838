// A namespace moving between releases takes its revocations along (tenth round, HIGH). Found by a
// tester: each release kept its revocation ledger in its own namespace, so after the docs' own move
// (install a team release, uninstall the cluster-wide one) a token revoked by `kubectl delete vaultkey`
// under the first release was served again by the second once the same manifests were applied. Now
// every release also writes a namespace's revocations into that namespace (ConfigMap
// keybrake-revocations, digests only) and reads them before it serves the namespace's keys.
import { createHash } from 'node:crypto';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StripeEmulator, startStripeEmulator } from '../../src/emulators/stripe.ts';
import { injectedControlPlane } from '../env/control-plane/inject.ts';
import { type K8sSystem, startK8sSystem, tenantKubectl, until } from '../env/k8s-system.ts';
import { probe, stripeUpstreamSecret, stripeVaultKey } from './fixtures.ts';

const cp = injectedControlPlane();
const FIRST_NS = 'move-first';
const SECOND_NS = 'move-second';
const TENANT = 'move-tenant';
const REAL_KEY = 'sk_test_move_upstream_00000000000000000';
// Short timings: a claim left unrenewed passes on after 3 s + 2 s.
const ARGS = ['--lease-duration', '3s', '--renew-deadline', '2s', '--retry-period', '250ms'];
const OPERATOR_ARGS = [...ARGS, '--proxy-max-staleness', '2s'];
const NAME = 'move-bot';
// A token brought by the user, so the manifests applied again carry it again.
const TOKEN = 'user_provided_token_move_test_0123456789';

const SECRET = `
apiVersion: v1
kind: Secret
metadata:
  name: ${NAME}-token
  labels: { keybrake.dev/secret: "true" }
stringData: { token: ${TOKEN} }
`;
const MANIFESTS = `${stripeUpstreamSecret(REAL_KEY)}---
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: move }
spec:
  vendor: stripe
  limits: { perDayUsd: "20" }
  allow:
    endpoints: ["POST /v1/charges", "GET /v1/**"]
---${SECRET}---${stripeVaultKey(NAME, 'move')}`;

let stripe: StripeEmulator;
let first: K8sSystem | undefined;
let second: K8sSystem | undefined;
const pools: Pool[] = [];
const { kubectl } = tenantKubectl(cp, TENANT);
const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

const configMap = async (namespace: string, name: string) =>
  (await cp.kubectl(['-n', namespace, 'get', 'configmap', name, '-o', 'jsonpath={.data.revoked}'])).stdout;
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
const readyReason = () =>
  kubectl(['get', 'vaultkey', NAME, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].reason}']);
/** Requests the upstream received with the real key (the proxies forward only with it). */
const forwarded = () => stripe.requests.length;

beforeAll(async () => {
  stripe = await startStripeEmulator({ validKeys: [REAL_KEY] });
  await cp.kubectl(['create', 'namespace', TENANT]);
  first = await startK8sSystem({
    cp,
    namespace: FIRST_NS,
    proxies: 1,
    upstreams: { stripe: stripe.url },
    operatorArgs: OPERATOR_ARGS,
    proxyArgs: ['--max-staleness', '2s'],
  });
  pools.push(new Pool(first.proxies[0]!.vendorUrls['stripe']!, { connections: 2 }));
});

afterAll(async () => {
  for (const p of pools) await p.close();
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

describe('a namespace moving to a release installed after a kubectl delete vaultkey', () => {
  it("keeps the deleted key's token revoked: TokenRevoked under the new release, nothing forwarded", async () => {
    await kubectl(['apply', '-f', '-'], MANIFESTS);
    await until(
      async () => (await probe(pools[0]!, TOKEN)).status === 200,
      30_000,
      'the first release to serve',
    );

    await kubectl(['delete', 'vaultkey', NAME]);
    await until(
      async () => (await configMap(FIRST_NS, 'keybrake-operator-revocations')).includes(sha256(TOKEN)),
      20_000,
      "the revocation in the first release's ledger",
    );

    // The second release is installed after the delete: it never saw the key. Then the first goes.
    second = await startK8sSystem({
      cp,
      namespace: SECOND_NS,
      proxies: 1,
      upstreams: { stripe: stripe.url },
      operatorArgs: [...OPERATOR_ARGS, '--namespace', TENANT],
      proxyArgs: ['--max-staleness', '2s'],
    });
    await second.proxies[0]!.waitReady();
    const pool = new Pool(second.proxies[0]!.vendorUrls['stripe']!, { connections: 2 });
    pools.push(pool);
    await first!.stop();
    first = undefined;

    // GitOps syncs the same manifests again.
    stripe.reset();
    await kubectl(['delete', 'secret', `${NAME}-token`]);
    await kubectl(['apply', '-f', '-'], MANIFESTS);
    const answers = new Set<string>();
    // Until the second release holds the claim and has compiled the key (either way it goes).
    await until(
      async () => {
        const answer = await probe(pool, TOKEN);
        answers.add(answer.reason ?? answer.decision);
        const reason = await readyReason();
        return (await claimHolder()) === `${SECOND_NS}/keybrake-operator` &&
          reason !== '' &&
          reason !== 'NotClaimed'
          ? reason === 'TokenRevoked' || answer.status === 200
          : false;
      },
      60_000,
      'the second release to take the namespace and judge the key',
    );
    // A few more asks once it holds the namespace.
    for (let i = 0; i < 5; i++) {
      const answer = await probe(pool, TOKEN);
      answers.add(answer.reason ?? answer.decision);
    }
    expect(forwarded(), 'requests that reached the upstream with the revoked token').toBe(0);
    expect([...answers]).toEqual(['key_unknown']);
    expect(await readyReason()).toBe('TokenRevoked');
    // The namespace's own ledger: the digest, never the token.
    const own = await configMap(TENANT, 'keybrake-revocations');
    expect(own).toContain(sha256(TOKEN));
    expect(own).not.toContain(TOKEN);
  });
});
