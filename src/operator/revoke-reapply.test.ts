// A revoke stays a revoke (ADR 0009): the operator with a fake source and an in-memory ledger store,
// through delete → re-apply of the same manifests, for a token the operator minted and one brought
// by the user. test/k8s/revoke.test.ts does the same against the real API server and proxies.
import { describe, expect, it } from 'vitest';
import { validate } from '../api/validate.ts';
import { fixedClock } from '../clock.ts';
import type { Snapshot } from '../snapshot/types.ts';
import type { KubeObject } from '../sources/kubernetes/reflector.ts';
import type {
  DeletedObject,
  KubernetesSource,
  KubernetesSourceUpdate,
} from '../sources/kubernetes/source.ts';
import { silentLogger } from '../telemetry/logger.ts';
import { newToken, tokenDigest } from '../tokens/token.ts';
import { createOperator } from './operator.ts';
import { createRevocationLedger, type RevocationEntry, type RevocationStore } from './revocations.ts';
import type { SecretStore } from './tokens.ts';

const NOW = '2026-06-01T12:00:00Z';
const MINTED = newToken('stripe', { random: (n) => new Uint8Array(n).fill(7) });
const BROUGHT = 'user_provided_token_for_tests_0001';
const b64 = (s: string) => Buffer.from(s).toString('base64');

const policy: KubeObject = {
  apiVersion: 'keybrake.dev/v1alpha1',
  kind: 'SpendPolicy',
  metadata: { name: 'p', namespace: 'agents', uid: 'uid-p', generation: 1, resourceVersion: '1' },
  spec: { vendor: 'stripe', limits: { perDayUsd: '10' } },
};
const upstream: KubeObject = {
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'up', namespace: 'agents', resourceVersion: '3' },
  data: { apiKey: b64('sk_test_upstream') },
};
const vaultKey = (uid: string): KubeObject => ({
  apiVersion: 'keybrake.dev/v1alpha1',
  kind: 'VaultKey',
  metadata: { name: 'bot', namespace: 'agents', uid, generation: 1, resourceVersion: '2' },
  spec: {
    vendor: 'stripe',
    policyRef: { name: 'p' },
    upstreamSecretRef: { name: 'up', key: 'apiKey' },
    tokenSecretRef: { name: 'bot-token', key: 'token' },
  },
});
/** The token Secret: minted by the operator for `owner` (ownerReference, label), or brought by the user. */
const tokenSecret = (token: string, owner?: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: {
    name: 'bot-token',
    namespace: 'agents',
    resourceVersion: '4',
    labels: {
      'keybrake.dev/secret': 'true',
      ...(owner && { 'app.kubernetes.io/managed-by': 'keybrake-operator' }),
    },
    ...(owner && {
      ownerReferences: [
        { apiVersion: 'keybrake.dev/v1alpha1', kind: 'VaultKey', name: 'bot', uid: owner, controller: true },
      ],
    }),
  },
  data: { token: b64(token) },
});

const deletions = (objects: KubeObject[]): DeletedObject[] =>
  objects
    .filter((o) => o.kind !== 'Secret')
    .map((o) => ({
      kind: o.kind as 'VaultKey',
      namespace: o.metadata!.namespace!,
      name: o.metadata!.name!,
      uid: o.metadata!.uid!,
    }));

/** A cache the test edits, emitting the whole set after each change as the real source does. */
function fakeSource(initial: KubeObject[]) {
  let listener: ((u: KubernetesSourceUpdate) => void) | undefined;
  const id = (o: KubeObject) => `${o.kind}/${o.metadata?.namespace}/${o.metadata?.name}`;
  const cache = new Map(initial.map((o) => [id(o), o]));
  const emit = (deleted: DeletedObject[] = []) => {
    const { set, errors } = validate([...cache.values()].map((doc, index) => ({ source: 't', index, doc })));
    const u = { set, errors, deleted, changedAt: Date.parse(NOW) };
    listener?.(u);
    return u;
  };
  const source: KubernetesSource = {
    start: async () => emit(),
    onUpdate(l) {
      listener = l;
      return () => undefined;
    },
    onDelete: () => () => undefined,
    current: undefined,
    get: (kind, ns, name) => cache.get(`${kind}/${ns}/${name}`),
    terminating: () => [],
    getTerminating: () => undefined,
    rewatch() {},
    async close() {},
  };
  return {
    source,
    put(...objects: KubeObject[]) {
      for (const o of objects) cache.set(id(o), o);
      emit();
    },
    /** Deleted objects of our kinds are reported as the source does (VaultKey/SpendPolicy). */
    remove(...objects: KubeObject[]) {
      for (const o of objects) cache.delete(id(o));
      emit(deletions(objects));
    },
    /** A delete and a re-create close enough together to be folded into one update. */
    recreate(old: KubeObject, next: KubeObject) {
      cache.set(id(next), next);
      emit(deletions([old]));
    },
  };
}

function memoryStore(initial: RevocationEntry[] = []) {
  const stored = [...initial];
  let readable = true;
  const store: RevocationStore = {
    description: 'ConfigMap keybrake-system/keybrake-operator-revocations',
    async load() {
      if (!readable) throw new Error('reading ConfigMap failed with status 403');
      return [...stored];
    },
    async append(entries) {
      for (const e of entries) if (!stored.some((s) => s.digest === e.digest)) stored.push(e);
    },
  };
  return { store, stored, readable: (r: boolean) => (readable = r) };
}

function setup(initial: KubeObject[], store = memoryStore()) {
  const fake = fakeSource(initial);
  const published: Snapshot[] = [];
  const patched: { name: string; body: Record<string, unknown> }[] = [];
  const statuses = new Map<string, { reason?: string; message?: string }>();
  const secrets: SecretStore = {
    read: async (ns, name) => {
      const o = fake.source.get('Secret', ns, name);
      return (
        o && {
          resourceVersion: o.metadata!.resourceVersion!,
          labels: o.metadata!.labels!,
          data: o.data as Record<string, string>,
          ownerReferences: o.metadata!.ownerReferences as never,
        }
      );
    },
    create: async () => true,
    patch: async (_ns, name, body) => {
      patched.push({ name, body });
      return true;
    },
  };
  const operator = createOperator({
    source: fake.source,
    publish: (s) => published.push(s),
    secrets,
    applyStatus: async (ref, status) => {
      const c = (status.conditions as { reason: string; message: string }[] | undefined)?.[0];
      statuses.set(`${ref.kind}/${ref.name}`, { ...(c && { reason: c.reason, message: c.message }) });
      return true;
    },
    recordEvent: async () => {},
    clock: fixedClock(NOW),
    log: silentLogger(),
    statusIntervalMs: 3_600_000,
    revocations: createRevocationLedger(store.store),
  });
  const served = (token: string) => published.at(-1)?.keys.has(tokenDigest(token)) ?? false;
  return { operator, fake, published, patched, statuses, store, served };
}

/** Lets the background ledger load (a resolved promise chain) finish. */
const settle = () => new Promise((r) => setTimeout(r, 0));

describe('kubectl delete vaultkey, then the same manifests applied again', () => {
  it('never serves the minted token again: the Secret belongs to the deleted uid, and gets a fresh token for the new one', async () => {
    const { operator, fake, patched, statuses, store, served } = setup([
      policy,
      upstream,
      vaultKey('uid-1'),
      tokenSecret(MINTED, 'uid-1'),
    ]);
    await operator.start();
    await settle();
    operator.startLeading();
    await operator.reconcile();
    expect(served(MINTED)).toBe(true);

    // No garbage collector: the token Secret outlives its key, as on the test control plane.
    fake.remove(vaultKey('uid-1'));
    expect(served(MINTED)).toBe(false);
    fake.put(vaultKey('uid-2'));
    expect(served(MINTED)).toBe(false);
    await operator.reconcile();
    expect(statuses.get('VaultKey/bot')?.reason).toBe('TokenSecretStale');

    // The leader replaced the token in the Secret it minted, and made the new key its owner.
    expect(patched).toHaveLength(1);
    const body = patched[0]!.body as {
      data: { token: string };
      metadata: { ownerReferences: { uid: string }[] };
    };
    const fresh = Buffer.from(body.data.token, 'base64').toString();
    expect(fresh).not.toBe(MINTED);
    expect(body.metadata.ownerReferences.map((r) => r.uid)).toEqual(['uid-2']);
    fake.put(tokenSecret(fresh, 'uid-2'));
    expect(served(fresh)).toBe(true);
    expect(served(MINTED)).toBe(false);

    // And the old token is on record, for whoever would bring it back in a Secret of their own.
    expect(store.stored.map((e) => e.digest)).toContain(tokenDigest(MINTED));
    await operator.close();
  });

  it('never serves a token you brought yourself again, even in a re-created Secret, and leaves your Secret alone', async () => {
    const { operator, fake, patched, statuses, served } = setup([
      policy,
      upstream,
      vaultKey('uid-1'),
      tokenSecret(BROUGHT),
    ]);
    await operator.start();
    await settle();
    operator.startLeading();
    await operator.reconcile();
    expect(served(BROUGHT)).toBe(true);

    // A GitOps prune and re-sync: key and Secret deleted, then both applied again from git.
    fake.remove(vaultKey('uid-1'), tokenSecret(BROUGHT));
    fake.put(tokenSecret(BROUGHT), vaultKey('uid-2'));
    expect(served(BROUGHT)).toBe(false);
    await operator.reconcile();
    expect(statuses.get('VaultKey/bot')).toMatchObject({
      reason: 'TokenRevoked',
      message: expect.stringContaining('agents/bot was deleted'),
    });
    expect(patched).toEqual([]);
    await operator.close();
  });

  it('records a deletion folded into the same update as the re-creation', async () => {
    const { operator, fake, served } = setup([policy, upstream, vaultKey('uid-1'), tokenSecret(BROUGHT)]);
    await operator.start();
    await settle();
    expect(served(BROUGHT)).toBe(true);
    // One update: uid-1 reported deleted while uid-2 already stands in its place.
    fake.recreate(vaultKey('uid-1'), vaultKey('uid-2'));
    expect(served(BROUGHT)).toBe(false);
    await operator.close();
  });

  it('remembers across operator restarts: the ledger is read back before a new leader serves', async () => {
    const store = memoryStore();
    const first = setup([policy, upstream, vaultKey('uid-1'), tokenSecret(BROUGHT)], store);
    await first.operator.start();
    await settle();
    first.operator.startLeading();
    first.fake.remove(vaultKey('uid-1'));
    await first.operator.reconcile();
    await first.operator.close();
    expect(store.stored).toHaveLength(1);

    const second = setup([policy, upstream, vaultKey('uid-2'), tokenSecret(BROUGHT)], store);
    await second.operator.start();
    await settle();
    expect(second.operator.ready).toBe(true);
    expect(second.served(BROUGHT)).toBe(false);
    await second.operator.close();
  });

  it('records the token of a Secret whose owning key was deleted while no operator watched', async () => {
    const { operator, store, served } = setup([policy, upstream, tokenSecret(MINTED, 'uid-gone')]);
    await operator.start();
    await settle();
    operator.startLeading();
    await operator.reconcile();
    expect(store.stored).toEqual([
      { digest: tokenDigest(MINTED), vaultKey: 'agents/bot', at: Date.parse(NOW) },
    ]);
    expect(served(MINTED)).toBe(false);
    await operator.close();
  });

  it('is not ready, and writes nothing, until it has read the ledger; it says why', async () => {
    const store = memoryStore();
    store.readable(false);
    const { operator, statuses } = setup([policy, upstream, vaultKey('uid-1'), tokenSecret(BROUGHT)], store);
    await operator.start();
    await settle();
    expect(operator.ready).toBe(false);
    expect(operator.problem()).toContain('keybrake-system/keybrake-operator-revocations');
    expect(operator.problem()).toContain('403');
    operator.startLeading();
    await operator.reconcile();
    expect(statuses.size).toBe(0);
    await operator.close();
  });
});
