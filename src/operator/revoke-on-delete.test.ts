import { describe, expect, it } from 'vitest';
import type { ResourceSet } from '../api/resource-set.ts';
import type { Secret, VaultKey } from '../api/v1alpha1/index.ts';
import type { KubernetesSourceUpdate } from '../sources/kubernetes/source.ts';
import { newToken, tokenDigest } from '../tokens/token.ts';
import { createRevokeOnDelete, MAX_SUPERSEDED, type ServedKey } from './revoke-on-delete.ts';
import type { OwnerReference } from './tokens.ts';

const A = newToken('stripe');
const B = newToken('stripe');
const secret = (name: string, token: string): Secret =>
  ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: 'agents' },
    data: { token: Buffer.from(`${token}\n`).toString('base64') },
  }) as Secret;
const key = (name: string, uid: string, tokenSecretRef = { name: `${name}-token`, key: 'token' }): VaultKey =>
  ({
    apiVersion: 'keybrake.dev/v1alpha1',
    kind: 'VaultKey',
    metadata: { name, namespace: 'agents', uid },
    spec: {
      vendor: 'stripe',
      policyRef: { name: 'p' },
      upstreamSecretRef: { name: 'up', key: 'apiKey' },
      tokenSecretRef,
      suspended: false,
    },
  }) as VaultKey;
const set = (keys: VaultKey[], secrets: Secret[]): ResourceSet => ({
  policies: [],
  keys,
  secrets,
  rejected: [],
});
const update = (s: ResourceSet, deleted: KubernetesSourceUpdate['deleted'] = []): KubernetesSourceUpdate => ({
  set: s,
  errors: [],
  deleted,
  changedAt: 0,
});
/** A tracker over these Secrets' ownerReferences and these keys' creation times, by name. */
const tracked = (
  owners: ReadonlyMap<string, unknown> = new Map(),
  created: ReadonlyMap<string, string> = new Map(),
) =>
  createRevokeOnDelete({
    ownerReferencesOf: (_ns, name) => owners.get(name),
    createdAt: (k) => created.get(k.metadata.name),
  });
const NOTHING_SERVED = new Map<string, ServedKey>();
/** The table a proxy serves: each token's digest → the key (of namespace agents) it is served for. */
const serving = (...served: [token: string, name: string, uid: string][]): Map<string, ServedKey> =>
  new Map(served.map(([token, name, uid]) => [tokenDigest(token), { uid, namespace: 'agents', name }]));
const toEntry = (token: string) => ({ digest: tokenDigest(token) });
const owner = (uid: string, name: string): OwnerReference => ({
  apiVersion: 'keybrake.dev/v1alpha1',
  kind: 'VaultKey',
  name,
  uid,
  controller: true,
});

describe('revoke on delete', () => {
  it("revokes a deleted key's token as its Secret held it at the last update", () => {
    const owners = new Map<string, OwnerReference[]>();
    const tracker = tracked(owners);
    const secrets = [secret('a-token', A), secret('b-token', B)];
    tracker.remember(set([key('a', 'uid-a'), key('b', 'uid-b')], secrets), NOTHING_SERVED);
    const revoked = tracker.revokedBy(
      update(set([key('b', 'uid-b')], secrets), [
        { kind: 'VaultKey', namespace: 'agents', name: 'a', uid: 'uid-a' },
      ]),
      42,
    );
    expect(revoked).toEqual([{ digest: tokenDigest(A), vaultKey: 'agents/a', at: 42 }]);
  });

  it('revokes the tokens of a Secret whose owning VaultKey is gone, not of one whose owner lives', () => {
    const owners = new Map([
      ['a-token', [owner('uid-a', 'a')]],
      ['b-token', [owner('uid-b', 'b')]],
    ]);
    const tracker = tracked(owners);
    const secrets = [secret('a-token', A), secret('b-token', B)];
    // Nothing remembered (the key went while no operator watched): the ownerReference tells.
    const revoked = tracker.revokedBy(update(set([key('b', 'uid-b')], secrets)), 7);
    expect(revoked).toEqual([{ digest: tokenDigest(A), vaultKey: 'agents/a', at: 7 }]);
  });

  it('follows a token Secret that changed between updates', () => {
    const tracker = tracked();
    tracker.remember(set([key('a', 'uid-a')], [secret('a-token', A)]), NOTHING_SERVED);
    tracker.remember(set([key('a', 'uid-a')], [secret('a-token', B)]), NOTHING_SERVED);
    const revoked = tracker.revokedBy(
      update(set([], []), [{ kind: 'VaultKey', namespace: 'agents', name: 'a', uid: 'uid-a' }]),
      1,
    );
    expect(tracker.tokenOf('uid-a')?.digest).toBe(tokenDigest(B));
    // And keeps the token it held before, served or not (tenth round, second probe).
    expect(revoked.map((r) => r.digest).sort()).toEqual([tokenDigest(A), tokenDigest(B)].sort());
  });

  it('follows a new token Secret of an unchanged VaultKey object (what the informer keeps)', () => {
    const tracker = tracked();
    const a = key('a', 'uid-a');
    const first = secret('a-token', A);
    tracker.remember(set([a], [first]), NOTHING_SERVED);
    const before = tracker.tokenOf('uid-a');
    tracker.remember(set([a], [first]), NOTHING_SERVED);
    expect(tracker.tokenOf('uid-a')).toBe(before);
    tracker.remember(set([a], [secret('a-token', B)]), NOTHING_SERVED);
    expect(tracker.tokenOf('uid-a')?.digest).toBe(tokenDigest(B));
    tracker.remember(set([a], []), NOTHING_SERVED);
    expect(tracker.tokenOf('uid-a')).toBeUndefined();
    tracker.remember(set([a], [first]), NOTHING_SERVED);
    expect(tracker.tokenOf('uid-a')).toEqual({ digest: tokenDigest(A), vaultKey: 'agents/a', at: 0 });
    tracker.remember(set([], [first]), NOTHING_SERVED);
    expect(tracker.tokenOf('uid-a')).toBeUndefined();
  });

  // Tenth round (HIGH): a key whose token Secret the operator could not see at the delete (label
  // removed, or deleted and re-minted) revoked nothing, or only the fresh token nobody held, and the
  // same manifest applied again served the user's token.
  describe('a deleted key revokes every token it was served under (tenth round)', () => {
    const del = (name: string, uid: string) =>
      update(set([], []), [{ kind: 'VaultKey', namespace: 'agents', name, uid }]);
    /** What the operator does with an update: compiles it, puts its table in force, remembers it. */
    const step = (tracker: ReturnType<typeof tracked>, s: ResourceSet, served: Map<string, ServedKey>) => {
      const overflow = tracker.served(s, served);
      tracker.remember(s, served);
      return overflow;
    };
    const digests = (entries: readonly { digest: string }[]) => entries.map((e) => e.digest).sort();

    it('the token of a Secret that lost its label (no longer seen) before the delete', () => {
      const tracker = tracked();
      const a = key('a', 'uid-a');
      step(tracker, set([a], [secret('a-token', A)]), serving([A, 'a', 'uid-a']));
      // Unlabelled: the informer no longer has the Secret, the key is TokenSecretMissing, not served.
      expect(step(tracker, set([a], []), NOTHING_SERVED)).toEqual([]);
      expect(tracker.tokenOf('uid-a')).toBeUndefined();
      expect(tracker.holdsAny('uid-a')).toBe(true);
      expect(tracker.revokedBy(del('a', 'uid-a'), 9)).toEqual([
        { digest: tokenDigest(A), vaultKey: 'agents/a', at: 9 },
      ]);
    });

    it('the brought token and the fresh one the operator minted after its Secret was deleted', () => {
      const tracker = tracked();
      const a = key('a', 'uid-a');
      step(tracker, set([a], [secret('a-token', A)]), serving([A, 'a', 'uid-a']));
      step(tracker, set([a], []), NOTHING_SERVED);
      step(tracker, set([a], [secret('a-token', B)]), serving([B, 'a', 'uid-a']));
      expect(digests(tracker.revokedBy(del('a', 'uid-a'), 1))).toEqual(digests([A, B].map(toEntry)));
    });

    it('the token of the Secret a moved tokenSecretRef named before', () => {
      const tracker = tracked();
      step(tracker, set([key('a', 'uid-a')], [secret('a-token', A)]), serving([A, 'a', 'uid-a']));
      const moved = key('a', 'uid-a', { name: 'a-token-2', key: 'token' });
      step(tracker, set([moved], [secret('a-token', A), secret('a-token-2', B)]), serving([B, 'a', 'uid-a']));
      expect(digests(tracker.revokedBy(del('a', 'uid-a'), 1))).toEqual(digests([A, B].map(toEntry)));
    });

    it('not a token served for another key, nor one of a key that stayed served', () => {
      const tracker = tracked();
      const secrets = [secret('a-token', A), secret('b-token', B)];
      const both = set([key('a', 'uid-a'), key('b', 'uid-b')], secrets);
      step(tracker, both, serving([A, 'a', 'uid-a'], [B, 'b', 'uid-b']));
      step(tracker, both, serving([A, 'a', 'uid-a'], [B, 'b', 'uid-b']));
      expect(tracker.revokedBy(del('a', 'uid-a'), 1).map((e) => e.digest)).toEqual([tokenDigest(A)]);
    });

    it('forgets what a key was served under once the key is gone', () => {
      const tracker = tracked();
      const a = key('a', 'uid-a');
      step(tracker, set([a], [secret('a-token', A)]), serving([A, 'a', 'uid-a']));
      step(tracker, set([a], []), NOTHING_SERVED);
      step(tracker, set([], []), NOTHING_SERVED);
      step(tracker, set([], [secret('x', B)]), NOTHING_SERVED);
      expect(tracker.holdsAny('uid-a')).toBe(false);
    });

    // Tenth round, second probe (MEDIUM): a standby's table leaves out a namespace its release has
    // not claimed yet. The leader served the key, its Secret lost the label, the leader died: the
    // new leader had never served the key, so the delete revoked nothing and the same manifest
    // applied again was served (3 requests forwarded in the probe).
    it('a token the key held while this replica served none of it (a standby, the namespace not yet in its table)', () => {
      const tracker = tracked();
      const a = key('a', 'uid-a');
      step(tracker, set([a], [secret('a-token', A)]), NOTHING_SERVED);
      expect(step(tracker, set([a], []), NOTHING_SERVED)).toEqual([]);
      expect(tracker.holdsAny('uid-a')).toBe(true);
      expect(tracker.revokedBy(del('a', 'uid-a'), 9)).toEqual([
        { digest: tokenDigest(A), vaultKey: 'agents/a', at: 9 },
      ]);
    });

    it('not a token still held (by the key or another), nor one it held of a Secret other keys read too', () => {
      const tracker = tracked(
        new Map(),
        new Map([
          ['aaa-evil', '2026-11-30T10:00:00Z'],
          ['bot', '2026-11-30T10:05:00Z'],
        ]),
      );
      const a = key('a', 'uid-a');
      // A brought Secret both read; the earlier created holds it while no table serves either.
      const evil = key('aaa-evil', 'uid-evil', { name: 'bot-token', key: 'token' });
      const bot = key('bot', 'uid-bot');
      step(tracker, set([a, evil, bot], [secret('a-token', A), secret('bot-token', B)]), NOTHING_SERVED);
      expect(tracker.tokenOf('uid-evil')?.digest).toBe(tokenDigest(B));
      // a's token moves to another Secret it names; bot-token loses its label.
      const moved = key('a', 'uid-a', { name: 'a-token-2', key: 'token' });
      step(tracker, set([moved, evil, bot], [secret('a-token-2', A)]), NOTHING_SERVED);
      expect(tracker.holdsAny('uid-a')).toBe(true);
      expect(tracker.holdsAny('uid-evil')).toBe(false);
      expect(tracker.revokedBy(del('aaa-evil', 'uid-evil'), 1)).toEqual([]);
      // Its Secret gone, a's token is kept for a's deletion (it held it, no other key does).
      step(tracker, set([moved, evil, bot], []), NOTHING_SERVED);
      expect(tracker.revokedBy(del('a', 'uid-a'), 2).map((e) => e.digest)).toEqual([tokenDigest(A)]);
    });

    it(`keeps ${MAX_SUPERSEDED} a key and hands the oldest back to be recorded, never one served again`, () => {
      const tracker = tracked();
      const a = key('a', 'uid-a');
      const tokens = Array.from({ length: MAX_SUPERSEDED + 3 }, () => newToken('stripe'));
      const overflow: string[] = [];
      // The first token comes back between the others: served again, it is not pushed out.
      for (const t of [A, ...tokens.flatMap((t) => [t, A])])
        overflow.push(
          ...step(tracker, set([a], [secret('a-token', t)]), serving([t, 'a', 'uid-a'])).map((e) => e.digest),
        );
      expect(overflow).not.toContain(tokenDigest(A));
      const rotated: string[] = [];
      for (const t of tokens)
        rotated.push(
          ...step(tracker, set([a], [secret('a-token', t)]), serving([t, 'a', 'uid-a'])).map((e) => e.digest),
        );
      expect(rotated.length).toBeGreaterThan(0);
      const onDelete = tracker.revokedBy(del('a', 'uid-a'), 1).map((e) => e.digest);
      expect(onDelete.length).toBeLessThanOrEqual(MAX_SUPERSEDED + 1);
      // Every token it was served under is recorded now or at the delete.
      expect(new Set([...overflow, ...rotated, ...onDelete])).toEqual(
        new Set([A, ...tokens].map(tokenDigest)),
      );
    });
  });

  describe('a deleted key revokes only a token it held (ADR 0009, 2026-11-30)', () => {
    const deleted = (name: string, uid: string): KubernetesSourceUpdate['deleted'] => [
      { kind: 'VaultKey', namespace: 'agents', name, uid },
    ];

    it("revokes nothing when the deleted key pointed at another live key's Secret (TokenConflict)", () => {
      const owners = new Map([['bot-token', [owner('uid-bot', 'bot')]]]);
      const tracker = tracked(owners);
      const secrets = [secret('bot-token', A)];
      const bot = key('bot', 'uid-bot');
      const evil = key('evil', 'uid-evil', { name: 'bot-token', key: 'token' });
      tracker.remember(set([bot, evil], secrets), NOTHING_SERVED);
      expect(tracker.tokenOf('uid-evil')).toBeUndefined();
      expect(tracker.revokedBy(update(set([bot], secrets), deleted('evil', 'uid-evil')), 5)).toEqual([]);
      // The owner's own deletion still revokes it.
      expect(tracker.revokedBy(update(set([], secrets), deleted('bot', 'uid-bot')), 6)).toEqual([
        { digest: tokenDigest(A), vaultKey: 'agents/bot', at: 6 },
      ]);
    });

    it('revokes the token of a Secret owned by no live key, and of two own Secrets holding the same value', () => {
      // bot-token's owner is gone: a key naming it holds what is in it (fail closed).
      const owners = new Map([['gone-token', [owner('uid-gone', 'gone')]]]);
      const tracker = tracked(owners);
      const later = key('later', 'uid-later', { name: 'gone-token', key: 'token' });
      const a = key('a', 'uid-a');
      const b = key('b', 'uid-b');
      const secrets = [secret('gone-token', B), secret('a-token', A), secret('b-token', A)];
      tracker.remember(set([later, a, b], secrets), NOTHING_SERVED);
      expect(tracker.tokenOf('uid-later')?.digest).toBe(tokenDigest(B));
      expect(tracker.revokedBy(update(set([a], secrets), deleted('b', 'uid-b')), 1)).toContainEqual({
        digest: tokenDigest(A),
        vaultKey: 'agents/b',
        at: 1,
      });
      expect(tracker.revokedBy(update(set([b], secrets), deleted('a', 'uid-a')), 1)).toContainEqual({
        digest: tokenDigest(A),
        vaultKey: 'agents/a',
        at: 1,
      });
    });
  });

  describe('of keys naming one Secret no live key controls, one holds its token (ADR 0009, 2026-11-30 second round)', () => {
    const deleted = (name: string, uid: string): KubernetesSourceUpdate['deleted'] => [
      { kind: 'VaultKey', namespace: 'agents', name, uid },
    ];
    // A token Secret the user brought: no ownerReference.
    const brought = [secret('bot-token', A)];
    const bot = key('bot', 'uid-bot');
    // Named to sort first: the name only breaks ties.
    const evil = key('aaa-evil', 'uid-evil', { name: 'bot-token', key: 'token' });
    const created = new Map([
      ['bot', '2026-11-30T10:00:00Z'],
      ['aaa-evil', '2026-11-30T10:05:00Z'],
    ]);

    it('the earliest created when neither is served: deleting the later key revokes nothing', () => {
      const tracker = tracked(new Map(), created);
      tracker.remember(set([evil, bot], brought), NOTHING_SERVED);
      expect(tracker.tokenOf('uid-evil')).toBeUndefined();
      expect(tracker.tokenOf('uid-bot')?.digest).toBe(tokenDigest(A));
      expect(tracker.revokedBy(update(set([bot], brought), deleted('aaa-evil', 'uid-evil')), 5)).toEqual([]);
      // The victim's own deletion still revokes it.
      expect(tracker.revokedBy(update(set([evil], brought), deleted('bot', 'uid-bot')), 6)).toEqual([
        { digest: tokenDigest(A), vaultKey: 'agents/bot', at: 6 },
      ]);
    });

    it('the key served under the token, whenever it was created', () => {
      const tracker = tracked(new Map(), created);
      tracker.remember(set([bot, evil], brought), serving([A, 'evil', 'uid-evil']));
      expect(tracker.tokenOf('uid-bot')).toBeUndefined();
      expect(tracker.tokenOf('uid-evil')?.digest).toBe(tokenDigest(A));
    });

    it('ties and unknown creation times by name, a known time before an unknown one', () => {
      const same = tracked(new Map(), new Map([...created, ['aaa-evil', '2026-11-30T10:00:00Z']]));
      same.remember(set([bot, evil], brought), NOTHING_SERVED);
      expect([same.tokenOf('uid-bot'), same.tokenOf('uid-evil')?.vaultKey]).toEqual([
        undefined,
        'agents/aaa-evil',
      ]);
      const unknown = tracked(new Map(), new Map([['bot', '2026-11-30T10:00:00Z']]));
      unknown.remember(set([evil, bot], brought), NOTHING_SERVED);
      expect([unknown.tokenOf('uid-bot')?.vaultKey, unknown.tokenOf('uid-evil')]).toEqual([
        'agents/bot',
        undefined,
      ]);
    });

    it("a Secret whose owner is gone too; another field's token stays its own key's", () => {
      const owners = new Map([['bot-token', [owner('uid-gone', 'gone')]]]);
      const tracker = tracked(owners, created);
      const two: Secret = {
        ...brought[0]!,
        data: { ...brought[0]!.data, other: Buffer.from(B).toString('base64') },
      };
      const third = key('third', 'uid-third', { name: 'bot-token', key: 'other' });
      tracker.remember(set([evil, bot, third], [two]), NOTHING_SERVED);
      expect(tracker.tokenOf('uid-evil')).toBeUndefined();
      expect(tracker.tokenOf('uid-bot')?.digest).toBe(tokenDigest(A));
      expect(tracker.tokenOf('uid-third')?.digest).toBe(tokenDigest(B));
    });
  });

  describe("a Secret whose owner is gone is read only where the owner's token can be (ADR 0009, 2026-11-30)", () => {
    /** A Secret with `fields` token-shaped values besides `token`. */
    const crowded = (name: string, fields: number, token?: string): Secret =>
      ({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name, namespace: 'agents', uid: `uid-${name}` },
        data: Object.fromEntries([
          ...Array.from({ length: fields }, (_, i) => [
            `f${i}`,
            Buffer.from(`printable_value_number_${String(i).padStart(8, '0')}`).toString('base64'),
          ]),
          ...(token === undefined ? [] : [['token', Buffer.from(token).toString('base64')]]),
        ]),
      }) as Secret;

    it('an unknown owner: only the default token field, only a token-shaped value', () => {
      const owners = new Map([
        ['many', [owner('0c6e1f2a-unknown', 'ghost')]],
        ['junk', [owner('0c6e1f2a-unknown', 'ghost')]],
      ]);
      const tracker = tracked(owners);
      const revoked = tracker.revokedBy(
        update(set([], [crowded('many', 15_000, A), crowded('junk', 100, 'short')])),
        3,
      );
      expect(revoked).toEqual([{ digest: tokenDigest(A), vaultKey: 'agents/ghost', at: 3 }]);
    });

    it("a known owner: its token as last seen and what its field holds now, whatever the field's name", () => {
      const owners = new Map([['a-token', [owner('uid-a', 'a')]]]);
      const tracker = tracked(owners);
      const a = key('a', 'uid-a', { name: 'a-token', key: 'apiToken' });
      const before: Secret = {
        ...secret('a-token', A),
        data: { apiToken: Buffer.from(A).toString('base64') },
      };
      tracker.remember(set([a], [before]), NOTHING_SERVED);
      // The key went without a delete the operator saw, and its field was rewritten meanwhile.
      const after: Secret = {
        ...crowded('a-token', 50),
        data: { apiToken: Buffer.from(B).toString('base64') },
      };
      const revoked = tracker.revokedBy(update(set([], [after])), 9);
      expect(revoked).toEqual([
        { digest: tokenDigest(A), vaultKey: 'agents/a', at: 9 },
        { digest: tokenDigest(B), vaultKey: 'agents/a', at: 9 },
      ]);
    });

    it('only a controlling ownerReference to a keybrake.dev VaultKey, not a live one of the namespace', () => {
      const owners = new Map<string, unknown>([
        ['not-controller', [{ ...owner('uid-x', 'x'), controller: false }]],
        ['other-kind', [{ ...owner('uid-x', 'x'), kind: 'Deployment' }]],
        ['other-group', [{ ...owner('uid-x', 'x'), apiVersion: 'evil.example/v1' }]],
        ['live-owner', [owner('uid-b', 'b')]],
      ]);
      const tracker = tracked(owners);
      const secrets = [...owners.keys()].map((name) => secret(name, A));
      expect(tracker.revokedBy(update(set([key('b', 'uid-b')], secrets)), 1)).toEqual([]);
    });

    it('names an owner the ledger line cannot carry by its uid, never by what the reference says', () => {
      const owners = new Map([
        ['a', [owner('0c6e1f2a-0000', `x\n${tokenDigest(B)} 0 agents/victim`)]],
        ['b', [owner('uid with space\n', 'also bad')]],
      ]);
      const tracker = tracked(owners);
      const revoked = tracker.revokedBy(update(set([], [secret('a', A), secret('b', B)])), 1);
      expect(revoked.map((r) => r.vaultKey)).toEqual(['agents/uid-0c6e1f2a-0000', 'agents/unknown-owner']);
    });

    it('reads each Secret object once, however many updates carry it', () => {
      const owners = new Map([['many', [owner('0c6e1f2a-unknown', 'ghost')]]]);
      const tracker = tracked(owners);
      const many = crowded('many', 1_000, A);
      const data = many.data;
      let reads = 0;
      Object.defineProperty(many, 'data', {
        get: () => {
          reads++;
          return data;
        },
      });
      const first = tracker.revokedBy(update(set([], [many])), 1);
      const readsOnce = reads;
      for (let i = 0; i < 5; i++)
        expect(tracker.revokedBy(update(set([], [many])), 2 + i)).toEqual([{ ...first[0], at: 2 + i }]);
      expect(reads).toBe(readsOnce);
    });
  });
});
