import { describe, expect, it } from 'vitest';
import type { VaultKey } from '../api/v1alpha1/index.ts';
import type { ObjectStatus } from '../compiler/compile.ts';
import { silentLogger } from '../telemetry/logger.ts';
import type { OperatorEvent } from './events.ts';
import { mintMissingTokens } from './mint-tokens.ts';
import type { SecretStore, SecretView } from './tokens.ts';

const key = (name: string): VaultKey => ({
  apiVersion: 'keybrake.dev/v1alpha1',
  kind: 'VaultKey',
  metadata: { name, namespace: 'agents', uid: `uid-${name}` },
  spec: {
    vendor: 'stripe',
    policyRef: { name: 'p' },
    upstreamSecretRef: { name: 'up', key: 'apiKey' },
    tokenSecretRef: { name: `${name}-token`, key: 'token' },
    suspended: false,
  },
});
const status = (name: string, reason: string): ObjectStatus => ({
  kind: 'VaultKey',
  namespace: 'agents',
  name,
  uid: `uid-${name}`,
  conditions: [
    { type: 'Ready', status: 'False', reason, message: '.', lastTransitionTime: '2026-06-01T00:00:00Z' },
  ],
});

/** Token Secrets in memory; `broken` names Secrets whose read fails. */
function memorySecrets(existing: Record<string, SecretView> = {}, broken: string[] = []) {
  const created: string[] = [];
  const store: SecretStore = {
    async read(_ns, name) {
      if (broken.includes(name)) throw new Error('reading Secret failed with status 403');
      return existing[name];
    },
    async create(_ns, body) {
      created.push((body.metadata as { name: string }).name);
      return true;
    },
    async patch() {
      return true;
    },
  };
  return { store, created };
}

function deps(secrets: SecretStore) {
  const events: OperatorEvent[] = [];
  return {
    events,
    deps: {
      secrets,
      log: silentLogger(),
      recordEvent: async (e: OperatorEvent) => {
        events.push(e);
      },
    },
  };
}

describe('mintMissingTokens', () => {
  it('mints a token for each key whose token Secret is missing, and holds back its status', async () => {
    const secrets = memorySecrets();
    const { events, deps: d } = deps(secrets.store);
    const { waiting, failed } = await mintMissingTokens(
      [status('a', 'TokenSecretMissing'), status('b', 'PolicyNotFound')],
      [key('a'), key('b')],
      d,
    );
    expect(secrets.created).toEqual(['a-token']);
    expect([...waiting]).toEqual(['agents/a']);
    expect(failed).toBe(0);
    expect(events).toEqual([
      expect.objectContaining({
        reason: 'TokenMinted',
        object: { kind: 'VaultKey', namespace: 'agents', name: 'a', uid: 'uid-a' },
        message: expect.stringMatching(
          /^Minted a vault token \(kb_stripe_…\w{4}\) into Secret a-token, key token\.$/,
        ),
      }),
    ]);
  });

  it('labels a user-provided token Secret the informer cannot see, keeping the token and holding the status', async () => {
    const token = Buffer.from('user_provided_token_0123456789abcdef').toString('base64');
    const secrets = memorySecrets({ 'a-token': { resourceVersion: '3', data: { token } } });
    const { events, deps: d } = deps(secrets.store);
    const { waiting, failed } = await mintMissingTokens([status('a', 'TokenSecretMissing')], [key('a')], d);
    expect([...waiting]).toEqual(['agents/a']);
    expect(failed).toBe(0);
    expect(secrets.created).toEqual([]);
    expect(events).toEqual([]);
  });

  it('lets the status through when minting fails, and counts the failure for the next pass', async () => {
    const secrets = memorySecrets({}, ['a-token']);
    const { events, deps: d } = deps(secrets.store);
    const { waiting, failed } = await mintMissingTokens([status('a', 'TokenSecretMissing')], [key('a')], d);
    expect([...waiting]).toEqual([]);
    expect(failed).toBe(1);
    expect(events).toEqual([]);
  });
});

describe('mintMissingTokens for a stale or revoked token (ADR 0009)', () => {
  const minted: SecretView = {
    resourceVersion: '5',
    labels: { 'keybrake.dev/secret': 'true', 'app.kubernetes.io/managed-by': 'keybrake-operator' },
    data: { token: Buffer.from('kb_stripe_old').toString('base64') },
  };

  it.each(['TokenSecretStale', 'TokenRevoked'])(
    'replaces the token of a Secret the operator minted when the status says %s',
    async (reason) => {
      const patched: Record<string, unknown>[] = [];
      const store: SecretStore = {
        read: async () => minted,
        create: async () => true,
        patch: async (_ns, _name, body) => {
          patched.push(body);
          return true;
        },
      };
      const { events, deps: d } = deps(store);
      const { waiting, failed } = await mintMissingTokens([status('a', reason)], [key('a')], d);
      expect([...waiting]).toEqual(['agents/a']);
      expect(failed).toBe(0);
      expect(patched).toHaveLength(1);
      expect(events.map((e) => e.reason)).toEqual(['TokenMinted']);
    },
  );

  it("writes nothing into a user's Secret, and lets the status say what to do", async () => {
    const user = { resourceVersion: '5', labels: { 'keybrake.dev/secret': 'true' }, data: minted.data! };
    const secrets = memorySecrets({ 'a-token': user });
    const { events, deps: d } = deps(secrets.store);
    const { waiting, failed } = await mintMissingTokens([status('a', 'TokenRevoked')], [key('a')], d);
    expect([...waiting]).toEqual([]);
    // Nothing to retry: the user puts a new token in, and that change starts a pass.
    expect(failed).toBe(0);
    expect(secrets.created).toEqual([]);
    expect(events).toEqual([]);
  });
});
