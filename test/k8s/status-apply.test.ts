// The operator's status writes against a real kube-apiserver: server-side apply on the CRD's status
// subresource as field manager keybrake-operator (src/operator/status.ts).
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CustomObjectsApi, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIELD_MANAGER, kubernetesStatusApplier, type StatusApplier } from '../../src/operator/status.ts';
import { injectedControlPlane } from '../env/control-plane/inject.ts';
import { installCrds } from '../env/k8s-system.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const cp = injectedControlPlane();
const ns = `ssa-${randomUUID().slice(0, 8)}`;
const GROUP = { group: 'keybrake.dev', version: 'v1alpha1', namespace: ns, plural: 'vaultkeys' };

interface Stored {
  metadata: {
    resourceVersion: string;
    generation: number;
    managedFields: { manager: string; operation: string; subresource?: string; fieldsV1: unknown }[];
  };
  spec: Record<string, unknown>;
  status?: Record<string, unknown>;
}

let api: CustomObjectsApi;
let applyStatus: StatusApplier;

async function kubectl(args: string[], input?: string): Promise<string> {
  const r = await cp.kubectl(args, input === undefined ? {} : { input });
  expect(r.code, `kubectl ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}
const get = async (name: string) => (await api.getNamespacedCustomObject({ ...GROUP, name })) as Stored;
const ref = (name: string) => ({ kind: 'VaultKey' as const, namespace: ns, name });
const ready = (reason: string) => [
  {
    type: 'Ready',
    status: reason === 'Active' ? 'True' : 'False',
    reason,
    message: `${reason}.`,
    observedGeneration: 1,
    lastTransitionTime: '2026-06-01T00:00:00Z',
  },
];
const createKey = (name: string) =>
  kubectl(
    ['apply', '-n', ns, '-f', '-'],
    `apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: ${name} }
spec:
  vendor: stripe
  policyRef: { name: p }
  upstreamSecretRef: { name: up, key: apiKey }
  tokenSecretRef: { name: ${name}-token }
`,
  );

beforeAll(async () => {
  await installCrds(kubectl, join(ROOT, 'crds'));
  await kubectl(['create', 'namespace', ns]);
  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfigPath);
  api = kc.makeApiClient(CustomObjectsApi);
  applyStatus = kubernetesStatusApplier(kc);
});

afterAll(async () => {
  await cp.kubectl(['delete', 'namespace', ns, '--wait=false']);
});

describe('status by server-side apply', () => {
  it('writes the status subresource as field manager keybrake-operator and leaves the spec alone', async () => {
    await createKey('a');
    const before = await get('a');
    const status = {
      conditions: ready('Active'),
      observedGeneration: 1,
      tokenFingerprint: 'kb_stripe_…abcd',
    };
    expect(await applyStatus(ref('a'), status)).toBe(true);
    const after = await get('a');
    expect(after.status).toEqual(status);
    expect(after.spec).toEqual(before.spec);
    expect(after.metadata.generation).toBe(before.metadata.generation);
    const mine = after.metadata.managedFields.filter((m) => m.manager === FIELD_MANAGER);
    expect(mine).toEqual([expect.objectContaining({ operation: 'Apply', subresource: 'status' })]);
  });

  it('changes nothing, not even the resourceVersion, when the same status is applied again', async () => {
    const before = await get('a');
    expect(await applyStatus(ref('a'), before.status!)).toBe(true);
    expect((await get('a')).metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });

  it('removes an owned field the next apply leaves out', async () => {
    expect(
      await applyStatus(ref('a'), { conditions: ready('TokenSecretMissing'), observedGeneration: 1 }),
    ).toBe(true);
    expect((await get('a')).status).toEqual({
      conditions: ready('TokenSecretMissing'),
      observedGeneration: 1,
    });
  });

  it('clears an owned field a merge patch wrote before the operator used apply', async () => {
    await createKey('legacy');
    const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    await api.patchNamespacedCustomObjectStatus(
      {
        ...GROUP,
        name: 'legacy',
        body: {
          status: { conditions: ready('Active'), tokenFingerprint: 'kb_stripe_…old1', spentTodayUsd: '1.00' },
        },
      },
      merge,
    );
    expect(
      await applyStatus(ref('legacy'), { conditions: ready('PolicyNotFound'), observedGeneration: 1 }),
    ).toBe(true);
    expect((await get('legacy')).status).toEqual({
      conditions: ready('PolicyNotFound'),
      observedGeneration: 1,
    });
  });

  it('says false for an object that is gone', async () => {
    expect(await applyStatus(ref('never-created'), { conditions: ready('Active') })).toBe(false);
  });
});
