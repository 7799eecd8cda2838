// Manifests and probes the Kubernetes suites share: the Stripe upstream Secret, a VaultKey naming
// a policy, one cheap read and one $1 charge through a proxy, and polls of every proxy until it allows or refuses.
import { setTimeout as delay } from 'node:timers/promises';
import type { Pool } from 'undici';
import { until } from '../env/k8s-system.ts';

/** How often a revocation poll asks each proxy again (each ask is a round trip on a kept connection). */
const POLL_INTERVAL_MS = 2;

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
  return answered(res.statusCode, res.headers['keybrake-decision']);
}

/** One priced call through a proxy: a $1 charge with the vault token. */
export async function charge(pool: Pool, token: string): Promise<Probe> {
  const res = await pool.request({
    path: '/v1/charges',
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'amount=100&currency=usd&source=tok_visa',
  });
  await res.body.dump();
  return answered(res.statusCode, res.headers['keybrake-decision']);
}

function answered(status: number, decisionHeader: unknown): Probe {
  const header = String(decisionHeader ?? '');
  return {
    status,
    decision: header.split(';')[0]?.trim() ?? '',
    reason: /reason=([a-z_]+)/.exec(header)?.[1],
  };
}

/** Until every proxy answers 200 for `token`. */
export async function allowedEverywhere(
  pools: readonly Pool[],
  token: string,
  timeoutMs: number,
): Promise<void> {
  await Promise.all(
    pools.map((pool, i) =>
      until(async () => (await probe(pool, token)).status === 200, timeoutMs, `proxy ${i} to allow the key`),
    ),
  );
}

/**
 * Polls every proxy every ~2 ms until it refuses `token` with `reason`; resolves with each first
 * denial's Date.now(). A denial for another reason, or none within `timeoutMs`, fails.
 */
export function firstDenials(
  pools: readonly Pool[],
  token: string,
  reason: string,
  timeoutMs: number,
): Promise<number[]> {
  return Promise.all(
    pools.map(async (pool, i) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const p = await probe(pool, token);
        const at = Date.now();
        if (p.decision === 'deny') {
          if (p.reason !== reason) throw new Error(`proxy ${i} denied with ${p.reason}, expected ${reason}`);
          return at;
        }
        if (at > deadline) throw new Error(`proxy ${i} still allows the key ${timeoutMs} ms later`);
        await delay(POLL_INTERVAL_MS);
      }
    }),
  );
}
