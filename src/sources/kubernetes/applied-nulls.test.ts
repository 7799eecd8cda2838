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
    expect(withAppliedNulls(stored, applied(given))).toEqual({
      vendor: 'stripe',
      limits: { perCallUsd: '50', perDayUsd: null },
      allow: { endpoints: null },
      timezone: 'UTC',
      expiresAt: null,
    });
    expect(stored).toEqual({ vendor: 'stripe', limits: { perCallUsd: '50' }, allow: {}, timezone: 'UTC' });
  });

  it('puts back a whole section left empty, and one under a section the stored spec lacks', () => {
    expect(withAppliedNulls({ vendor: 'stripe' }, applied({ vendor: 'stripe', limits: null }))).toEqual({
      vendor: 'stripe',
      limits: null,
    });
    expect(
      withAppliedNulls({ vendor: 'stripe' }, applied({ vendor: 'stripe', limits: { perDayUsd: null } })),
    ).toEqual({ vendor: 'stripe', limits: { perDayUsd: null } });
  });

  // A value set since (`kubectl patch`, an API client) is what is in force: there is nothing lost.
  it('leaves a field the stored spec has a value for', () => {
    const stored = { vendor: 'stripe', limits: { perDayUsd: '200' } };
    expect(withAppliedNulls(stored, applied({ vendor: 'stripe', limits: { perDayUsd: null } }))).toBe(stored);
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
    expect(withAppliedNulls(stored, annotations)).toBe(stored);
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
