// The benchmark's vault key: one Stripe key whose caps are so high that no phase ever reaches them,
// so every call is priced, authorized and reserved (one counter write) and then allowed.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { newToken } from '../src/tokens/token.ts';

/** A temporary manifests directory and the vault token it serves. */
export interface BenchManifests {
  readonly dir: string;
  readonly token: string;
  remove(): Promise<void>;
}

export async function writeBenchManifests(): Promise<BenchManifests> {
  const dir = await mkdtemp(path.join(tmpdir(), 'keybrake-bench-'));
  const token = newToken('stripe');
  await writeFile(
    path.join(dir, 'bench.yaml'),
    `apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: bench, namespace: bench }
spec:
  vendor: stripe
  limits:
    perCallUsd: "1000"
    perDayUsd: "100000000"
    perMonthUsd: "1000000000"
  allow:
    endpoints: ["POST /v1/charges", "GET /v1/**"]
    currencies: ["usd"]
---
apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: bench, namespace: bench }
spec:
  vendor: stripe
  policyRef: { name: bench }
  upstreamSecretRef: { name: bench-upstream, key: apiKey }
  tokenSecretRef: { name: bench-token, key: token }
---
apiVersion: v1
kind: Secret
metadata: { name: bench-upstream, namespace: bench }
stringData: { apiKey: sk_test_bench_upstream_not_a_real_key }
---
apiVersion: v1
kind: Secret
metadata: { name: bench-token, namespace: bench }
stringData: { token: ${token} }
`,
  );
  return { dir, token, remove: () => rm(dir, { recursive: true, force: true }) };
}
