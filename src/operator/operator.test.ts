import { describe, expect, it } from 'vitest';
import { validate } from '../api/validate.ts';
import { fixedClock } from '../clock.ts';
import { MemoryCounterStore } from '../counters/memory-store.ts';
import { dayBucket } from '../counters/windows.ts';
import type { Snapshot } from '../snapshot/types.ts';
import type { KubeObject } from '../sources/kubernetes/reflector.ts';
import type {
  DeletedObject,
  KubernetesSource,
  KubernetesSourceUpdate,
} from '../sources/kubernetes/source.ts';
import { silentLogger } from '../telemetry/logger.ts';
import { tokenDigest } from '../tokens/token.ts';
import type { OperatorEvent } from './events.ts';
import type { NamespaceClaims } from './namespace-claims.ts';
import { createNamespaceLedgers, type NamespaceLedgers } from './namespace-ledger.ts';
import { createOperator } from './operator.ts';
import { createRevocationLedger, type RevocationEntry, type RevocationLedger } from './revocations.ts';
import { SecretApiError, type SecretStore } from './tokens.ts';

const NOW = '2026-06-01T12:00:00Z';
const TOKEN = 'user_provided_token_for_tests_0001';

const objects: KubeObject[] = [
  {
    apiVersion: 'keybrake.dev/v1alpha1',
    kind: 'SpendPolicy',
    metadata: { name: 'p', namespace: 'agents', uid: 'uid-p', generation: 1, resourceVersion: '1' },
    spec: { vendor: 'stripe', limits: { perDayUsd: '10' } },
  },
  {
    apiVersion: 'keybrake.dev/v1alpha1',
    kind: 'VaultKey',
    metadata: { name: 'bot', namespace: 'agents', uid: 'uid-bot', generation: 3, resourceVersion: '2' },
    spec: {
      vendor: 'stripe',
      policyRef: { name: 'p' },
      upstreamSecretRef: { name: 'up', key: 'apiKey' },
      tokenSecretRef: { name: 'bot-token', key: 'token' },
    },
  },
  {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'up', namespace: 'agents', resourceVersion: '3' },
    data: { apiKey: Buffer.from('sk_test_upstream').toString('base64') },
  },
  {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'bot-token', namespace: 'agents', resourceVersion: '4' },
    data: { token: Buffer.from(TOKEN).toString('base64') },
  },
];

/** A KubernetesSource whose updates the test pushes by hand. */
function fakeSource(initial: KubeObject[]) {
  let listener: ((u: KubernetesSourceUpdate) => void) | undefined;
  let onDeleted: ((d: DeletedObject) => void) | undefined;
  const cache = new Map(initial.map((o) => [`${o.kind}/${o.metadata?.namespace}/${o.metadata?.name}`, o]));
  let lookups = 0;
  const update = (deleted: DeletedObject[] = []): KubernetesSourceUpdate => {
    const docs = [...cache.values()].map((doc, index) => ({ source: 'test', index, doc }));
    const { set, errors } = validate(docs);
    return { set, errors, deleted, changedAt: Date.parse(NOW) };
  };
  const source: KubernetesSource = {
    async start() {
      const u = update();
      listener?.(u);
      return u;
    },
    onUpdate(l) {
      listener = l;
      return () => undefined;
    },
    onDelete(l) {
      onDeleted = l;
      return () => undefined;
    },
    current: undefined,
    get: (kind, ns, name) => {
      lookups++;
      return cache.get(`${kind}/${ns}/${name}`);
    },
    terminating: () => [],
    getTerminating: () => undefined,
    rewatch() {},
    async close() {},
  };
  return {
    source,
    /** How many objects were looked up in the informer cache (a status pass looks up each one). */
    lookups: () => lookups,
    /** Someone else writes this status: the informer cache shows it, with a new resourceVersion. */
    editStatus(kind: string, ns: string, name: string, status: Record<string, unknown>) {
      const o = cache.get(`${kind}/${ns}/${name}`)!;
      const resourceVersion = String(Number(o.metadata!.resourceVersion) + 100);
      cache.set(`${kind}/${ns}/${name}`, { ...o, metadata: { ...o.metadata, resourceVersion }, status });
    },
    /** The watch reports the deletion (delete listeners at once), then the coalesced update. */
    remove(kind: string, ns: string, name: string, opts: { update?: boolean } = {}) {
      const o = cache.get(`${kind}/${ns}/${name}`)!;
      cache.delete(`${kind}/${ns}/${name}`);
      const d: DeletedObject = { kind: kind as 'VaultKey', namespace: ns, name, uid: o.metadata!.uid! };
      onDeleted?.(d);
      if (opts.update !== false) listener?.(update([d]));
    },
  };
}

function setup(
  opts: {
    counters?: MemoryCounterStore;
    failing?: Set<string>;
    extra?: KubeObject[];
    secrets?: SecretStore;
    claims?: NamespaceClaims;
    /** The elector's own view, asked before each claim write. */
    claimsLead?: () => boolean;
    revocations?: RevocationLedger;
    namespaceLedgers?: NamespaceLedgers;
  } = {},
) {
  const clock = fixedClock(NOW);
  const fake = fakeSource([...objects, ...(opts.extra ?? [])]);
  const published: Snapshot[] = [];
  const patches: { name: string; status: Record<string, unknown> }[] = [];
  const events: OperatorEvent[] = [];
  const secrets: SecretStore = opts.secrets ?? {
    read: async () => ({ resourceVersion: '4', labels: { 'keybrake.dev/secret': 'true' }, data: {} }),
    create: async () => true,
    patch: async () => true,
  };
  const operator = createOperator({
    source: fake.source,
    publish: (s) => published.push(s),
    secrets,
    applyStatus: async (ref, status) => {
      if (opts.failing?.has(`${ref.kind}/${ref.name}`)) throw new Error('the API server is away');
      patches.push({ name: `${ref.kind}/${ref.name}`, status });
      return true;
    },
    recordEvent: async (e) => {
      events.push(e);
    },
    ...(opts.counters && { counters: opts.counters }),
    clock,
    log: silentLogger(),
    statusIntervalMs: 3_600_000,
    statusResyncMs: 300_000,
    ...(opts.claims && {
      claims: {
        claims: opts.claims,
        intervalMs: 3_600_000,
        ...(opts.claimsLead && { leads: opts.claimsLead }),
      },
    }),
    ...(opts.revocations && { revocations: opts.revocations }),
    ...(opts.namespaceLedgers && { namespaceLedgers: opts.namespaceLedgers }),
  });
  return { operator, fake, published, patches, events, clock };
}

/** Claims that hold `served` from their first round on, and name `elsewhere` for the rest. */
function claimsOf(served: readonly string[]): NamespaceClaims & { rounds: string[][]; leads: () => boolean } {
  let held = false;
  const rounds: string[][] = [];
  let lastLeading: boolean | (() => boolean) = false;
  return {
    rounds,
    /** Whether the last round's writes would go ahead, asked now (as before each claim write). */
    leads: () => (typeof lastLeading === 'function' ? lastLeading() : lastLeading),
    async sync(namespaces, leading) {
      lastLeading = leading;
      const now = typeof leading === 'function' ? leading() : leading;
      rounds.push([...namespaces, now ? 'leading' : 'standby']);
      const changed = !held && served.length > 0;
      held = true;
      return changed;
    },
    serves: (namespace) => held && served.includes(namespace),
    elsewhere: () => new Map(),
    epoch: (namespace) => (held && served.includes(namespace) ? 'test/keybrake\nepoch-1' : undefined),
  };
}

describe('operator', () => {
  it('publishes the compiled snapshot on a standby too, but writes nothing there', async () => {
    const { operator, published, patches, events } = setup();
    await operator.start();
    await operator.reconcile();
    expect(published).toHaveLength(1);
    expect([...published[0]!.keys.values()].map((k) => k.name)).toEqual(['bot']);
    expect(published[0]!.version).toBeGreaterThanOrEqual(Date.parse(NOW));
    expect(patches).toEqual([]);
    expect(events).toEqual([]);
    await operator.close();
  });

  // Found by a tester: two releases whose scopes overlapped both served one key, each with its own
  // counters, so its caps were doubled.
  it('serves, mints for and writes the status of no key in a namespace another release claimed', async () => {
    const claims = claimsOf([]);
    const { operator, published, patches, events } = setup({ claims });
    await operator.start();
    operator.startLeading();
    await operator.reconcile();
    expect(claims.rounds[0]).toEqual(['agents', 'standby']);
    expect(published.length).toBeGreaterThan(0);
    for (const snapshot of published) expect(snapshot.keys.size).toBe(0);
    expect(patches).toEqual([]);
    expect(events).toEqual([]);
    await operator.close();
  });

  // Twelfth round (probe fixes12k): a leader paused mid-round (SIGSTOP) past its renew deadline
  // resumed with its round's `leading` still true, and wrote over its successor's claim renewal.
  it("asks the elector before each claim write, not only the round's start", async () => {
    const claims = claimsOf(['agents']);
    let electorLeads = true;
    const { operator } = setup({ claims, claimsLead: () => electorLeads });
    await operator.start();
    operator.startLeading();
    await operator.reconcile();
    expect(claims.rounds.at(-1)).toEqual(['agents', 'leading']);
    expect(claims.leads()).toBe(true);
    // Paused past its deadline: the elector says so at once, before its loop calls stopLeading.
    electorLeads = false;
    expect(claims.leads()).toBe(false);
    electorLeads = true;
    operator.stopLeading();
    expect(claims.leads()).toBe(false);
    await operator.close();
  });

  it('serves the keys of a namespace once its claim is held', async () => {
    const { operator, published, patches } = setup({ claims: claimsOf(['agents']) });
    await operator.start();
    expect([...published.at(-1)!.keys.values()].map((k) => k.name)).toEqual(['bot']);
    operator.startLeading();
    await operator.reconcile();
    expect(patches.map((p) => p.name).sort()).toEqual(['SpendPolicy/p', 'VaultKey/bot']);
    await operator.close();
  });

  // Eleventh round: right after a failover the new leader's table left a namespace out until its claim
  // was confirmed, and its run API answered 404 "No such vault key is served" meanwhile.
  it('says a key is pending while its namespace is left out for a claim not yet confirmed, and not once served or held elsewhere', async () => {
    let claimed = false;
    let elsewhere = new Map<string, string>();
    const claims: NamespaceClaims = {
      sync: async () => claimed,
      serves: (namespace) => claimed && namespace === 'agents',
      elsewhere: () => elsewhere,
      epoch: () => 'test/keybrake\nepoch-1',
    };
    const { operator, published } = setup({ claims });
    await operator.start();
    expect(published.at(-1)!.keys.size).toBe(0);
    expect(operator.pendingKey('agents', 'bot')).toBe(true);
    // No such VaultKey, or a namespace without one: unknown, not pending.
    expect(operator.pendingKey('agents', 'ghost')).toBe(false);
    expect(operator.pendingKey('elsewhere', 'bot')).toBe(false);
    // Held by another release: its keys are that release's to serve.
    elsewhere = new Map([['agents', 'other/keybrake']]);
    expect(operator.pendingKey('agents', 'bot')).toBe(false);
    elsewhere = new Map();
    // Claimed, but the table not compiled with it yet (until the claim round recompiles): pending.
    claimed = true;
    expect(operator.pendingKey('agents', 'bot')).toBe(true);
    operator.startLeading();
    await operator.reconcile();
    expect([...published.at(-1)!.keys.values()].map((k) => k.name)).toEqual(['bot']);
    expect(operator.pendingKey('agents', 'bot')).toBe(false);
    await operator.close();
  });

  // Found by a tester (tenth round, HIGH): a namespace moving between releases left its revocations
  // in the ledger of the release it left, and the next release served a deleted key's token again.
  describe("a namespace's own revocation ledger", () => {
    const memoryStore = (entries: RevocationEntry[], fail?: { now: boolean }) => ({
      description: 'memory',
      load: async () => {
        if (fail?.now) throw new Error('forbidden');
        return [...entries];
      },
      append: async (more: readonly RevocationEntry[]) => {
        for (const e of more) if (!entries.some((x) => x.digest === e.digest)) entries.push(e);
      },
    });
    const revoked: RevocationEntry = { digest: tokenDigest(TOKEN), at: 1, vaultKey: 'agents/bot' };

    it("is read before a claimed namespace's keys are served: a token revoked there stays revoked", async () => {
      const ledger = createRevocationLedger(memoryStore([]));
      const namespaceLedgers = createNamespaceLedgers({
        storeFor: () => memoryStore([revoked]),
        log: silentLogger(),
      });
      const { operator, published } = setup({
        claims: claimsOf(['agents']),
        revocations: ledger,
        namespaceLedgers,
      });
      await operator.start();
      for (const snapshot of published) expect(snapshot.keys.size).toBe(0);
      expect(ledger.revoked(revoked.digest)).toMatchObject({ vaultKey: 'agents/bot' });
      await operator.close();
    });

    it('serves nothing of a claimed namespace while its ledger cannot be read, then serves it', async () => {
      const fail = { now: true };
      const { operator, published } = setup({
        claims: claimsOf(['agents']),
        revocations: createRevocationLedger(memoryStore([])),
        namespaceLedgers: createNamespaceLedgers({
          storeFor: () => memoryStore([], fail),
          log: silentLogger(),
        }),
      });
      await operator.start();
      for (const snapshot of published) expect(snapshot.keys.size).toBe(0);
      fail.now = false;
      // The next claim round reads it (the timer's interval is an hour here: the leader's first round).
      operator.startLeading();
      const served = () => (published.at(-1)?.keys.size ?? 0) > 0;
      // Event-loop turns, not time: the round is a few awaits on in-memory fakes.
      for (let turn = 0; turn < 1_000 && !served(); turn++)
        await new Promise<void>((resolve) => setImmediate(resolve));
      expect([...published.at(-1)!.keys.values()].map((k) => k.name)).toEqual(['bot']);
      await operator.close();
    });

    it("writes a revocation into its key's namespace as leader", async () => {
      const stored: RevocationEntry[] = [];
      const namespaces: string[] = [];
      const ledger = createRevocationLedger(memoryStore([revoked]));
      const { operator } = setup({
        claims: claimsOf(['agents']),
        revocations: ledger,
        namespaceLedgers: createNamespaceLedgers({
          storeFor: (ns) => {
            namespaces.push(ns);
            return memoryStore(stored);
          },
          log: silentLogger(),
        }),
      });
      await operator.start();
      operator.startLeading();
      await operator.reconcile();
      expect(stored.map((e) => e.digest)).toEqual([revoked.digest]);
      expect(new Set(namespaces)).toEqual(new Set(['agents']));
      await operator.close();
    });
  });

  // Found by a tester (tenth round, second probe, MEDIUM): a replica's table leaves out a namespace
  // its release has not claimed yet. The old leader served a new namespace's key, its token Secret
  // lost the label, the leader died before the standby's first claim round there: the new leader had
  // never served the key, recorded nothing at the delete, and the same manifest was served again.
  it("records at a key's delete the token it held while this replica's table left its namespace out", async () => {
    const ledger = createRevocationLedger({
      description: 'memory',
      load: async () => [],
      append: async () => {},
    });
    let claimed = false;
    const claims: NamespaceClaims = {
      sync: async () => false,
      serves: (namespace) => claimed && namespace === 'agents',
      elsewhere: () => new Map(),
      epoch: () => 'test/keybrake\nepoch-1',
    };
    const { operator, fake, published } = setup({ claims, revocations: ledger });
    await operator.start();
    for (const snapshot of published) expect(snapshot.keys.size).toBe(0);
    // The Secret loses its label: the informer no longer has it.
    fake.remove('Secret', 'agents', 'bot-token');
    // The claim comes to this replica (the key is not served: its token Secret is gone), then the delete.
    claimed = true;
    fake.remove('VaultKey', 'agents', 'bot');
    expect(ledger.revoked(tokenDigest(TOKEN))).toMatchObject({ vaultKey: 'agents/bot' });
    await operator.close();
  });

  it('writes each status once as leader, and not again while nothing changes', async () => {
    const { operator, patches } = setup();
    await operator.start();
    operator.startLeading();
    await operator.reconcile();
    expect(patches.map((p) => p.name).sort()).toEqual(['SpendPolicy/p', 'VaultKey/bot']);
    const key = patches.find((p) => p.name === 'VaultKey/bot')!.status;
    expect(key).toMatchObject({
      observedGeneration: 3,
      capPerDayUsd: '10.00',
      tokenFingerprint: expect.stringMatching(/…0001$/),
    });
    // The informer cache still shows no status: what this leader wrote is what it compares against.
    await operator.reconcile();
    expect(patches).toHaveLength(2);
    await operator.close();
  });

  // Found by a tester: a key naming an unlabelled Secret (invisible to the informer) had the
  // operator label it and write a token field into it.
  it('writes nothing into an unlabelled Secret a key names, and its status and a Warning say why', async () => {
    const writes: string[] = [];
    const secrets: SecretStore = {
      read: async (_ns, name) =>
        name === 'prod2'
          ? { resourceVersion: '9', data: { apiKey: Buffer.from('sk_live_other').toString('base64') } }
          : undefined,
      create: async (_ns, body) => {
        writes.push(`create ${(body.metadata as { name: string }).name}`);
        return true;
      },
      patch: async (_ns, name) => {
        writes.push(`patch ${name}`);
        return true;
      },
    };
    const lure: KubeObject = {
      ...objects[1]!,
      metadata: { name: 'lure', namespace: 'agents', uid: 'uid-lure', generation: 1, resourceVersion: '5' },
      spec: { ...(objects[1]!.spec as object), tokenSecretRef: { name: 'prod2', key: 'tok' } },
    };
    const { operator, patches, events } = setup({ extra: [lure], secrets });
    await operator.start();
    operator.startLeading();
    await operator.reconcile();
    expect(writes).toEqual([]);
    const ready = (
      patches.find((p) => p.name === 'VaultKey/lure')!.status.conditions as { type: string }[]
    ).find((c) => c.type === 'Ready');
    const message = 'Secret agents/prod2 exists but lacks the label keybrake.dev/secret: "true"';
    expect(ready).toMatchObject({
      status: 'False',
      reason: 'TokenSecretMissing',
      message: expect.stringContaining(message),
    });
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'Warning',
        object: expect.objectContaining({ name: 'lure' }),
        message: expect.stringContaining(message),
      }),
    );
    // Nothing left to do: no pass again and again for it.
    await operator.reconcile();
    expect(writes).toEqual([]);
    expect(patches.filter((p) => p.name === 'VaultKey/lure')).toHaveLength(1);
    await operator.close();
  });

  it('revokes on the delete event itself, ahead of the update that recompiles the table', async () => {
    const { operator, fake, published } = setup();
    await operator.start();
    expect(published).toHaveLength(1);
    expect(published[0]!.keys.size).toBe(1);
    fake.remove('VaultKey', 'agents', 'bot', { update: false });
    // Published at once from the delete event, before any update from the source.
    expect(published).toHaveLength(2);
    expect(published[1]!.keys.size).toBe(0);
    expect(published[1]!.version).toBeGreaterThan(published[0]!.version);
    await operator.close();
  });

  it('publishes a higher version on deletion and records Revoked', async () => {
    const { operator, fake, published, events } = setup();
    await operator.start();
    operator.startLeading();
    fake.remove('VaultKey', 'agents', 'bot');
    // The delete event's snapshot, then the update's: neither serves the key.
    expect(published).toHaveLength(3);
    expect(published[1]!.version).toBeGreaterThan(published[0]!.version);
    expect(published[2]!.version).toBeGreaterThan(published[1]!.version);
    expect(published[1]!.keys.size).toBe(0);
    expect(published[2]!.keys.size).toBe(0);
    expect(events).toContainEqual(
      expect.objectContaining({ reason: 'Revoked', object: expect.objectContaining({ name: 'bot' }) }),
    );
    await operator.close();
  });

  it('shows spent-today and reports CapReached once per day', async () => {
    const counters = new MemoryCounterStore({ clock: fixedClock(NOW) });
    const bucket = dayBucket(Date.parse(NOW), 'UTC');
    await counters.reserve({
      scope: 'uid-bot',
      windows: [{ kind: 'day', bucket, limit: 10_000_000, amount: 10_000_000, ttlSeconds: 3600 }],
      now: Date.parse(NOW),
    });
    const { operator, patches, events } = setup({ counters });
    await operator.start();
    operator.startLeading();
    await operator.reconcile();
    await operator.reconcile();
    expect(patches.find((p) => p.name === 'VaultKey/bot')!.status.spentTodayUsd).toBe('10.00');
    expect(events.filter((e) => e.reason === 'CapReached')).toHaveLength(1);
    await operator.close();
  });

  it('exports spend per key as the leader read it, and none on a standby', async () => {
    const counters = new MemoryCounterStore({ clock: fixedClock(NOW) });
    await counters.reserve({
      scope: 'uid-bot',
      windows: [
        {
          kind: 'day',
          bucket: dayBucket(Date.parse(NOW), 'UTC'),
          limit: 10_000_000,
          amount: 2_500_000,
          ttlSeconds: 3600,
        },
      ],
      now: Date.parse(NOW),
    });
    const { operator } = setup({ counters });
    await operator.start();
    await operator.reconcile();
    expect(await operator.keySpendSeries()).not.toContain('vault_key=');
    operator.startLeading();
    await operator.reconcile();
    const series = await operator.keySpendSeries();
    expect(series).toContain(
      'keybrake_vault_key_spent_today_usd{namespace="agents",vault_key="bot",vendor="stripe"} 2.5',
    );
    expect(series).toContain(
      'keybrake_vault_key_daily_cap_usd{namespace="agents",vault_key="bot",vendor="stripe"} 10',
    );
    operator.stopLeading();
    expect(await operator.keySpendSeries()).not.toContain('vault_key=');
    await operator.close();
  });

  it('shows lastUsedAt from the counter store, writing it again only when a later call happened', async () => {
    const counters = new MemoryCounterStore({ clock: fixedClock(NOW) });
    const call = (at: string) =>
      counters.reserve({
        scope: 'uid-bot',
        windows: [{ kind: 'minute', bucket: 'minute:1', limit: 100, amount: 1, ttlSeconds: 120 }],
        now: Date.parse(at),
      });
    const keyPatches = () => patches.filter((p) => p.name === 'VaultKey/bot').map((p) => p.status);
    await call('2026-06-01T11:58:30.250Z');
    const { operator, patches } = setup({ counters });
    await operator.start();
    operator.startLeading();
    await operator.reconcile();
    await operator.reconcile();
    expect(keyPatches()).toHaveLength(1);
    expect(keyPatches()[0]!.lastUsedAt).toBe('2026-06-01T11:58:30Z');

    await call('2026-06-01T11:59:45Z');
    await operator.reconcile();
    await operator.reconcile();
    // One more write, and only lastUsedAt moved (an apply carries every owned field).
    expect(keyPatches().slice(1)).toEqual([{ ...keyPatches()[0], lastUsedAt: '2026-06-01T11:59:45Z' }]);
    await operator.close();
  });

  it('leaves lastUsedAt alone when the key was never used', async () => {
    const { operator, patches } = setup({ counters: new MemoryCounterStore({ clock: fixedClock(NOW) }) });
    await operator.start();
    operator.startLeading();
    await operator.reconcile();
    const status = patches.find((p) => p.name === 'VaultKey/bot')!.status;
    expect(status.spentTodayUsd).toBe('0.00');
    expect('lastUsedAt' in status).toBe(false);
    await operator.close();
  });
});

describe('operator status tick (spend and expiry without a change)', () => {
  it('walks no object while nothing changed, and puts back a status someone else edited at the resync', async () => {
    const { operator, fake, patches, clock } = setup();
    await operator.start();
    operator.startLeading();
    await operator.tick();
    expect(patches.map((p) => p.name).sort()).toEqual(['SpendPolicy/p', 'VaultKey/bot']);
    const walked = fake.lookups();
    clock.advance(10_000);
    await operator.tick();
    expect(fake.lookups()).toBe(walked);

    fake.editStatus('VaultKey', 'agents', 'bot', { conditions: [] });
    clock.advance(60_000);
    await operator.tick();
    expect(patches).toHaveLength(2);
    clock.advance(300_000);
    await operator.tick();
    expect(fake.lookups()).toBeGreaterThan(walked);
    expect(patches.map((p) => p.name)).toEqual([expect.any(String), expect.any(String), 'VaultKey/bot']);
    expect(patches[2]!.status).toEqual(patches.find((p) => p.name === 'VaultKey/bot')!.status);
    await operator.close();
  });

  // Found by a tester (eighth round): with the token Secret of a deleted key made immutable, the
  // re-created key sat at TokenSecretStale while each pass tried the patch again (422) and warned.
  it('says TokenSecretImmutable once, with one Warning, of an immutable token Secret, and tries no write on every tick', async () => {
    const gone = [
      {
        apiVersion: 'keybrake.dev/v1alpha1',
        kind: 'VaultKey',
        name: 'again',
        uid: 'uid-gone',
        controller: true,
      },
    ];
    const tokenSecret = {
      resourceVersion: '7',
      labels: { 'keybrake.dev/secret': 'true' },
      ownerReferences: gone,
      data: { token: Buffer.from('kb_stripe_the_revoked_token').toString('base64') },
    };
    const again: KubeObject = {
      ...objects[1]!,
      metadata: { name: 'again', namespace: 'agents', uid: 'uid-again', generation: 1, resourceVersion: '6' },
      spec: { ...(objects[1]!.spec as object), tokenSecretRef: { name: 'again-token', key: 'token' } },
    };
    const secret: KubeObject = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'again-token', namespace: 'agents', ...tokenSecret },
      immutable: true,
      data: tokenSecret.data,
    };
    const calls: string[] = [];
    const secrets: SecretStore = {
      read: async (_ns, name) => {
        calls.push(`read ${name}`);
        return name === 'again-token' ? { ...tokenSecret, immutable: true } : undefined;
      },
      create: async () => true,
      // What the API server answers a change of an immutable Secret's data.
      patch: async (ns, name) => {
        calls.push(`patch ${name}`);
        throw new SecretApiError(`patching Secret ${ns}/${name}`, 422);
      },
    };
    const { operator, patches, events, clock } = setup({ extra: [again, secret], secrets });
    await operator.start();
    operator.startLeading();
    await operator.reconcile();
    const written = () => patches.filter((p) => p.name === 'VaultKey/again');
    const ready = (written()[0]!.status.conditions as { type: string }[]).find((c) => c.type === 'Ready');
    expect(ready).toMatchObject({
      status: 'False',
      reason: 'TokenSecretImmutable',
      message: expect.stringContaining('delete the Secret and the operator mints a fresh token'),
    });
    const warnings = () => events.filter((e) => e.type === 'Warning' && e.object.name === 'again');
    expect(warnings()).toHaveLength(1);
    expect(calls).toEqual(['read again-token']);
    for (let i = 0; i < 5; i++) {
      clock.advance(10_000);
      await operator.tick();
    }
    expect(calls).toEqual(['read again-token']);
    expect(written()).toHaveLength(1);
    expect(warnings()).toHaveLength(1);
    await operator.close();
  });

  it('tries a failed status write again on the next tick', async () => {
    const failing = new Set(['VaultKey/bot']);
    const { operator, patches, clock } = setup({ failing });
    await operator.start();
    operator.startLeading();
    await operator.tick();
    expect(patches.map((p) => p.name)).toEqual(['SpendPolicy/p']);
    failing.clear();
    clock.advance(10_000);
    await operator.tick();
    expect(patches.map((p) => p.name).sort()).toEqual(['SpendPolicy/p', 'VaultKey/bot']);
    await operator.close();
  });

  it('passes again when spend changed, and only then', async () => {
    const counters = new MemoryCounterStore({ clock: fixedClock(NOW) });
    const { operator, fake, patches, clock } = setup({ counters });
    await operator.start();
    operator.startLeading();
    await operator.tick();
    const walked = fake.lookups();
    await operator.tick();
    expect(fake.lookups()).toBe(walked);
    await counters.reserve({
      scope: 'uid-bot',
      windows: [
        {
          kind: 'day',
          bucket: dayBucket(Date.parse(NOW), 'UTC'),
          limit: 9e9,
          amount: 2_500_000,
          ttlSeconds: 3600,
        },
      ],
      now: Date.parse(NOW),
    });
    clock.advance(10_000);
    await operator.tick();
    expect(patches.filter((p) => p.name === 'VaultKey/bot').at(-1)!.status.spentTodayUsd).toBe('2.50');
    await operator.close();
  });
});
