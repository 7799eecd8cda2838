import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { VaultKey } from '../api/v1alpha1/index.ts';
import type { ObjectStatus } from '../compiler/compile.ts';
import { createLogger, silentLogger } from '../telemetry/logger.ts';
import type { OperatorEvent } from './events.ts';
import { createRefusalMemo, explainRefusals, mintMissingTokens } from './mint-tokens.ts';
import { SecretApiError, type SecretStore, type SecretView } from './tokens.ts';

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
const b64 = (s: string) => Buffer.from(s).toString('base64');
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
  const patched: string[] = [];
  const store: SecretStore = {
    async read(_ns, name) {
      if (broken.includes(name)) throw new Error('reading Secret failed with status 503');
      return existing[name];
    },
    async create(_ns, body) {
      created.push((body.metadata as { name: string }).name);
      return true;
    },
    async patch(_ns, name) {
      patched.push(name);
      return true;
    },
  };
  return { store, created, patched };
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

  // Found by a tester: a key naming an unrelated Secret had it labelled and a token field written
  // into it; the Secret informer sees only labelled Secrets, so such a key is TokenSecretMissing.
  it.each([
    [
      'an unlabelled Secret',
      { resourceVersion: '3', data: { apiKey: b64('sk_live_another_upstream') } },
      'Secret agents/a-token exists but lacks the label keybrake.dev/secret: "true"',
    ],
    [
      'an unlabelled Secret holding the field',
      { resourceVersion: '3', data: { token: b64('user_provided_token_0123456789abcdef') } },
      'Secret agents/a-token exists but lacks the label keybrake.dev/secret: "true"',
    ],
    [
      'a labelled Secret it did not create, without the field',
      { resourceVersion: '3', labels: { 'keybrake.dev/secret': 'true' }, data: {} },
      'Secret agents/a-token exists but was not created by Keybrake for this key and has no non-empty field "token"',
    ],
  ])('leaves %s alone and says why', async (_n, existing, message) => {
    const secrets = memorySecrets({ 'a-token': existing });
    const { events, deps: d } = deps(secrets.store);
    const { waiting, refused, failed } = await mintMissingTokens(
      [status('a', 'TokenSecretMissing')],
      [key('a')],
      d,
    );
    expect(secrets.patched).toEqual([]);
    expect(secrets.created).toEqual([]);
    expect(events).toEqual([]);
    // Nothing to wait for: the status says why at once.
    expect([...waiting]).toEqual([]);
    expect(failed).toBe(0);
    expect([...refused.keys()]).toEqual(['agents/a']);
    expect(refused.get('agents/a')?.message).toContain(message);
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
    ownerReferences: [
      {
        apiVersion: 'keybrake.dev/v1alpha1',
        kind: 'VaultKey',
        name: 'a',
        uid: 'uid-deleted',
        controller: true,
      },
    ],
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

  // Sixteenth round (probe newuser16, finding 1): `kubectl delete vaultkey a` handed a's Secret, which
  // a's agent reads, to a copied key `c` that named it, with a fresh token under c's policy.
  it('writes nothing into the Secret of a deleted key of another name, and says why', async () => {
    const patched: string[] = [];
    const store: SecretStore = {
      read: async () => minted,
      create: async () => true,
      patch: async (_ns, name) => {
        patched.push(name);
        return true;
      },
    };
    const copycat: VaultKey = {
      ...key('c'),
      spec: { ...key('c').spec, tokenSecretRef: { name: 'a-token', key: 'token' } },
    };
    const { events, deps: d } = deps(store);
    const statuses = [status('c', 'TokenSecretStale')];
    const { waiting, refused, failed } = await mintMissingTokens(statuses, [copycat], d);
    expect({ patched, events, waiting: [...waiting], failed }).toEqual({
      patched: [],
      events: [],
      waiting: [],
      failed: 0,
    });
    expect(refused.get('agents/c')?.message).toMatch(
      /^Secret agents\/a-token belongs to VaultKey agents\/a, which was deleted: .* only to a VaultKey of the same name applied again/,
    );
    expect(explainRefusals(statuses, refused)[0]!.conditions[0]).toMatchObject({
      reason: 'TokenSecretStale',
    });
  });

  it('mints nothing for a key that waited on the Secret (barred), whether it is stale or gone', async () => {
    const secrets = memorySecrets({ 'a-token': minted });
    const { events, deps: d } = deps(secrets.store);
    const barred = (k: VaultKey) => (k.metadata.name === 'c' ? 'waited on a-token' : undefined);
    const { waiting, refused } = await mintMissingTokens(
      [status('b', 'TokenSecretMissing'), status('c', 'TokenSecretMissing')],
      [key('b'), key('c')],
      { ...d, barred },
    );
    expect({
      created: secrets.created,
      patched: secrets.patched,
      events: events.length,
      waiting: [...waiting],
    }).toEqual({
      created: ['b-token'],
      patched: [],
      events: 1,
      waiting: ['agents/b'],
    });
    expect(refused).toEqual(new Map([['agents/c', { message: 'waited on a-token' }]]));
  });

  it("writes nothing into a user's Secret, and lets the status say what to do", async () => {
    const user: SecretView = {
      resourceVersion: '5',
      labels: { 'keybrake.dev/secret': 'true' },
      data: minted.data!,
    };
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

// Found by a tester (eighth round): a re-created key whose token Secret had been made immutable sat
// at TokenSecretStale ("the operator mints a fresh token into it") while every patch answered 422,
// logged as a warning on every pass for as long as the key existed.
describe('mintMissingTokens for a token Secret the API server will not let it write', () => {
  const immutable: SecretView = {
    resourceVersion: '5',
    immutable: true,
    labels: { 'keybrake.dev/secret': 'true' },
    ownerReferences: [
      {
        apiVersion: 'keybrake.dev/v1alpha1',
        kind: 'VaultKey',
        name: 'a',
        uid: 'uid-deleted',
        controller: true,
      },
    ],
    data: { token: b64('kb_stripe_old') },
  };

  /** A logger whose lines the test reads. */
  function logLines() {
    const lines: { level: number; msg: string }[] = [];
    const destination = new Writable({
      write(chunk, _enc, done) {
        for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l));
        done();
      },
    });
    return { log: createLogger({ destination }), lines };
  }

  it.each(['TokenSecretStale', 'TokenRevoked'])(
    'says TokenSecretImmutable of an immutable Secret it minted (%s), with what to do, and writes nothing',
    async (reason) => {
      const secrets = memorySecrets({ 'a-token': immutable });
      const { events, deps: d } = deps(secrets.store);
      const statuses = [status('a', reason)];
      const { waiting, refused, failed } = await mintMissingTokens(statuses, [key('a')], d);
      expect(secrets.patched).toEqual([]);
      expect(events).toEqual([]);
      // Nothing to retry and nothing to wait for: the status says why at once.
      expect(failed).toBe(0);
      expect([...waiting]).toEqual([]);
      const ready = explainRefusals(statuses, refused)[0]!.conditions[0];
      expect(ready).toMatchObject({ type: 'Ready', status: 'False', reason: 'TokenSecretImmutable' });
      expect(ready?.message).toMatch(
        /^Secret agents\/a-token is immutable.*delete the Secret and the operator mints a fresh token/,
      );
    },
  );

  it.each([
    ['an invalid patch (422)', 422],
    ['RBAC (403)', 403],
  ])('does not retry a write refused for good by %s on every pass, and warns once', async (_n, code) => {
    let patches = 0;
    const store: SecretStore = {
      read: async () => ({ ...immutable, immutable: false }),
      create: async () => true,
      patch: async () => {
        patches++;
        throw new SecretApiError('patching Secret agents/a-token', code);
      },
    };
    let now = 0;
    const { log, lines } = logLines();
    const d = {
      secrets: store,
      log,
      recordEvent: async () => {},
      refusals: createRefusalMemo(() => now, 60_000),
    };
    const statuses = [status('a', 'TokenSecretStale')];
    const a = key('a');
    const first = await mintMissingTokens(statuses, [a], d);
    expect(first.failed).toBe(0);
    const ready = explainRefusals(statuses, first.refused)[0]!.conditions[0];
    expect(ready).toMatchObject({
      reason: 'TokenSecretStale',
      message: expect.stringContaining(`status ${code}`),
    });
    expect(ready?.message).not.toContain('mints a fresh token into it');
    // The next passes reuse the refusal; after recheckMs it is tried once more, without a warning.
    await mintMissingTokens(statuses, [a], d);
    expect(patches).toBe(1);
    now += 60_000;
    expect((await mintMissingTokens(statuses, [a], d)).failed).toBe(0);
    expect(patches).toBe(2);
    const warnings = lines.filter((l) => l.level >= 40 && /could not mint/.test(l.msg));
    expect(warnings).toHaveLength(1);
  });
});

describe('explainRefusals', () => {
  it("replaces the Ready message of a refused key's TokenSecretMissing, and nothing else", () => {
    const statuses = [status('a', 'TokenSecretMissing'), status('b', 'TokenSecretMissing')];
    const out = explainRefusals(statuses, new Map([['agents/a', { message: 'exists but lacks the label' }]]));
    expect(out[0]!.conditions[0]).toEqual({
      ...statuses[0]!.conditions[0],
      message: 'exists but lacks the label',
    });
    expect(out[1]).toBe(statuses[1]);
    expect(explainRefusals(statuses, new Map())).toBe(statuses);
  });
});

describe('mintMissingTokens with a refusal memo', () => {
  const unlabelled = { resourceVersion: '3', data: { apiKey: b64('sk_live_another_upstream') } };
  const missing = (message: string): ObjectStatus => {
    const s = status('a', 'TokenSecretMissing');
    return { ...s, conditions: [{ ...s.conditions[0]!, message }] };
  };

  it("reads a refused key's Secret again only when the key or what the compiler says of it changed, or after recheckMs", async () => {
    let reads = 0;
    const secrets = memorySecrets({ 'a-token': unlabelled });
    const store: SecretStore = {
      ...secrets.store,
      read: (ns, name) => {
        reads++;
        return secrets.store.read(ns, name);
      },
    };
    let now = 0;
    const { deps: d } = deps(store);
    const memoDeps = { ...d, refusals: createRefusalMemo(() => now, 60_000) };
    const a = key('a');
    const pass = async (s: ObjectStatus, k = a) =>
      (await mintMissingTokens([s], [k], memoDeps)).refused.get('agents/a')?.message;

    const first = await pass(missing('does not exist'));
    expect(first).toContain('lacks the label');
    expect(await pass(missing('does not exist'))).toBe(first);
    expect(reads).toBe(1);
    // The informer saw the Secret change (labelled now): the compiler says something else.
    await pass(missing('has no non-empty field'));
    expect(reads).toBe(2);
    await pass(missing('has no non-empty field'));
    expect(reads).toBe(2);
    // An unlabelled Secret may have been deleted unseen: looked at again after recheckMs.
    now += 60_000;
    await pass(missing('has no non-empty field'));
    expect(reads).toBe(3);
    // The key changed (a new object).
    await pass(missing('has no non-empty field'), key('a'));
    expect(reads).toBe(4);
    expect(secrets.patched).toEqual([]);
  });
});
