import { describe, expect, it } from 'vitest';
import type { VaultKey } from '../api/v1alpha1/index.ts';
import { hasValidChecksum } from '../tokens/token.ts';
import { ensureToken, type SecretStore, type SecretView } from './tokens.ts';

const key: VaultKey = {
  apiVersion: 'keybrake.dev/v1alpha1',
  kind: 'VaultKey',
  metadata: { name: 'bot', namespace: 'agents', uid: 'uid-bot' },
  spec: {
    vendor: 'stripe',
    policyRef: { name: 'p' },
    upstreamSecretRef: { name: 'up', key: 'apiKey' },
    tokenSecretRef: { name: 'bot-token', key: 'token' },
    suspended: false,
  },
};

function memorySecrets(initial?: SecretView) {
  const writes: { op: string; body: Record<string, unknown> }[] = [];
  let secret = initial;
  const store: SecretStore = {
    async read() {
      return secret;
    },
    async create(_ns, body) {
      writes.push({ op: 'create', body });
      if (secret) return false;
      return true;
    },
    async patch(_ns, _name, body) {
      writes.push({ op: 'patch', body });
      const rv = (body.metadata as { resourceVersion?: string }).resourceVersion;
      return rv === secret?.resourceVersion;
    },
  };
  return { store, writes, change: (s: SecretView) => (secret = s) };
}
const b64 = (s: string) => Buffer.from(s).toString('base64');
const decode = (body: Record<string, unknown>) =>
  Buffer.from((body.data as Record<string, string>).token!, 'base64').toString();

describe('ensureToken', () => {
  it('creates an owned, labelled Secret holding a fresh checksummed token', async () => {
    const s = memorySecrets();
    const outcome = await ensureToken(s.store, key);
    expect(outcome.kind).toBe('minted');
    const body = s.writes[0]!.body as { metadata: Record<string, unknown> };
    const token = decode(s.writes[0]!.body);
    expect(token.startsWith('kb_stripe_')).toBe(true);
    expect(hasValidChecksum(token)).toBe(true);
    expect(body.metadata.labels).toMatchObject({ 'keybrake.dev/secret': 'true' });
    expect(body.metadata.ownerReferences).toEqual([
      {
        apiVersion: 'keybrake.dev/v1alpha1',
        kind: 'VaultKey',
        name: 'bot',
        uid: 'uid-bot',
        controller: true,
      },
    ]);
    expect(body.metadata.annotations).toEqual({
      'keybrake.dev/token-fingerprint': (outcome as { fingerprint: string }).fingerprint,
    });
    expect(JSON.stringify(outcome)).not.toContain(token);
  });

  it("uses the key's token prefix", async () => {
    const s = memorySecrets();
    await ensureToken(s.store, { ...key, spec: { ...key.spec, tokenPrefix: 'sk_live_' } });
    expect(decode(s.writes[0]!.body).startsWith('sk_live_')).toBe(true);
  });

  it.each([
    [
      'a labelled Secret with a token is left alone',
      { resourceVersion: '1', labels: { 'keybrake.dev/secret': 'true' }, data: { token: b64('mine') } },
      'present',
      [],
    ],
    [
      'an unlabelled user Secret gets the label, not a new token',
      { resourceVersion: '1', data: { token: b64('mine') } },
      'labelled',
      ['patch'],
    ],
    [
      'a Secret whose token is blank gets one, guarded by its resourceVersion',
      { resourceVersion: '1', data: { token: b64('  \n') } },
      'minted',
      ['patch'],
    ],
  ])('%s', async (_n, existing, kind, ops) => {
    const s = memorySecrets(existing);
    const outcome = await ensureToken(s.store, key);
    expect(outcome.kind).toBe(kind);
    expect(s.writes.map((w) => w.op)).toEqual(ops);
    for (const w of s.writes)
      expect((w.body.metadata as { resourceVersion?: string }).resourceVersion).toBe('1');
    if (kind === 'labelled') expect('data' in s.writes[0]!.body).toBe(false);
  });

  it('reports a conflict instead of overwriting when the Secret changed under it', async () => {
    const s = memorySecrets();
    const racing: SecretStore = { ...s.store, read: async () => undefined, create: async () => false };
    expect((await ensureToken(racing, key)).kind).toBe('conflict');
  });
});
