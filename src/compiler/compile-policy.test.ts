import { describe, expect, it } from 'vitest';
import { SpendPolicySchema } from '../api/v1alpha1/index.ts';
import { compilePolicy } from './compile-policy.ts';

const policy = (spec: Record<string, unknown>) =>
  SpendPolicySchema.parse({
    apiVersion: 'keybrake.dev/v1alpha1',
    kind: 'SpendPolicy',
    metadata: { name: 'p', namespace: 'agents' },
    spec: { vendor: 'stripe', ...spec },
  });

describe('compilePolicy: requireRunId (ADR 0007 §6)', () => {
  it('defaults to false and then leaves the compiled policy as it was', () => {
    const p = policy({});
    expect(p.spec.requireRunId).toBe(false);
    expect(compilePolicy(p).policy).not.toHaveProperty('requireRunId');
  });

  it('compiles true', () => {
    expect(compilePolicy(policy({ requireRunId: true })).policy.requireRunId).toBe(true);
  });

  it('refuses anything but a boolean', () => {
    expect(() => policy({ requireRunId: 'yes' })).toThrow(/true or false/);
  });
});
