// A VaultKey whose kubectl `last-applied-configuration` annotation, or whose stored spec, is nested
// thousands of levels deep: the tenant's to write with any `kubectl patch`. Found in the eleventh round
// (fixes probe, 2 HIGH): the operator's reading of the annotation recursed once per level and overflowed
// the stack. In the watch, client-node swallows the throw, so the key's later delete and suspension were
// never seen and its charges still reached Stripe; in a list, the cluster-wide VaultKey informer never
// synced, so an operator started afterwards never led and another namespace's deleted key kept reading.
// Now the annotation is read only along the schema's fields, and an object the source cannot read is
// rejected alone (Invalid, not served), its delete still applied.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StripeEmulator, startStripeEmulator } from '../../src/emulators/stripe.ts';
import { newToken } from '../../src/tokens/token.ts';
import { injectedControlPlane } from '../env/control-plane/inject.ts';
import { type K8sSystem, startK8sSystem, tenantKubectl, until } from '../env/k8s-system.ts';
import { charge, probe, stripeUpstreamSecret, stripeVaultKey } from './fixtures.ts';

const cp = injectedControlPlane();
const RELEASE_NS = 'hostile-ann-rel';
const TENANT = 'hostile-ann';
const VICTIM = 'hostile-ann-victim';
const REAL_KEY = 'sk_test_hostile_annotation_00000000000';
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
const ownToken = (key: string, token: string) => `
apiVersion: v1
kind: Secret
metadata: { name: ${key}-token, labels: { keybrake.dev/secret: "true" } }
stringData: { token: ${token} }
`;
const nested = (depth: number) => `${'{"a":'.repeat(depth)}null${'}'.repeat(depth)}`;
const dir = mkdtempSync(join(tmpdir(), 'hostile-annotation-'));
/** A merge patch file: 20 000 levels (120 KB) is over one command-line argument's 128 KiB. */
const patchFile = (name: string, patch: string) => {
  const file = join(dir, name);
  writeFileSync(file, patch);
  return file;
};
// 20 000 levels deep in the annotation; 6 000 in a stored unknown spec field (the API server's own limit
// is 10 000; JSON.stringify, which the operator runs on every changed spec, overflows well before).
const DEEP_ANNOTATION = patchFile(
  'annotation.json',
  JSON.stringify({
    metadata: {
      annotations: { 'kubectl.kubernetes.io/last-applied-configuration': `{"spec":${nested(20_000)}}` },
    },
  }),
);
const DEEP_SPEC = patchFile('spec.json', `{"spec":{"zz":${nested(6_000)}}}`);

let stripe: StripeEmulator;
let system: K8sSystem;
let pool: Pool;
const tenant = tenantKubectl(cp, TENANT).kubectl;
const victim = tenantKubectl(cp, VICTIM).kubectl;

const ready = async (name: string) =>
  JSON.parse(
    (await tenant(['get', 'vk', name, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")]}'])) || '{}',
  ) as { reason?: string; message?: string };

async function served(kubectl: typeof tenant, name: string): Promise<string> {
  const token = newToken('stripe');
  await kubectl(['apply', '-f', '-'], [ownToken(name, token), stripeVaultKey(name, 'pol')].join('---\n'));
  await until(async () => (await probe(pool, token)).status === 200, 30_000, `${name} served`);
  return token;
}

beforeAll(async () => {
  stripe = await startStripeEmulator({ validKeys: [REAL_KEY] });
  await cp.kubectl(['create', 'namespace', TENANT]);
  await cp.kubectl(['create', 'namespace', VICTIM]);
  system = await startK8sSystem({ cp, namespace: RELEASE_NS, proxies: 1, upstreams: { stripe: stripe.url } });
  for (const k of [tenant, victim])
    await k(['apply', '-f', '-'], [stripeUpstreamSecret(REAL_KEY), POLICY].join('---\n'));
  pool = new Pool(system.proxies[0]!.vendorUrls.stripe!, { connections: 2 });
}, 180_000);

afterAll(async () => {
  await pool?.close();
  await system?.stop();
  await stripe?.close();
  await cp.kubectl(['delete', 'namespace', TENANT, VICTIM, RELEASE_NS, '--wait=false', '--ignore-not-found']);
});

describe('a VaultKey nested thousands of levels deep', () => {
  it('with a deep annotation is still deleted and suspended, and nothing of it reaches Stripe', async () => {
    const del = await served(tenant, 'deep-del');
    const susp = await served(tenant, 'deep-susp');
    for (const name of ['deep-del', 'deep-susp'])
      await tenant(['patch', 'vk', name, '--type', 'merge', '--patch-file', DEEP_ANNOTATION]);
    // The annotation names no field of the schema: nothing to put back, the keys are served as stored.
    expect(await probe(pool, del)).toMatchObject({ status: 200 });

    await tenant(['delete', 'vk', 'deep-del']);
    await tenant(['patch', 'vk', 'deep-susp', '--type', 'merge', '-p', '{"spec":{"suspended":true}}']);
    await until(async () => (await probe(pool, del)).decision === 'deny', 20_000, 'deep-del revoked');
    await until(async () => (await probe(pool, susp)).decision === 'deny', 20_000, 'deep-susp suspended');
    stripe.reset();
    expect(await charge(pool, del)).toMatchObject({ decision: 'deny', reason: 'key_unknown' });
    expect(await charge(pool, susp)).toMatchObject({ decision: 'deny', reason: 'key_suspended' });
    expect(stripe.requests).toEqual([]);
  }, 180_000);

  it('with a deep spec is Invalid alone, not served, and its delete applies', async () => {
    const deep = await served(tenant, 'deep-spec');
    const other = await served(tenant, 'other');
    await tenant(['patch', 'vk', 'deep-spec', '--type', 'merge', '--patch-file', DEEP_SPEC]);
    await until(async () => (await ready('deep-spec')).reason === 'Invalid', 30_000, 'deep-spec Invalid');
    expect((await ready('deep-spec')).message).toMatch(
      /cannot be read \(spec is nested deeper than 32 levels\)/,
    );
    await until(async () => (await probe(pool, deep)).decision === 'deny', 20_000, 'deep-spec not served');
    expect(await probe(pool, other)).toMatchObject({ status: 200 });
    await tenant(['delete', 'vk', 'deep-spec']);
    stripe.reset();
    await until(async () => (await probe(pool, deep)).reason === 'key_unknown', 20_000, 'deep-spec revoked');
    expect(await charge(pool, deep)).toMatchObject({ decision: 'deny', reason: 'key_unknown' });
    expect(stripe.requests).toEqual([]);
  }, 180_000);

  it('in one namespace does not keep an operator started afterwards from leading: another namespace’s delete applies', async () => {
    const bot = await served(victim, 'bot');
    await served(tenant, 'evil');
    await served(tenant, 'evil-spec');
    await tenant(['patch', 'vk', 'evil', '--type', 'merge', '--patch-file', DEEP_ANNOTATION]);
    await tenant(['patch', 'vk', 'evil-spec', '--type', 'merge', '--patch-file', DEEP_SPEC]);
    await until(async () => (await ready('evil-spec')).reason === 'Invalid', 30_000, 'evil-spec Invalid');

    // The restart lists every namespace's VaultKeys, the deep ones among them.
    for (const op of system.operators.values()) await op.process.stop();
    await system.startOperator('after-restart');
    await victim(['delete', 'vk', 'bot']);
    await until(async () => (await probe(pool, bot)).reason === 'key_unknown', 60_000, 'bot revoked');
    stripe.reset();
    expect(await charge(pool, bot)).toMatchObject({ decision: 'deny', reason: 'key_unknown' });
    expect(stripe.requests).toEqual([]);
  }, 240_000);
});
