import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runKeyId, runKeysOf } from './run-keys.ts';
import { diffSnapshots } from './serialize.ts';
import type { CompiledKey, CompiledPolicy, Snapshot } from './types.ts';
import { withoutKeys } from './without-keys.ts';

const policy = (ref: string): CompiledPolicy => ({
  ref,
  limits: { perDayMicros: 1_000_000 },
  timezone: 'UTC',
  readsWhenStoreDown: false,
});
const POLICIES = [policy('agents/a'), policy('agents/b'), policy('agents/c')];
// Distinct in their first 12 bytes, so that no two keys share a run-key id (runKeyId).
const digest = (i: number) => `${i.toString(16).padStart(24, '0')}${'f'.repeat(40)}`;

/** A table of `n` keys, key i naming policy `policyOf(i)`, every one with a run secret. */
function table(n: number, policyOf: (i: number) => number, version = 7): Snapshot {
  const keys = new Map<string, CompiledKey>();
  for (let i = 0; i < n; i++)
    keys.set(digest(i), {
      uid: `uid-${i}`,
      namespace: 'agents',
      name: `k${i}`,
      vendor: 'stripe',
      tokenFingerprint: 'kb_stripe_…abcd',
      upstream: { kind: 'bearer', token: 'sk_test_x' },
      suspended: false,
      policy: POLICIES[policyOf(i)]!,
      runSecret: `secret-${i}`,
      tokenPrefix: 'kb_stripe_',
    });
  return { version, compiledAt: 1, keys };
}

describe('withoutKeys', () => {
  it('leaves the table it was made from alone, and answers undefined when no key is in it', () => {
    const before = table(3, () => 0);
    const after = withoutKeys(before, new Set([digest(1)]), { version: 8, compiledAt: 2 })!;
    expect([...after.keys.keys()]).toEqual([digest(0), digest(2)]);
    expect(before.keys.size).toBe(3);
    expect(withoutKeys(before, new Set([digest(9)]), { version: 8, compiledAt: 2 })).toBeUndefined();
  });

  it('ships the same delta a diff of the two tables computes, without diffing (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(2), { minLength: 1, maxLength: 30 }),
        fc.uniqueArray(fc.nat(40), { maxLength: 10 }),
        (policies, removed) => {
          const before = table(policies.length, (i) => policies[i]!);
          const remove = new Set(removed.map(digest));
          const after = withoutKeys(before, remove, { version: 8, compiledAt: 2 });
          if (!after) {
            expect(removed.every((i) => i >= policies.length)).toBe(true);
            return;
          }
          const known = diffSnapshots(before, after);
          // The same table as a new object: no recorded delta, so a real diff.
          const computed = diffSnapshots(before, { ...after });
          expect(known).not.toBe(computed);
          expect(known).toEqual(computed);
          // Its run-key index is the one built from scratch.
          const rebuilt = runKeysOf({ ...after, keys: new Map(after.keys) });
          expect(new Map(runKeysOf(after))).toEqual(new Map(rebuilt));
          for (const d of remove) expect(runKeysOf(after).has(runKeyId(d))).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('is diffed for real against any other version than the one it was made from', () => {
    const before = table(3, () => 0);
    const after = withoutKeys(before, new Set([digest(1)]), { version: 8, compiledAt: 2 })!;
    const older = { ...table(4, () => 0), version: 6 };
    expect([...diffSnapshots(older, after).remove]).toEqual([digest(1), digest(3)]);
  });
});
