// Manifests for the scale series: N Stripe VaultKeys sharing four SpendPolicies and one upstream
// Secret, each with its own token Secret (what `keybrake serve` expects). Written as plain text
// from templates (no YAML library: generating must not cost what loading costs), in files of
// KEYS_PER_FILE keys, so "edit one key file" during a reload touches one of them.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { newToken } from '../src/tokens/token.ts';

export const KEYS_PER_FILE = 1_000;
const POLICIES = 4;
const NAMESPACE = 'scale';

/** A directory of N keys and what the series needs to drive it. */
export interface ScaleManifests {
  readonly dir: string;
  readonly keys: number;
  /** Token of key i. */
  readonly tokens: readonly string[];
  readonly bytes: number;
  readonly writeMs: number;
  /** Rewrites the file holding key 0 with that key `suspended: true` or not (a one-key change); resolves when written. */
  setFirstKeySuspended(suspended: boolean): Promise<void>;
  remove(): Promise<void>;
}

function policies(): string {
  let out = '';
  for (let p = 0; p < POLICIES; p++) {
    out += `---
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: p${p}, namespace: ${NAMESPACE} }
spec:
  vendor: stripe
  limits:
    perCallUsd: "1000"
    perDayUsd: "${100_000_000 + p}"
    perMonthUsd: "1000000000"
  allow:
    endpoints: ["POST /v1/charges", "GET /v1/**"]
    currencies: ["usd"]
`;
  }
  return `${out}---
apiVersion: v1
kind: Secret
metadata: { name: upstream, namespace: ${NAMESPACE} }
stringData: { apiKey: sk_test_bench_upstream_not_a_real_key }
`;
}

function key(i: number, token: string, suspended: boolean): string {
  const name = `k${String(i).padStart(6, '0')}`;
  return `---
apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: ${name}, namespace: ${NAMESPACE} }
spec:
  vendor: stripe
  policyRef: { name: p${i % POLICIES} }
  upstreamSecretRef: { name: upstream, key: apiKey }
  tokenSecretRef: { name: ${name}-token, key: token }${suspended ? '\n  suspended: true' : ''}
---
apiVersion: v1
kind: Secret
metadata: { name: ${name}-token, namespace: ${NAMESPACE} }
stringData: { token: ${token} }
`;
}

function keyFile(tokens: readonly string[], first: number, end: number, suspendFirst = false): string {
  let out = '';
  for (let i = first; i < end; i++) out += key(i, tokens[i]!, suspendFirst && i === first);
  return out;
}

/** Tokens for the largest size of the series, minted once and shared by every size. */
export function mintTokens(n: number): string[] {
  return Array.from({ length: n }, () => newToken('stripe'));
}

/** Writes `keys` keys (tokens[0..keys)) into a fresh directory under `parent`. */
export async function writeScaleManifests(
  parent: string,
  keys: number,
  tokens: readonly string[],
): Promise<ScaleManifests> {
  const started = performance.now();
  const dir = path.join(parent, `keys-${keys}`);
  await mkdir(dir, { recursive: true });
  const fileOf = (first: number) =>
    path.join(dir, `keys-${String(first / KEYS_PER_FILE).padStart(4, '0')}.yaml`);
  let bytes = 0;
  const head = policies();
  await writeFile(path.join(dir, 'policies.yaml'), head);
  bytes += head.length;
  const writes: Promise<void>[] = [];
  for (let first = 0; first < keys; first += KEYS_PER_FILE) {
    const text = keyFile(tokens, first, Math.min(keys, first + KEYS_PER_FILE));
    bytes += text.length;
    writes.push(writeFile(fileOf(first), text));
  }
  await Promise.all(writes);
  // Both versions of key 0's file, made now: made at the edit, its 400 KB of text held the load
  // generator's event loop for 1.1 to 1.5 ms, which the calls then in flight were timed with.
  const firstEnd = Math.min(keys, KEYS_PER_FILE);
  const firstFile = {
    suspended: Buffer.from(keyFile(tokens, 0, firstEnd, true)),
    resumed: Buffer.from(keyFile(tokens, 0, firstEnd, false)),
  };
  return {
    dir,
    keys,
    tokens: tokens.slice(0, keys),
    bytes,
    writeMs: performance.now() - started,
    setFirstKeySuspended: (suspended) =>
      writeFile(fileOf(0), suspended ? firstFile.suspended : firstFile.resumed),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
