// The SpendPolicy CRD's list bounds against the real API server (fourth-round probe: one tenant's 54
// policies of 1.3 MB stopped every proxy's snapshot stream). A policy past a bound never reaches the
// operator; one at the bounds is accepted.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { injectedControlPlane } from '../env/control-plane/inject.ts';
import { installCrds } from '../env/k8s-system.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const NAMESPACE = 'policy-bounds';
const cp = injectedControlPlane();

beforeAll(async () => {
  await installCrds(
    async (args) => {
      const r = await cp.kubectl(args);
      expect(r.code, r.stderr).toBe(0);
      return r.stdout;
    },
    join(ROOT, 'crds'),
  );
  await cp.kubectl(['create', 'namespace', NAMESPACE]);
});

const policy = (name: string, allow: object) =>
  JSON.stringify({
    apiVersion: 'keybrake.dev/v1alpha1',
    kind: 'SpendPolicy',
    metadata: { name, namespace: NAMESPACE },
    spec: { vendor: 'stripe', allow },
  });
const apply = (text: string) => cp.kubectl(['create', '--dry-run=server', '-f', '-'], { input: text });
const ids = (n: number, length: number) =>
  Array.from({ length: n }, (_, i) => `cus_${i}_`.padEnd(length, 'x'));

describe('SpendPolicy list bounds in the CRD', () => {
  // 10 000 ids of 256 characters are past the API server's own request limit (3 MiB); 4 000 are not.
  it('accepts a policy at the endpoint bound with ids at the length bound', async () => {
    const r = await apply(
      policy('at-bounds', {
        endpoints: Array.from({ length: 1_000 }, (_, i) => `GET /v1/customers/x${i}/**`),
        customers: ids(4_000, 256),
      }),
    );
    expect(r.code, r.stderr).toBe(0);
  });

  it.each([
    [
      '1 001 endpoints',
      { endpoints: Array.from({ length: 1_001 }, (_, i) => `GET /v1/x${i}`) },
      /spec\.allow\.endpoints: Too many: 1001: must have at most 1000 items/,
    ],
    [
      '10 001 customers',
      { customers: ids(10_001, 10) },
      /spec\.allow\.customers: Too many: 10001: must have at most 10000 items/,
    ],
    [
      'a customer id of 257 characters',
      { customers: ids(1, 257) },
      /spec\.allow\.customers\[0\]: Too long: may not be (longer than|more than) 256/,
    ],
  ])('refuses a policy with %s', async (_name, allow, message) => {
    const r = await apply(policy('past-bounds', allow));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(message);
  });
});
