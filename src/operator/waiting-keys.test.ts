// Sixteenth round (probe newuser16, finding 1): a copied VaultKey manifest `copycat` that kept the
// original's tokenSecretRef waited (TokenConflict); once the original was deleted and the garbage
// collector removed its Secret, copycat was TokenSecretMissing and the operator would create a Secret
// of that name for it: the revoked agent's Deployment reads it by name. WaitingKeys remembers it.
import { describe, expect, it } from 'vitest';
import type { VaultKey } from '../api/v1alpha1/index.ts';
import type { ObjectStatus } from '../compiler/compile.ts';
import type { OwnerReference } from './tokens.ts';
import { createWaitingKeys } from './waiting-keys.ts';

const key = (name: string, secret: string, uid = `uid-${name}`): VaultKey => ({
  apiVersion: 'keybrake.dev/v1alpha1',
  kind: 'VaultKey',
  metadata: { name, namespace: 'agents', uid },
  spec: {
    vendor: 'stripe',
    policyRef: { name: 'p' },
    upstreamSecretRef: { name: 'up', key: 'apiKey' },
    tokenSecretRef: { name: secret, key: 'token' },
    suspended: false,
  },
});
const status = (k: VaultKey, reason: string, served = false): ObjectStatus => ({
  kind: 'VaultKey',
  namespace: 'agents',
  name: k.metadata.name,
  uid: k.metadata.uid!,
  served,
  conditions: [
    {
      type: 'Ready',
      status: served ? 'True' : 'False',
      reason,
      message: '.',
      lastTransitionTime: '2026-12-02T00:00:00Z',
    },
  ],
});

/** Secret owners by Secret name; `set` changes one. */
function owners(initial: Record<string, OwnerReference & { uid: string }>) {
  const byName = new Map(Object.entries(initial));
  return {
    ownerOf: (_ns: string, name: string) => byName.get(name),
    set: (name: string, o: (OwnerReference & { uid: string }) | undefined) =>
      o ? byName.set(name, o) : byName.delete(name),
  };
}
const bot = { kind: 'VaultKey', name: 'bot', uid: 'uid-bot', controller: true };

describe('WaitingKeys', () => {
  it("bars a key that was TokenConflict on another key's Secret, after that key is deleted and its Secret gone", () => {
    const o = owners({ 'bot-token': bot });
    const w = createWaitingKeys({ ownerOf: o.ownerOf });
    const original = key('bot', 'bot-token');
    const copycat = key('copycat', 'bot-token');
    w.observe([status(original, 'Active', true), status(copycat, 'TokenConflict')], [original, copycat]);
    // bot deleted: its Secret is stale, then collected.
    w.forget('uid-bot');
    w.observe([status(copycat, 'TokenSecretStale')], [copycat]);
    o.set('bot-token', undefined);
    w.observe([status(copycat, 'TokenSecretMissing')], [copycat]);
    expect(w.barred(copycat)).toMatch(
      /^Secret agents\/bot-token was the token Secret of VaultKey agents\/bot while this key named it \(TokenConflict\)/,
    );
    expect(w.barred(original)).toBeUndefined();
  });

  it('lets a key go once it names another Secret, is served, is deleted; a re-created one was never barred', () => {
    const o = owners({ 'bot-token': bot });
    const w = createWaitingKeys({ ownerOf: o.ownerOf });
    const copycat = key('copycat', 'bot-token');
    w.observe([status(copycat, 'TokenConflict')], [copycat]);
    expect(w.barred(copycat)).toBeDefined();
    expect(w.barred(key('copycat', 'copycat-token'))).toBeUndefined();
    expect(w.size).toBe(0);

    w.observe([status(copycat, 'TokenConflict')], [copycat]);
    w.observe([status(copycat, 'Active', true)], [copycat]);
    expect(w.barred(copycat)).toBeUndefined();

    w.observe([status(copycat, 'TokenConflict')], [copycat]);
    w.forget('uid-copycat');
    expect(w.barred(copycat)).toBeUndefined();
    expect(w.barred(key('copycat', 'bot-token', 'uid-copycat-2'))).toBeUndefined();
  });

  it('does not bar keys sharing a token Secret no VaultKey owns (a token you brought), nor its owner', () => {
    const o = owners({});
    const w = createWaitingKeys({ ownerOf: o.ownerOf });
    const a = key('a', 'shared');
    const b = key('b', 'shared');
    w.observe([status(a, 'TokenConflict'), status(b, 'TokenConflict')], [a, b]);
    expect(w.size).toBe(0);
    // A key re-applied under its deleted owner's name is the same key again.
    o.set('bot-token', { ...bot, uid: 'uid-old-bot' });
    const again = key('bot', 'bot-token');
    w.observe([status(again, 'TokenConflict')], [again]);
    expect(w.size).toBe(0);
  });
});
