import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fixedClock } from '../clock.ts';
import { newToken } from '../tokens/token.ts';
import { policyCheck } from './policy-check.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keybrake-upstream-shape-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const clock = fixedClock('2026-12-01T00:00:00Z');

/** A policy, a key of `vendor` and its token and upstream Secrets (`upstream`: the upstream's stringData). */
function manifests(vendor: 'stripe' | 'resend' | 'twilio', name: string, upstream: string): string {
  const key = vendor === 'twilio' ? '' : ', key: apiKey';
  return `apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: ${name}, namespace: a }
spec: { vendor: ${vendor} }
---
apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: ${name}, namespace: a }
spec: { vendor: ${vendor}, policyRef: { name: ${name} }, upstreamSecretRef: { name: ${name}-live${key} }, tokenSecretRef: { name: ${name}-token, key: token } }
---
apiVersion: v1
kind: Secret
metadata: { name: ${name}-token, namespace: a }
stringData: { token: ${newToken(vendor)} }
---
apiVersion: v1
kind: Secret
metadata: { name: ${name}-live, namespace: a }
stringData: ${upstream}
`;
}

const HEX = '0123456789abcdef0123456789abcdef';
// Another run of hex digits than the token's: a token inside its SID is warned of on its own
// (credential-in-sid-warnings.ts, twelfth round).
const SID = `AC${'fedcba9876543210'.repeat(2)}`;

// Eighth round: an upstream Secret holding `sk_tset_…` (a typo) passed policy-check silently, and
// every call would have been refused by Stripe.
describe('policy-check: upstream keys not shaped like the vendor’s', () => {
  it.each<[string, 'stripe' | 'resend' | 'twilio', string, string, string]>([
    [
      'a Stripe key with a typo in its prefix',
      'stripe',
      '{ apiKey: sk_tset_51Habcdefghijklmnop }',
      'apiKey',
      'a Stripe secret or restricted key (sk_live_…, sk_test_…, rk_live_…, rk_test_…)',
    ],
    [
      'a Resend key without re_',
      'resend',
      '{ apiKey: abcdefghijklmnopqrstu }',
      'apiKey',
      'a Resend API key (re_…)',
    ],
    [
      'a Twilio auth token that is not 32 hex digits',
      'twilio',
      `{ accountSid: ${SID}, authToken: my-auth-token-from-the-console }`,
      'authToken',
      'a Twilio auth token (32 hexadecimal digits)',
    ],
    [
      'a Twilio API key secret that is not 32 letters and digits',
      'twilio',
      `{ accountSid: ${SID}, apiKeySid: SK${HEX}, apiKeySecret: short_secret_value }`,
      'apiKeySecret',
      'a Twilio API key secret (32 letters and digits)',
    ],
  ])(
    'warns of %s, naming the Secret and field, never the value',
    async (_, vendor, upstream, field, what) => {
      await writeFile(join(dir, 'm.yaml'), manifests(vendor, 'k', upstream));
      const { ok, lines } = await policyCheck([dir], { clock });
      expect(ok).toBe(true);
      expect(lines).toEqual([
        `warning: Secret a/k-live: field "${field}" (the upstream key of VaultKey a/k) does not look like ${what}: check that it holds the vendor's key`,
        'ok: 1 SpendPolicy, 1 VaultKey, 1 served, 0 error(s)',
      ]);
      const value = /(?:apiKey|authToken|apiKeySecret): ([^,} ]+) \}$/.exec(upstream)![1]!;
      expect(lines.join('\n')).not.toContain(value.slice(0, 6));
    },
  );

  it.each<[string, 'stripe' | 'resend' | 'twilio', string]>([
    // Spelt in two pieces so that no live-key-shaped string sits in the tree for scanners to flag.
    ['a Stripe live key', 'stripe', `{ apiKey: ${'sk_live'}_51Habcdefghijklmnop }`],
    ['a Stripe restricted test key', 'stripe', '{ apiKey: rk_test_51Habcdefghijklmnop }'],
    ['a Resend key', 'resend', '{ apiKey: re_123_abcdefghijklmnop }'],
    ['a Twilio auth token', 'twilio', `{ accountSid: ${SID}, authToken: "${HEX}" }`],
  ])('says nothing of %s', async (_, vendor, upstream) => {
    await writeFile(join(dir, 'm.yaml'), manifests(vendor, 'k', upstream));
    const { lines } = await policyCheck([dir], { clock });
    expect(lines).toEqual(['ok: 1 SpendPolicy, 1 VaultKey, 1 served, 0 error(s)']);
  });

  it('warns once of a Secret two keys send', async () => {
    const one = manifests('stripe', 'k', '{ apiKey: sk_tset_51Habcdefghijklmnop }');
    const two = manifests('stripe', 'j', '{}').replace(
      'name: j-live, key: apiKey',
      'name: k-live, key: apiKey',
    );
    await writeFile(join(dir, 'm.yaml'), `${one}---\n${two.split('---\n').slice(0, 3).join('---\n')}`);
    const { lines } = await policyCheck([dir], { clock });
    expect(lines.filter((l) => l.startsWith('warning: Secret a/k-live'))).toHaveLength(1);
    expect(lines.at(-1)).toBe('ok: 2 SpendPolicy, 2 VaultKey, 2 served, 0 error(s)');
  });
});
