// Statuses of objects that are not served, on a real API server (probe k8s16, sixteenth round):
// - a new namespace whose only VaultKey is misspelt (`suspend: true`), or that holds only policies,
//   was never claimed, so nothing in it got a status or an Event: the typo was silent;
// - a VaultKey a finalizer holds after `kubectl delete` was refused at once but kept
//   `Ready=True / Active` for as long as the finalizer held it.
// Both are counted at the recording upstream: nothing of theirs is forwarded.
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StripeEmulator, startStripeEmulator } from '../../src/emulators/stripe.ts';
import { injectedControlPlane } from '../env/control-plane/inject.ts';
import { type K8sSystem, startK8sSystem, tenantKubectl, until } from '../env/k8s-system.ts';
import { charge, probe, stripeUpstreamSecret, stripeVaultKey } from './fixtures.ts';

const cp = injectedControlPlane();
const RELEASE_NS = 'status-unserved-rel';
const SERVED = 'status-unserved-a';
const TYPO = 'status-unserved-typo';
const POLICIES = 'status-unserved-policies';
const REAL_KEY = 'sk_test_status_unserved_00000000000000';

const policy = (name: string) => `
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: ${name} }
spec:
  vendor: stripe
  limits: { perDayUsd: "5" }
  allow: { endpoints: ["POST /v1/charges", "GET /v1/**"] }
`;

let stripe: StripeEmulator;
let system: K8sSystem;
let pool: Pool;

interface Ready {
  status?: string;
  reason?: string;
  message?: string;
}
const ready = async (namespace: string, kind: 'sp' | 'vk', name: string): Promise<Ready> =>
  JSON.parse(
    (await tenantKubectl(cp, namespace).kubectl([
      'get',
      kind,
      name,
      '-o',
      'jsonpath={.status.conditions[?(@.type=="Ready")]}',
    ])) || '{}',
  ) as Ready;
const untilReason = (namespace: string, kind: 'sp' | 'vk', name: string, reason: string) =>
  until(
    async () => (await ready(namespace, kind, name)).reason === reason,
    30_000,
    `${kind} ${namespace}/${name} ${reason}`,
  );
const events = async (namespace: string, name: string) =>
  (
    JSON.parse(
      await tenantKubectl(cp, namespace).kubectl([
        'get',
        'events',
        '--field-selector',
        `involvedObject.name=${name}`,
        '-o',
        'json',
      ]),
    ) as { items: { type: string; reason: string; message: string }[] }
  ).items;

beforeAll(async () => {
  stripe = await startStripeEmulator({ validKeys: [REAL_KEY] });
  await cp.kubectl(['create', 'namespace', SERVED]);
  system = await startK8sSystem({ cp, namespace: RELEASE_NS, proxies: 1, upstreams: { stripe: stripe.url } });
  pool = new Pool(system.proxies[0]!.vendorUrls['stripe']!, { connections: 2 });
});

afterAll(async () => {
  await pool?.close();
  await system?.stop();
  await stripe?.close();
  await cp.kubectl([
    'delete',
    'namespace',
    SERVED,
    TYPO,
    POLICIES,
    RELEASE_NS,
    '--wait=false',
    '--ignore-not-found',
  ]);
});

describe('objects that are not served still say why', () => {
  it('a new namespace whose only key is misspelt: the key is Invalid with a Warning Event, the policy Valid', async () => {
    await cp.kubectl(['create', 'namespace', TYPO]);
    const { kubectl } = tenantKubectl(cp, TYPO);
    // `suspend` for `suspended`, written by a client without Strict field validation.
    await kubectl(
      ['apply', '--validate=false', '-f', '-'],
      [
        stripeUpstreamSecret(REAL_KEY),
        policy('pol'),
        stripeVaultKey('typo-bot', 'pol', { suspend: true }),
      ].join('---\n'),
    );
    await untilReason(TYPO, 'vk', 'typo-bot', 'Invalid');
    expect(await ready(TYPO, 'vk', 'typo-bot')).toMatchObject({
      status: 'False',
      message: expect.stringMatching(/spec\.suspend: unknown field "suspend"/),
    });
    await untilReason(TYPO, 'sp', 'pol', 'Valid');
    await until(
      async () =>
        (await events(TYPO, 'typo-bot')).some((e) => e.type === 'Warning' && e.reason === 'Invalid'),
      30_000,
      'a Warning Invalid Event on typo-bot',
    );
    // Never served: no token minted for it.
    expect(
      (await cp.kubectl(['-n', TYPO, 'get', 'secret', 'typo-bot-token', '--ignore-not-found', '-o', 'name']))
        .stdout,
    ).toBe('');
  });

  it('a namespace holding only policies: each policy shows Ready', async () => {
    await cp.kubectl(['create', 'namespace', POLICIES]);
    await tenantKubectl(cp, POLICIES).kubectl(
      ['apply', '-f', '-'],
      [policy('first'), policy('second')].join('---\n'),
    );
    await untilReason(POLICIES, 'sp', 'first', 'Valid');
    await untilReason(POLICIES, 'sp', 'second', 'Valid');
  });

  it('a key a finalizer holds after kubectl delete is Ready=False Deleting, and nothing of it is forwarded', async () => {
    const { kubectl, mintedToken } = tenantKubectl(cp, SERVED);
    await kubectl(
      ['apply', '-f', '-'],
      [stripeUpstreamSecret(REAL_KEY), policy('pol'), stripeVaultKey('held-bot', 'pol')].join('---\n'),
    );
    const token = await mintedToken('held-bot');
    await until(async () => (await probe(pool, token)).status === 200, 30_000, 'held-bot served');
    await untilReason(SERVED, 'vk', 'held-bot', 'Active');
    await kubectl([
      'patch',
      'vaultkey',
      'held-bot',
      '--type=merge',
      '-p',
      '{"metadata":{"finalizers":["example.com/hold"]}}',
    ]);
    await kubectl(['delete', 'vaultkey', 'held-bot', '--wait=false']);
    await until(async () => (await probe(pool, token)).reason === 'key_unknown', 30_000, 'held-bot refused');
    stripe.reset();
    expect(await charge(pool, token)).toMatchObject({ status: 401, reason: 'key_unknown' });
    expect(stripe.requests).toEqual([]);

    await untilReason(SERVED, 'vk', 'held-bot', 'Deleting');
    const shown = await ready(SERVED, 'vk', 'held-bot');
    expect(shown).toMatchObject({ status: 'False', message: expect.stringContaining('being deleted') });
    expect(await kubectl(['get', 'vaultkey', 'held-bot', '-o', 'jsonpath={.status.tokenFingerprint}'])).toBe(
      '',
    );
    // Deleted on purpose: no Warning for it.
    expect((await events(SERVED, 'held-bot')).filter((e) => e.type === 'Warning')).toEqual([]);
    // Still held, still refused; then let go.
    expect(
      await kubectl(['get', 'vaultkey', 'held-bot', '-o', 'jsonpath={.metadata.deletionTimestamp}']),
    ).not.toBe('');
    expect(await probe(pool, token)).toMatchObject({ status: 401, reason: 'key_unknown' });
    expect(stripe.requests).toEqual([]);
    await kubectl([
      'patch',
      'vaultkey',
      'held-bot',
      '--type=merge',
      '-p',
      '{"metadata":{"finalizers":null}}',
    ]);
  });
});
