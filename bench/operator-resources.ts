// The operator's view of a generated table, shared by the operator benchmarks (k8s-stream,
// operator-change): informer objects as the Kubernetes source hands them to validate.

export const NAMESPACE = 'bench';

type Doc = Record<string, unknown>;

/** The operator's view of N VaultKeys: four policies, one upstream Secret, a token Secret per key. */
export function operatorResources(
  tokens: readonly string[],
  suspended: ReadonlySet<number>,
): [string, Doc][] {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const out: [string, Doc][] = [];
  for (let p = 0; p < 4; p++)
    out.push([
      'SpendPolicy',
      {
        apiVersion: 'keybrake.dev/v1alpha1',
        kind: 'SpendPolicy',
        metadata: { name: `p${p}`, namespace: NAMESPACE, uid: `policy-${p}`, generation: 1 },
        spec: {
          vendor: 'stripe',
          limits: { perCallUsd: '1000', perDayUsd: String(100_000_000 + p) },
          allow: { endpoints: ['POST /v1/charges', 'GET /v1/**'], currencies: ['usd'] },
        },
      },
    ]);
  out.push([
    'Secret',
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'upstream', namespace: NAMESPACE, uid: 'upstream' },
      data: { apiKey: b64('sk_test_bench_upstream_not_a_real_key') },
    },
  ]);
  for (const [i, token] of tokens.entries()) {
    const name = `k${String(i).padStart(6, '0')}`;
    out.push([
      'VaultKey',
      {
        apiVersion: 'keybrake.dev/v1alpha1',
        kind: 'VaultKey',
        metadata: {
          name,
          namespace: NAMESPACE,
          uid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
          generation: 1,
        },
        spec: {
          vendor: 'stripe',
          policyRef: { name: `p${i % 4}` },
          upstreamSecretRef: { name: 'upstream', key: 'apiKey' },
          tokenSecretRef: { name: `${name}-token`, key: 'token' },
          ...(suspended.has(i) && { suspended: true }),
        },
      },
    ]);
    out.push([
      'Secret',
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: `${name}-token`, namespace: NAMESPACE, uid: `token-${i}` },
        data: { token: b64(token) },
      },
    ]);
  }
  return out;
}
