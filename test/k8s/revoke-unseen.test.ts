// Tenth round (HIGH): a deleted VaultKey's token you brought worked again after the same manifest was
// re-applied when the operator could not see the token Secret at the delete: its label removed shortly
// before, or the Secret deleted (the operator minted a fresh token into a new one) and then the key.
// The operator revoked only what the key's Secret held at the last update. Now a key revokes every
// token a proxy was served it under (ADR 0009, tenth round). Checked at the upstream: after the
// re-apply, nothing reaches the Stripe emulator with the old token, on any proxy.
import { createHash } from 'node:crypto';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StripeEmulator, startStripeEmulator } from '../../src/emulators/stripe.ts';
import { injectedControlPlane } from '../env/control-plane/inject.ts';
import { type K8sSystem, startK8sSystem, tenantKubectl, until } from '../env/k8s-system.ts';
import { allowedEverywhere, charge, probe, stripeUpstreamSecret, stripeVaultKey } from './fixtures.ts';

const cp = injectedControlPlane();
const SYSTEM_NS = 'unseen-system';
const TENANT = 'unseen-agents';
const REAL_KEY = 'sk_test_unseen_upstream_000000000000000';
const POLICY = `
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: pol }
spec:
  vendor: stripe
  limits: { perCallUsd: "50", perDayUsd: "1000" }
  allow:
    endpoints: ["POST /v1/charges", "GET /v1/**"]
`;

let system: K8sSystem;
let stripe: StripeEmulator;
let pools: Pool[] = [];
const { kubectl, mintedToken } = tenantKubectl(cp, TENANT);

/** What `keybrake token new --secret <name>-token` writes, and a VaultKey naming it: one app.yaml. */
const app = (name: string, token: string) => `
apiVersion: v1
kind: Secret
metadata:
  name: ${name}-token
  labels: { keybrake.dev/secret: "true" }
stringData: { token: ${token} }
---${stripeVaultKey(name, 'pol')}`;

const readyReason = (name: string) =>
  kubectl(['get', 'vaultkey', name, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].reason}']);

/** The operator's log lines about VaultKey `name`'s deletion (revoked, or held nothing). */
const deletionLogged = (name: string) =>
  [...system.operators.values()]
    .flatMap((o) => o.process.output().split('\n'))
    .some(
      (l) =>
        l.includes(`"vaultKey":"${TENANT}/${name}"`) &&
        (l.includes('"msg":"revoked"') || l.includes('"msg":"deleted; it held no token to revoke"')),
    );

const ledger = async () => {
  const r = await cp.kubectl([
    'get',
    'configmap',
    'keybrake-operator-revocations',
    '-n',
    SYSTEM_NS,
    '-o',
    'jsonpath={.data.revoked}',
  ]);
  return r.code === 0 ? r.stdout : '';
};
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * Deletes VaultKey `name`, waits for the operator to have handled the delete, re-applies `app.yaml`
 * as a GitOps sync would, and checks the old token passes nowhere and reaches no upstream.
 */
async function deleteAndReapply(name: string, token: string, beforeReapply = async () => {}) {
  await kubectl(['delete', 'vaultkey', name]);
  await until(async () => deletionLogged(name), 30_000, 'the operator handled the delete');
  await beforeReapply();
  stripe.reset();
  await kubectl(['apply', '-f', '-'], app(name, token));
  await until(
    async () => ['TokenRevoked', 'Active'].includes(await readyReason(name)),
    30_000,
    'the re-applied key compiled',
  );
  // The re-applied key's status is written after its table is published; every proxy has it once it
  // acknowledged the version, which a served key would show as an allow: probe each one.
  const answers = [];
  for (const pool of pools) answers.push(await probe(pool, token), await charge(pool, token));
  const forwarded = stripe.requests.length;
  expect({ reason: await readyReason(name), forwarded, answers }).toEqual({
    reason: 'TokenRevoked',
    forwarded: 0,
    answers: answers.map(() => expect.objectContaining({ decision: 'deny', reason: 'key_unknown' })),
  });
  expect(await ledger()).toContain(sha256(token));
}

beforeAll(async () => {
  stripe = await startStripeEmulator({ validKeys: [REAL_KEY] });
  await cp.kubectl(['create', 'namespace', TENANT]);
  system = await startK8sSystem({
    cp,
    namespace: SYSTEM_NS,
    proxies: 2,
    upstreams: { stripe: stripe.url },
    operatorArgs: ['--status-interval', '300ms'],
  });
  await Promise.all(system.proxies.map((p) => p.waitReady()));
  pools = system.proxies.map((p) => new Pool(p.vendorUrls['stripe']!, { connections: 1, pipelining: 1 }));
  await kubectl(['apply', '-f', '-'], `${stripeUpstreamSecret(REAL_KEY)}---${POLICY}`);
});

afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
  await system?.stop();
  await stripe?.close();
  await cp.kubectl(['delete', 'namespace', TENANT, SYSTEM_NS, '--wait=false', '--ignore-not-found']);
});

describe('a deleted key revokes the token it was served under, even when its Secret was not seen at the delete (tenth round)', () => {
  it('the token Secret lost its label before the delete: the re-applied manifest is TokenRevoked, nothing forwarded', async () => {
    const name = 'unlabelled';
    const token = 'user_brought_unlabelled_token_0123456789abcdef';
    await kubectl(['apply', '-f', '-'], app(name, token));
    await allowedEverywhere(pools, token, 30_000);
    await kubectl(['label', 'secret', `${name}-token`, 'keybrake.dev/secret-']);
    await until(async () => (await readyReason(name)) === 'TokenSecretMissing', 30_000, 'TokenSecretMissing');
    await deleteAndReapply(name, token);
  });

  it('the token Secret was deleted (and re-minted) before the key: both tokens are revoked, nothing forwarded', async () => {
    const name = 'reminted';
    const token = 'user_brought_reminted_token_0123456789abcdef0';
    await kubectl(['apply', '-f', '-'], app(name, token));
    await allowedEverywhere(pools, token, 30_000);
    await kubectl(['delete', 'secret', `${name}-token`]);
    let fresh = '';
    await until(
      async () => {
        fresh = await mintedToken(name);
        return fresh !== token;
      },
      30_000,
      'a fresh token minted',
    );
    await allowedEverywhere(pools, fresh, 30_000);
    // The garbage collector's part (a bare control plane has none): the orphaned minted Secret goes.
    await deleteAndReapply(name, token, () => kubectl(['delete', 'secret', `${name}-token`]).then(() => {}));
    expect(await ledger()).toContain(sha256(fresh));
  });

  it('the key was pointed at another Secret before the delete: the earlier revision re-applied is TokenRevoked', async () => {
    const name = 'repointed';
    const token = 'user_brought_repointed_token_0123456789abcdef';
    await kubectl(['apply', '-f', '-'], app(name, token));
    await allowedEverywhere(pools, token, 30_000);
    await kubectl([
      'patch',
      'vaultkey',
      name,
      '--type=merge',
      '-p',
      JSON.stringify({ spec: { tokenSecretRef: { name: `${name}-2-token`, key: 'token' } } }),
    ]);
    // The operator mints into the Secret the key names now.
    const second = await mintedToken(`${name}-2`);
    await allowedEverywhere(pools, second, 30_000);
    await deleteAndReapply(name, token);
  });
});
