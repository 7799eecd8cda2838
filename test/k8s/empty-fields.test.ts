// A field left empty in a SpendPolicy or VaultKey (`perDayUsd:` to fill in later, an `endpoints:` whose
// entries are all commented out, `suspended:`): a YAML null, which `serve` and `policy-check` refuse.
// Found in the eleventh round: in a cluster the null never reached the operator. Client-side `kubectl
// apply` drops it on a create and deletes the field on an edit, and the API server pruned it from
// server-side apply, `kubectl create` and API clients (the CRD fields were not nullable). The policy
// was stored without its cap and allowlist, Ready, and a never-listed payout was forwarded. Now the
// CRDs keep the null and the operator reads kubectl's last-applied copy of the file: the object is
// refused as `serve` refuses the file, and no call of its key reaches the vendor.
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StripeEmulator, startStripeEmulator } from '../../src/emulators/stripe.ts';
import { newToken } from '../../src/tokens/token.ts';
import { injectedControlPlane } from '../env/control-plane/inject.ts';
import { type K8sSystem, startK8sSystem, tenantKubectl, until } from '../env/k8s-system.ts';
import { charge, probe, stripeUpstreamSecret, stripeVaultKey } from './fixtures.ts';

const cp = injectedControlPlane();
const RELEASE_NS = 'empty-fields-rel';
const TENANT = 'empty-fields';
const REAL_KEY = 'sk_test_empty_fields_0000000000000000';

const policy = (name: string) => `
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: ${name} }
spec:
  vendor: stripe
  limits:
    perCallUsd: "50"
    perDayUsd: "2"
  allow:
    endpoints:
      - "POST /v1/charges"
      - "GET /v1/**"
`;
/** The same policy as someone leaves it while deciding: the cap to fill in later, every entry commented out. */
const emptied = (name: string) => `
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: ${name} }
spec:
  vendor: stripe
  limits:
    perCallUsd: "50"
    perDayUsd:            # to fill in later
  allow:
    endpoints:
      # - "POST /v1/charges"
      # - "GET /v1/**"
`;
/** A token Secret the test owns: the operator mints only for a key that could be served. */
const ownToken = (key: string, token: string) => `
apiVersion: v1
kind: Secret
metadata: { name: ${key}-token, labels: { keybrake.dev/secret: "true" } }
stringData: { token: ${token} }
`;

/** A key of the `plain` policy with one more line of spec, as written in a file (`suspended:` …). */
const vaultKey = (name: string, line: string) => `
apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: ${name} }
spec:
  vendor: stripe
  policyRef: { name: plain }
  upstreamSecretRef: { name: stripe-live, key: apiKey }
  tokenSecretRef: { name: ${name}-token, key: token }
  ${line}
`;

let stripe: StripeEmulator;
let system: K8sSystem;
let pool: Pool;
const { kubectl, mintedToken } = tenantKubectl(cp, TENANT);

const ready = async (kind: 'sp' | 'vk', name: string) =>
  JSON.parse(
    (await kubectl(['get', kind, name, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")]}'])) || '{}',
  ) as { reason?: string; message?: string };

async function payout(token: string): Promise<number> {
  const res = await pool.request({
    path: '/v1/payouts',
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'amount=4000&currency=usd',
  });
  await res.body.dump();
  return res.statusCode;
}

/** A read, a listed charge and a never-listed payout with the key's token: all denied, none reaches Stripe. */
async function notServed(token: string): Promise<void> {
  await until(async () => (await probe(pool, token)).decision === 'deny', 20_000, 'the key to be denied');
  stripe.reset();
  expect(await charge(pool, token)).toMatchObject({ decision: 'deny', reason: 'key_unknown' });
  expect(await probe(pool, token)).toMatchObject({ decision: 'deny', reason: 'key_unknown' });
  expect(await payout(token)).toBe(401);
  expect(stripe.requests).toEqual([]);
}

beforeAll(async () => {
  stripe = await startStripeEmulator({ validKeys: [REAL_KEY] });
  await cp.kubectl(['create', 'namespace', TENANT]);
  system = await startK8sSystem({ cp, namespace: RELEASE_NS, proxies: 1, upstreams: { stripe: stripe.url } });
  await kubectl(['apply', '-f', '-'], [stripeUpstreamSecret(REAL_KEY), policy('plain')].join('---\n'));
  pool = new Pool(system.proxies[0]!.vendorUrls['stripe']!, { connections: 2 });
});

afterAll(async () => {
  await pool?.close();
  await system?.stop();
  await stripe?.close();
  await cp.kubectl(['delete', 'namespace', TENANT, RELEASE_NS, '--wait=false', '--ignore-not-found']);
});

describe('a field left empty in a manifest applied to the cluster', () => {
  it('a served policy re-applied (client-side) with its cap and endpoints left empty is Invalid, its key not served', async () => {
    await kubectl(
      ['apply', '-f', '-'],
      [policy('edited'), stripeVaultKey('edited-bot', 'edited')].join('---\n'),
    );
    const token = await mintedToken('edited-bot');
    await until(async () => (await probe(pool, token)).status === 200, 20_000, 'edited-bot served');

    await kubectl(['apply', '-f', '-'], emptied('edited'));
    // kubectl's merge patch deleted both fields: the stored policy alone reads as uncapped and unlisted.
    expect(JSON.parse(await kubectl(['get', 'sp', 'edited', '-o', 'jsonpath={.spec.limits}']))).toEqual({
      perCallUsd: '50',
    });
    await until(async () => (await ready('sp', 'edited')).reason === 'Invalid', 20_000, 'policy Invalid');
    const message = (await ready('sp', 'edited')).message;
    expect(message).toMatch(/spec\.limits\.perDayUsd: must be a decimal string/);
    expect(message).toMatch(/spec\.allow\.endpoints: must be an array/);
    await until(
      async () => (await ready('vk', 'edited-bot')).reason === 'PolicyInvalid',
      20_000,
      'key PolicyInvalid',
    );
    await notServed(token);
  });

  it('a policy and key created (client-side) with the cap and endpoints left empty: Invalid, and nothing forwarded', async () => {
    const token = newToken('stripe');
    await kubectl(
      ['apply', '-f', '-'],
      [emptied('created'), ownToken('created-bot', token), stripeVaultKey('created-bot', 'created')].join(
        '---\n',
      ),
    );
    await until(async () => (await ready('sp', 'created')).reason === 'Invalid', 20_000, 'policy Invalid');
    expect((await ready('sp', 'created')).message).toMatch(/spec\.allow\.endpoints: must be an array/);
    await until(
      async () => (await ready('vk', 'created-bot')).reason === 'PolicyInvalid',
      20_000,
      'key PolicyInvalid',
    );
    await notServed(token);
  });

  it('a VaultKey applied server-side with `suspended:` and `expiresAt:` left empty keeps the nulls and is Invalid', async () => {
    const token = newToken('stripe');
    await kubectl(['apply', '-f', '-'], ownToken('ssa-bot', token));
    const key = `
apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: ssa-bot }
spec:
  vendor: stripe
  policyRef: { name: plain }
  upstreamSecretRef: { name: stripe-live, key: apiKey }
  tokenSecretRef: { name: ssa-bot-token, key: token }
  suspended:            # to decide later
  expiresAt:
`;
    await kubectl(['apply', '--server-side', '--field-manager', 'empty-fields-test', '-f', '-'], key);
    expect(await kubectl(['get', 'vk', 'ssa-bot', '-o', 'jsonpath={.spec}'])).toMatch(/"suspended":null/);
    await until(async () => (await ready('vk', 'ssa-bot')).reason === 'Invalid', 20_000, 'key Invalid');
    expect((await ready('vk', 'ssa-bot')).message).toMatch(/spec\.suspended/);
    await notServed(token);
  });
  // Twelfth round: the CRDs copied the zod defaults (`suspended` false, `requireRunId` false,
  // `readsWhenCountersDown` allow, `timezone` UTC), so the API server filled in the field client-side
  // kubectl had left out or deleted, applied-nulls.ts saw a value and put no null back, and the key was
  // served: a suspended key edited to `suspended:` spent again (4 payouts at Stripe in the probe).
  it('a suspended key re-applied (client-side) with `suspended:` left empty is Invalid, not served again', async () => {
    const token = newToken('stripe');
    await kubectl(
      ['apply', '-f', '-'],
      [ownToken('paused-bot', token), vaultKey('paused-bot', 'suspended: true')].join('---\n'),
    );
    await until(
      async () => (await probe(pool, token)).reason === 'key_suspended',
      20_000,
      'paused-bot suspended',
    );
    await kubectl(['apply', '-f', '-'], vaultKey('paused-bot', 'suspended:            # to decide later'));
    // The merge patch deleted the field; no CRD default fills it in, so the null is put back.
    expect(await kubectl(['get', 'vk', 'paused-bot', '-o', 'jsonpath={.spec}'])).not.toMatch(/suspended/);
    await until(async () => (await ready('vk', 'paused-bot')).reason === 'Invalid', 20_000, 'key Invalid');
    expect((await ready('vk', 'paused-bot')).message).toMatch(/spec\.suspended: must be true or false/);
    await notServed(token);
  });

  it('a key created (client-side) with `suspended:` left empty is Invalid, and nothing forwarded', async () => {
    const token = newToken('stripe');
    await kubectl(
      ['apply', '-f', '-'],
      [ownToken('unsure-bot', token), vaultKey('unsure-bot', 'suspended:')].join('---\n'),
    );
    expect(await kubectl(['get', 'vk', 'unsure-bot', '-o', 'jsonpath={.spec}'])).not.toMatch(/suspended/);
    await until(async () => (await ready('vk', 'unsure-bot')).reason === 'Invalid', 20_000, 'key Invalid');
    expect((await ready('vk', 'unsure-bot')).message).toMatch(/spec\.suspended: must be true or false/);
    await notServed(token);
  });

  it('a policy re-applied (client-side) with `requireRunId:`, `readsWhenCountersDown:` and `timezone:` left empty is Invalid', async () => {
    const token = newToken('stripe');
    const runs = (requireRunId: string, reads: string, timezone: string) => `
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: runs }
spec:
  vendor: stripe
  limits: { perCallUsd: "50", perRunUsd: "1" }
  requireRunId: ${requireRunId}
  readsWhenCountersDown: ${reads}
  timezone: ${timezone}
  allow: { endpoints: ["POST /v1/charges", "GET /v1/**"] }
`;
    await kubectl(
      ['apply', '-f', '-'],
      [
        runs('true', 'deny', 'Europe/Paris'),
        ownToken('run-bot', token),
        stripeVaultKey('run-bot', 'runs'),
      ].join('---\n'),
    );
    await until(
      async () => (await probe(pool, token)).reason === 'run_id_required',
      20_000,
      'run-bot served, requiring a run id',
    );
    await kubectl(['apply', '-f', '-'], runs('', '', '          # to decide later'));
    expect(await kubectl(['get', 'sp', 'runs', '-o', 'jsonpath={.spec}'])).not.toMatch(
      /requireRunId|readsWhenCountersDown|timezone/,
    );
    await until(async () => (await ready('sp', 'runs')).reason === 'Invalid', 20_000, 'policy Invalid');
    const message = (await ready('sp', 'runs')).message;
    expect(message).toMatch(/spec\.requireRunId: must be true or false/);
    expect(message).toMatch(/spec\.readsWhenCountersDown/);
    expect(message).toMatch(/spec\.timezone/);
    await until(
      async () => (await ready('vk', 'run-bot')).reason === 'PolicyInvalid',
      20_000,
      'key PolicyInvalid',
    );
    await notServed(token);
  });
});
