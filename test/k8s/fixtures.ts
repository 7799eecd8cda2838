// Manifests and probes the Kubernetes suites share: the Stripe upstream Secret, a VaultKey naming
// a policy, and one cheap read through a proxy.
import type { Pool } from 'undici';

/** The upstream Stripe key, in a Secret the operator watches (keybrake.dev/secret label). */
export const stripeUpstreamSecret = (apiKey: string) => `
apiVersion: v1
kind: Secret
metadata:
  name: stripe-live
  labels: { keybrake.dev/secret: "true" }
stringData: { apiKey: ${apiKey} }
`;

/** A Stripe VaultKey on `policy` with the `stripe-live` upstream and a token Secret of its own. */
export function stripeVaultKey(name: string, policy: string, spec: Record<string, unknown> = {}): string {
  return `
apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: ${name} }
spec: ${JSON.stringify({
    vendor: 'stripe',
    policyRef: { name: policy },
    upstreamSecretRef: { name: 'stripe-live', key: 'apiKey' },
    tokenSecretRef: { name: `${name}-token`, key: 'token' },
    ...spec,
  })}
`;
}

export interface Probe {
  status: number;
  decision: string;
  reason: string | undefined;
}

/** One cheap read through a proxy: GET /v1/customers with the vault token. */
export async function probe(pool: Pool, token: string): Promise<Probe> {
  const res = await pool.request({
    path: '/v1/customers?limit=1',
    method: 'GET',
    headers: { authorization: `Bearer ${token}` },
  });
  await res.body.dump();
  const header = String(res.headers['keybrake-decision'] ?? '');
  return {
    status: res.statusCode,
    decision: header.split(';')[0]?.trim() ?? '',
    reason: /reason=([a-z_]+)/.exec(header)?.[1],
  };
}
