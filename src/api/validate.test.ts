import { describe, expect, it } from 'vitest';
import type { RawDocument } from './resource-set.ts';
import { validate } from './validate.ts';

const secret = (name: string, namespace?: string) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, ...(namespace !== undefined && { namespace }) },
  stringData: { apiKey: 'sk_test_x' },
});
const policy = (name: string, namespace?: string) => ({
  apiVersion: 'keybrake.dev/v1alpha1',
  kind: 'SpendPolicy',
  metadata: { name, ...(namespace !== undefined && { namespace }) },
  spec: { vendor: 'stripe' },
});
const docs = (...objects: object[]): RawDocument[] =>
  objects.map((doc, i) => ({ source: `f${i}.yaml`, index: 0, doc }));

describe('validate: duplicates', () => {
  it('refuses a second resource of the same kind, namespace and name, naming the first', () => {
    const { set, errors } = validate(docs(secret('a', 'ns'), secret('b', 'ns'), secret('a', 'ns')));
    expect(set.secrets.map((s) => s.metadata.name)).toEqual(['a', 'b']);
    expect(errors).toEqual([
      {
        source: 'f2.yaml',
        index: 0,
        kind: 'Secret',
        namespace: 'ns',
        name: 'a',
        path: 'metadata.name',
        message: 'duplicate Secret: also defined in f0.yaml document 1',
      },
    ]);
  });

  it('counts a resource without a namespace as one in the default namespace', () => {
    const { errors } = validate(docs(policy('p'), policy('p', 'default')));
    expect(errors.map((e) => e.message)).toEqual([
      'duplicate SpendPolicy: also defined in f0.yaml document 1',
    ]);
    expect(validate(docs(policy('p'), policy('p', 'ns')), { defaultNamespace: 'ns' }).errors).toHaveLength(1);
  });

  it('keeps resources apart whose kind, namespace or name differ', () => {
    const { set, errors } = validate(
      docs(secret('a', 'ns'), policy('a', 'ns'), secret('a', 'other'), secret('b', 'ns')),
    );
    expect(errors).toEqual([]);
    expect(set.secrets).toHaveLength(3);
    expect(set.policies).toHaveLength(1);
  });
});
