import { describe, expect, it } from 'vitest';
import type { VaultKey } from '../api/v1alpha1/index.ts';
import type { ObjectStatus } from '../compiler/compile.ts';
import { explainUnseenSecrets } from './unseen-secrets.ts';

const key = (name: string, upstream: string): VaultKey => ({
  apiVersion: 'keybrake.dev/v1alpha1',
  kind: 'VaultKey',
  metadata: { name, namespace: 'other', uid: `uid-${name}` },
  spec: {
    vendor: 'stripe',
    policyRef: { name: 'p' },
    upstreamSecretRef: { name: upstream, key: 'apiKey' },
    tokenSecretRef: { name: `${name}-token`, key: 'token' },
    suspended: false,
  },
});
const status = (name: string, reason: string, message: string): ObjectStatus => ({
  kind: 'VaultKey',
  namespace: 'other',
  name,
  uid: `uid-${name}`,
  conditions: [
    { type: 'Ready', status: 'False', reason, message, lastTransitionTime: '2026-06-01T00:00:00Z' },
  ],
});

describe('explainUnseenSecrets: an upstream Secret the operator does not see', () => {
  it('says the Secret may lack the label, and how to add it', () => {
    const statuses = [status('k', 'UpstreamSecretMissing', 'Secret other/plain does not exist.')];
    const [explained] = explainUnseenSecrets(statuses, [key('k', 'plain')]);
    expect(explained!.conditions[0]).toMatchObject({
      type: 'Ready',
      status: 'False',
      reason: 'UpstreamSecretMissing',
    });
    expect(explained!.conditions[0]!.message).toBe(
      'Secret other/plain does not exist or lacks the label keybrake.dev/secret: "true" (the operator sees ' +
        'only Secrets with that label); if it exists, label it: ' +
        'kubectl label secret plain -n other keybrake.dev/secret=true',
    );
  });

  it('leaves every other status as it is', () => {
    const statuses = [
      status('a', 'PolicyNotFound', 'SpendPolicy other/p does not exist.'),
      status('b', 'TokenSecretMissing', 'Secret other/b-token does not exist.'),
    ];
    expect(explainUnseenSecrets(statuses, [key('a', 'up'), key('b', 'up')])).toBe(statuses);
  });
});
