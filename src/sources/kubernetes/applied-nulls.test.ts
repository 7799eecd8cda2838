// Client-side `kubectl apply` never stores an empty field: on a create it drops the null, and an edit
// to empty sends a merge-patch null that deletes the field. Found in the eleventh round: a policy whose
// `perDayUsd:` was left empty and whose `endpoints:` entries were all commented out was stored without
// a cap and without an allowlist, and Ready. The annotation kubectl writes from the file still holds
// the nulls; the source hands them on so the compiler refuses the object, as `serve` does the file.
import { describe, expect, it } from 'vitest';
import { validate } from '../../api/validate.ts';
import { LAST_APPLIED, withAppliedNulls } from './applied-nulls.ts';
import { slim, toRawDocument } from './documents.ts';

const applied = (spec: unknown) => ({
  [LAST_APPLIED]: JSON.stringify({ apiVersion: 'keybrake.dev/v1alpha1', kind: 'SpendPolicy', spec }),
});

describe('withAppliedNulls', () => {
  it('puts back each field the applied manifest left empty and the stored spec lacks', () => {
    const stored = { vendor: 'stripe', limits: { perCallUsd: '50' }, allow: {}, timezone: 'UTC' };
    const given = {
      vendor: 'stripe',
      limits: { perCallUsd: '50', perDayUsd: null },
      allow: { endpoints: null },
      expiresAt: null,
    };
    expect(withAppliedNulls('SpendPolicy', stored, applied(given))).toEqual({
      vendor: 'stripe',
      limits: { perCallUsd: '50', perDayUsd: null },
      allow: { endpoints: null },
      timezone: 'UTC',
      expiresAt: null,
    });
    expect(stored).toEqual({ vendor: 'stripe', limits: { perCallUsd: '50' }, allow: {}, timezone: 'UTC' });
  });

  it('puts back a whole section left empty, and one under a section the stored spec lacks', () => {
    expect(
      withAppliedNulls('SpendPolicy', { vendor: 'stripe' }, applied({ vendor: 'stripe', limits: null })),
    ).toEqual({
      vendor: 'stripe',
      limits: null,
    });
    expect(
      withAppliedNulls(
        'SpendPolicy',
        { vendor: 'stripe' },
        applied({ vendor: 'stripe', limits: { perDayUsd: null } }),
      ),
    ).toEqual({ vendor: 'stripe', limits: { perDayUsd: null } });
  });

  // A value set since (`kubectl patch`, an API client) is what is in force: there is nothing lost.
  it('leaves a field the stored spec has a value for', () => {
    const stored = { vendor: 'stripe', limits: { perDayUsd: '200' } };
    expect(
      withAppliedNulls('SpendPolicy', stored, applied({ vendor: 'stripe', limits: { perDayUsd: null } })),
    ).toBe(stored);
  });

  // Twelfth round: CRDs declaring the zod defaults made the API server fill in the field kubectl had
  // dropped or deleted, so a suspended key edited to `suspended:` was served again. Objects stored
  // under those CRDs (Helm never upgrades them) hold the default where the file left the field empty.
  it('puts back a null where the stored spec holds the schema default the API server filled in', () => {
    const vaultKey = {
      vendor: 'stripe',
      policyRef: { name: 'p' },
      upstreamSecretRef: { name: 'up', key: 'apiKey' },
      tokenSecretRef: { name: 't', key: 'token' },
    };
    const key = (spec: unknown) => ({
      [LAST_APPLIED]: JSON.stringify({ apiVersion: 'keybrake.dev/v1alpha1', kind: 'VaultKey', spec }),
    });
    expect(
      withAppliedNulls(
        'VaultKey',
        { ...vaultKey, suspended: false },
        key({ ...vaultKey, tokenSecretRef: { name: 't', key: null }, suspended: null }),
      ),
    ).toEqual({ ...vaultKey, tokenSecretRef: { name: 't', key: null }, suspended: null });
    const policy = {
      vendor: 'stripe',
      requireRunId: false,
      readsWhenCountersDown: 'allow',
      timezone: 'UTC',
    };
    const emptied = { vendor: 'stripe', requireRunId: null, readsWhenCountersDown: null, timezone: null };
    expect(withAppliedNulls('SpendPolicy', policy, applied(emptied))).toEqual(emptied);
    // A value other than the default was set after the file: it is in force.
    const patched = {
      vendor: 'stripe',
      requireRunId: true,
      readsWhenCountersDown: 'deny',
      timezone: 'Asia/Tokyo',
    };
    expect(withAppliedNulls('SpendPolicy', patched, applied(emptied))).toBe(patched);
  });

  it.each([
    ['no annotations', undefined],
    ['no last-applied annotation', { other: 'null' }],
    ['an annotation with no null', applied({ vendor: 'stripe', limits: { perDayUsd: '2' } })],
    ['an annotation that is not JSON', { [LAST_APPLIED]: '{null' }],
    ['an annotation without a spec', { [LAST_APPLIED]: '{"metadata":null}' }],
    ['a null only inside a list', applied({ allow: { endpoints: [null] } })],
  ])('returns the stored spec itself given %s', (_name, annotations) => {
    const stored = { vendor: 'stripe', allow: { endpoints: ['GET /v1/**'] } };
    expect(withAppliedNulls('SpendPolicy', stored, annotations)).toBe(stored);
  });
});

// The annotation is the tenant's to write (`kubectl patch`), not only kubectl's (eleventh round, fixes
// probe): it is read only along the fields the spec's schema has.
describe('withAppliedNulls given a hostile annotation', () => {
  const nested = (depth: number) => `${'{"a":'.repeat(depth)}null${'}'.repeat(depth)}`;
  const raw = (spec: string) => ({ [LAST_APPLIED]: `{"spec":${spec}}` });

  // 40 000 levels, 240 KB: under the API server's 256 KiB of annotations. The walk overflowed the
  // stack at about 8 000, inside client-node's watch callback, which swallows the throw.
  it.each([
    ['under an unknown field', (d: number) => `{"a":${nested(d)}}`],
    ['under a known object field', (d: number) => `{"limits":${nested(d)}}`],
    ['under a known scalar field', (d: number) => `{"perDayUsd":${nested(d)}}`],
    ['as a list', (d: number) => `{"allow":{"endpoints":[${nested(d)}]}}`],
  ])('a deeply nested annotation %s returns, putting back nothing', (_name, make) => {
    for (const kind of ['SpendPolicy', 'VaultKey'] as const) {
      const stored = { vendor: 'stripe', limits: { perCallUsd: '1' }, allow: { endpoints: ['GET /v1/**'] } };
      expect(withAppliedNulls(kind, stored, raw(make(40_000)))).toBe(stored);
    }
  });

  it("puts back a null at the schema's fields only, never a prototype", () => {
    const stored = { vendor: 'stripe', policyRef: { name: 'p' } };
    const out = withAppliedNulls(
      'VaultKey',
      stored,
      raw(
        '{"__proto__":{"suspended":null,"policyRef":null},"constructor":null,"prototype":null,"policyRef":{"__proto__":{"name":null},"nam":null},"madeUp":null,"suspended":null}',
      ),
    ) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.getPrototypeOf(out.policyRef)).toBe(Object.prototype);
    expect(out).toEqual({ vendor: 'stripe', policyRef: { name: 'p' }, suspended: null });
    expect(Object.keys(out)).toEqual(['vendor', 'policyRef', 'suspended']);
    expect(({} as Record<string, unknown>).suspended).toBeUndefined();
  });

  it('goes into an object field only where the schema has one, and only by its named fields', () => {
    const stored = { vendor: 'stripe' };
    // tokenSecretRef is an object of the VaultKey schema; vendor a string; limits a SpendPolicy field.
    expect(
      withAppliedNulls(
        'VaultKey',
        stored,
        raw(
          '{"tokenSecretRef":{"key":null,"other":{"x":null}},"vendor":{"x":null},"limits":{"perDayUsd":null}}',
        ),
      ),
    ).toEqual({ vendor: 'stripe', tokenSecretRef: { key: null } });
  });
});

describe('a SpendPolicy applied with empty fields, as the operator reads it', () => {
  it('is refused with the errors `serve` gives the same file', () => {
    const object = {
      apiVersion: 'keybrake.dev/v1alpha1',
      kind: 'SpendPolicy',
      metadata: {
        name: 'p',
        namespace: 'agents',
        uid: 'u1',
        annotations: applied({
          vendor: 'stripe',
          limits: { perCallUsd: '50', perDayUsd: null },
          allow: { endpoints: null },
        }),
      },
      spec: { vendor: 'stripe', limits: { perCallUsd: '50' }, allow: {}, timezone: 'UTC' },
    };
    const slimmed = slim('SpendPolicy', object);
    expect(slimmed.metadata?.annotations).toEqual({});
    const result = validate([toRawDocument('SpendPolicy', slimmed)]);
    expect(result.set.policies).toEqual([]);
    expect(result.errors.map((e) => e.path).sort()).toEqual([
      'spec.allow.endpoints',
      'spec.limits.perDayUsd',
    ]);
  });
});
