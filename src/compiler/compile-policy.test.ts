import { describe, expect, it } from 'vitest';
import { SpendPolicySchema } from '../api/v1alpha1/index.ts';
import { matchesHost } from '../patterns/hosts.ts';
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

describe('compilePolicy: allow.twimlHosts (ADR 0007 §7)', () => {
  it('compiles exact hosts and *. wildcards into matchers', () => {
    const hosts = compilePolicy(
      policy({ vendor: 'twilio', allow: { twimlHosts: ['TwiML.example.com', '*.flows.example.com'] } }),
    ).policy.twimlHosts!;
    expect(matchesHost(hosts, 'twiml.example.com')).toBe(true);
    expect(matchesHost(hosts, 'x.flows.example.com')).toBe(true);
    expect(matchesHost(hosts, 'flows.example.com')).toBe(false);
  });

  it('leaves the field absent when the policy names no hosts', () => {
    expect(compilePolicy(policy({ allow: {} })).policy).not.toHaveProperty('twimlHosts');
  });

  it.each([
    ['a URL', 'https://twiml.example.com'],
    ['a port', 'twiml.example.com:443'],
    ['an inner wildcard', 'twiml*.example.com'],
    ['a single label', 'localhost'],
  ])('refuses %s, naming the field', (_name, host) => {
    const result = SpendPolicySchema.safeParse({
      apiVersion: 'keybrake.dev/v1alpha1',
      kind: 'SpendPolicy',
      metadata: { name: 'p', namespace: 'agents' },
      spec: { vendor: 'twilio', allow: { twimlHosts: ['ok.example.com', host] } },
    });
    expect(result.success).toBe(false);
    expect(result.error!.issues[0]).toMatchObject({
      path: ['spec', 'allow', 'twimlHosts', 1],
      message: expect.stringMatching(/must be a host name/),
    });
  });
});
