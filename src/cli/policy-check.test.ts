import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fixedClock } from '../clock.ts';
import { policyCheck } from './policy-check.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keybrake-check-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const clock = fixedClock('2026-06-01T00:00:00Z');

describe('policyCheck', () => {
  it('passes the quick start example', async () => {
    const { ok, lines } = await policyCheck(
      [new URL('../../examples/quickstart', import.meta.url).pathname],
      { clock },
    );
    expect(lines).toEqual(['ok: 3 SpendPolicy, 3 VaultKey, 3 served, 0 error(s)']);
    expect(ok).toBe(true);
  });

  it('fails on a document error, in the documented line format', async () => {
    await writeFile(
      join(dir, 'p.yaml'),
      '---\napiVersion: keybrake.dev/v1alpha1\nkind: SpendPolicy\nmetadata: { name: p }\nspec: { vendor: stripe, limits: { perDayUsd: 200 } }\n',
    );
    const { ok, lines } = await policyCheck([dir], { clock });
    expect(ok).toBe(false);
    expect(lines[0]).toBe(
      `error: ${join(dir, 'p.yaml')}: document 1 (SpendPolicy default/p): spec.limits.perDayUsd: must be a decimal string in quotes, e.g. "200" or "12.50"`,
    );
  });

  it('reports a key without its policy as a warning, not an error', async () => {
    await writeFile(
      join(dir, 'k.yaml'),
      'apiVersion: keybrake.dev/v1alpha1\nkind: VaultKey\nmetadata: { name: k, namespace: a }\nspec:\n  vendor: resend\n  policyRef: { name: gone }\n  upstreamSecretRef: { name: s, key: k }\n  tokenSecretRef: { name: t }\n',
    );
    const { ok, lines } = await policyCheck([dir], { clock });
    expect(ok).toBe(true);
    expect(lines[0]).toBe('warning: VaultKey a/k: PolicyNotFound: SpendPolicy a/gone does not exist.');
  });
});
