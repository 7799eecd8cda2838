// A misspelt field in a SpendPolicy or VaultKey written by a client that does not ask for Strict field
// validation (helm, `kubectl patch`, an API client). Found in the ninth round: the API server pruned
// the field, so `perDayUSD` stored a policy without a daily cap and `suspend: true` left the key
// Active. Now the CRDs keep unknown fields and the operator refuses the object, as `serve` does:
// the policy is Invalid, its keys PolicyInvalid, the misspelt key Invalid, and no call goes through.
import { CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StripeEmulator, startStripeEmulator } from '../../src/emulators/stripe.ts';
import { injectedControlPlane } from '../env/control-plane/inject.ts';
import { type K8sSystem, startK8sSystem, tenantKubectl, until } from '../env/k8s-system.ts';
import { charge, probe, stripeUpstreamSecret, stripeVaultKey } from './fixtures.ts';

const cp = injectedControlPlane();
const RELEASE_NS = 'unknown-fields-rel';
const TENANT = 'unknown-fields';
const REAL_KEY = 'sk_test_unknown_fields_000000000000000';

const policy = (name: string) => `
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: ${name} }
spec:
  vendor: stripe
  limits: { perDayUsd: "2" }
  allow: { endpoints: ["POST /v1/charges", "GET /v1/**"] }
`;
const MANIFESTS = [
  stripeUpstreamSecret(REAL_KEY),
  policy('capped'),
  stripeVaultKey('capped-bot', 'capped'),
  policy('plain'),
  stripeVaultKey('plain-bot', 'plain'),
].join('---\n');

let stripe: StripeEmulator;
let system: K8sSystem;
let pool: Pool;
let api: CustomObjectsApi;
const tokens: Record<string, string> = {};
const { kubectl, mintedToken } = tenantKubectl(cp, TENANT);

const ready = async (kind: 'sp' | 'vk', name: string) =>
  JSON.parse(
    (await kubectl(['get', kind, name, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")]}'])) || '{}',
  ) as { reason?: string; message?: string };

/** Once the proxy has the change: a read and a charge with the key's token are denied, and none reaches Stripe. */
async function notServed(token: string): Promise<void> {
  await until(async () => (await probe(pool, token)).decision === 'deny', 20_000, 'the key to be denied');
  stripe.reset();
  expect(await charge(pool, token)).toMatchObject({ decision: 'deny', reason: 'key_unknown' });
  expect(await probe(pool, token)).toMatchObject({ decision: 'deny', reason: 'key_unknown' });
  expect(stripe.requests).toEqual([]);
}

beforeAll(async () => {
  stripe = await startStripeEmulator({ validKeys: [REAL_KEY] });
  await cp.kubectl(['create', 'namespace', TENANT]);
  system = await startK8sSystem({ cp, namespace: RELEASE_NS, proxies: 1, upstreams: { stripe: stripe.url } });
  await kubectl(['apply', '-f', '-'], MANIFESTS);
  pool = new Pool(system.proxies[0]!.vendorUrls['stripe']!, { connections: 2 });
  for (const key of ['capped-bot', 'plain-bot']) {
    tokens[key] = await mintedToken(key);
    await until(async () => (await probe(pool, tokens[key]!)).status === 200, 20_000, `${key} served`);
  }
  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  api = kc.makeApiClient(CustomObjectsApi);
});

afterAll(async () => {
  await pool?.close();
  await system?.stop();
  await stripe?.close();
  await cp.kubectl(['delete', 'namespace', TENANT, RELEASE_NS, '--wait=false', '--ignore-not-found']);
});

describe('a misspelt field written without Strict field validation', () => {
  it('a SpendPolicy whose cap is misspelt by a merge patch is Invalid and its key is not served', async () => {
    // The cap renamed by one letter's case: pruned, this was a policy with no daily cap.
    await kubectl([
      'patch',
      'sp',
      'capped',
      '--type',
      'merge',
      '-p',
      '{"spec":{"limits":{"perDayUsd":null,"perDayUSD":"2"}}}',
    ]);
    expect(JSON.parse(await kubectl(['get', 'sp', 'capped', '-o', 'jsonpath={.spec.limits}']))).toEqual({
      perDayUSD: '2',
    });
    await until(async () => (await ready('sp', 'capped')).reason === 'Invalid', 20_000, 'policy Invalid');
    expect((await ready('sp', 'capped')).message).toMatch(
      /spec\.limits\.perDayUSD.*unknown field "perDayUSD"/,
    );
    await until(
      async () => (await ready('vk', 'capped-bot')).reason === 'PolicyInvalid',
      20_000,
      'key PolicyInvalid',
    );
    await notServed(tokens['capped-bot']!);
  });

  it('a VaultKey patched with `suspend` (for `suspended`) through an API client is Invalid and not served', async () => {
    await api.patchNamespacedCustomObject(
      {
        group: 'keybrake.dev',
        version: 'v1alpha1',
        namespace: TENANT,
        plural: 'vaultkeys',
        name: 'plain-bot',
        body: { spec: { suspend: true } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    await until(async () => (await ready('vk', 'plain-bot')).reason === 'Invalid', 20_000, 'key Invalid');
    expect((await ready('vk', 'plain-bot')).message).toMatch(/spec\.suspend.*unknown field "suspend"/);
    await notServed(tokens['plain-bot']!);
  });
});
