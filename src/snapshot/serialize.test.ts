import { describe, expect, it } from 'vitest';
import { compileEndpointPattern, compileValuePattern } from '../patterns/glob.ts';
import { compileHostPattern, matchesHost } from '../patterns/hosts.ts';
import { runKeyId, runKeysOf } from './run-keys.ts';
import {
  deltaSize,
  describeSnapshot,
  deserializeSnapshot,
  diffSnapshots,
  keyWireText,
  mergeDeltas,
  policiesOf,
  policyWireText,
  readWireKeys,
  readWirePolicies,
  SnapshotFormatError,
  serializeSnapshot,
} from './serialize.ts';
import type { CompiledKey, CompiledPolicy, Snapshot } from './types.ts';

const policy: CompiledPolicy = {
  ref: 'agents/support-bot',
  limits: { perCallMicros: 50_000_000, perDayMicros: 200_000_000, requestsPerMinute: 120 },
  timezone: 'Europe/Berlin',
  endpoints: [compileEndpointPattern('POST /v1/refunds'), compileEndpointPattern('GET /v1/**')],
  customers: new Set(['cus_b', 'cus_a']),
  recipients: [compileValuePattern('*@example.com', { caseInsensitive: true })],
  countries: new Set(['US']),
  currencies: new Set(['usd', 'eur']),
  readsWhenStoreDown: false,
};

const key = (
  name: string,
  upstream: CompiledKey['upstream'],
  extra: Partial<CompiledKey> = {},
): CompiledKey => ({
  uid: `agents/${name}`,
  namespace: 'agents',
  name,
  vendor: 'stripe',
  tokenFingerprint: 'kb_stripe_…abcd',
  upstream,
  suspended: false,
  policy,
  ...extra,
});

const snapshot: Snapshot = {
  version: 12,
  compiledAt: Date.parse('2026-06-01T00:00:00Z'),
  keys: new Map([
    [
      'b'.repeat(64),
      key('zeta', { kind: 'bearer', token: 'sk_test_SECRET_ONE' }, { expiresAt: 1_800_000_000_000 }),
    ],
    [
      'a'.repeat(64),
      key(
        'alpha',
        { kind: 'basic', username: 'AC1', password: 'SECRET_TWO', accountSid: 'AC1' },
        { vendor: 'twilio', suspended: true },
      ),
    ],
  ]),
};

describe('serializeSnapshot / deserializeSnapshot', () => {
  const back = deserializeSnapshot(serializeSnapshot(snapshot));

  it('round-trips version, time, keys and upstream credentials', () => {
    expect(back.version).toBe(12);
    expect(back.compiledAt).toBe(snapshot.compiledAt);
    expect([...back.keys.keys()]).toEqual([...snapshot.keys.keys()]);
    expect(back.keys.get('b'.repeat(64))?.upstream).toEqual({ kind: 'bearer', token: 'sk_test_SECRET_ONE' });
    expect(back.keys.get('a'.repeat(64))).toMatchObject({ vendor: 'twilio', suspended: true });
    expect(back.keys.get('b'.repeat(64))?.expiresAt).toBe(1_800_000_000_000);
  });

  it('recompiles patterns so they match as before', () => {
    const p = back.keys.get('b'.repeat(64))!.policy;
    expect(p.endpoints?.[1]?.path.test('/v1/customers/cus_1')).toBe(true);
    expect(p.recipients?.[0]?.test('Bob@Example.com')).toBe(true);
    expect(p.customers?.has('cus_a')).toBe(true);
  });

  it('describes the same table before and after', () => {
    expect(describeSnapshot(back)).toEqual(describeSnapshot(snapshot));
  });

  it('shares one policy object between keys that referenced one', () => {
    const [a, b] = [...back.keys.values()];
    expect(a!.policy).toBe(b!.policy);
  });

  it.each([
    ['text that is not JSON', 'nope'],
    ['another format', JSON.stringify({ format: 'x', version: 1 })],
    ['a key whose digest is not SHA-256 hex', serializeSnapshot(snapshot).replace('b'.repeat(64), 'xyz')],
    [
      'a key with an unknown policy',
      serializeSnapshot(snapshot).replace('"policy":"agents/support-bot"', '"policy":"no/such"'),
    ],
  ])('rejects %s without echoing credentials', (_name, text) => {
    expect(() => deserializeSnapshot(text)).toThrow(SnapshotFormatError);
    try {
      deserializeSnapshot(text);
    } catch (err) {
      expect(String(err)).not.toMatch(/SECRET/);
    }
  });
});

describe('describeSnapshot', () => {
  const d = describeSnapshot(snapshot);

  it('never contains an upstream secret', () => {
    expect(JSON.stringify(d)).not.toMatch(/SECRET/);
    expect(d.keys.map((k) => k.upstream)).toEqual([{ kind: 'basic', accountSid: 'AC1' }, { kind: 'bearer' }]);
  });

  it('sorts keys by namespace/name and sets as arrays', () => {
    expect(d.keys.map((k) => k.name)).toEqual(['alpha', 'zeta']);
    expect(d.keys[0]!.policy.customers).toEqual(['cus_a', 'cus_b']);
    expect(d.keys[0]!.policy.currencies).toEqual(['eur', 'usd']);
  });
});

describe('requireRunId', () => {
  const required = (p: CompiledPolicy): Snapshot => ({
    version: 1,
    compiledAt: 0,
    keys: new Map([['c'.repeat(64), key('runs', { kind: 'bearer', token: 'sk_x' }, { policy: p })]]),
  });

  it('survives the operator stream when set', () => {
    const back = deserializeSnapshot(serializeSnapshot(required({ ...policy, requireRunId: true })));
    expect([...back.keys.values()][0]!.policy.requireRunId).toBe(true);
  });

  it('is absent from the wire and the description when false, as before the field existed', () => {
    const text = serializeSnapshot(required(policy));
    expect(text).not.toContain('requireRunId');
    expect([...deserializeSnapshot(text).keys.values()][0]!.policy.requireRunId).toBeUndefined();
    expect(describeSnapshot(required({ ...policy, requireRunId: true })).keys[0]!.policy.requireRunId).toBe(
      true,
    );
  });
});

describe('twimlHosts', () => {
  const withHosts = (p: CompiledPolicy): Snapshot => ({
    version: 1,
    compiledAt: 0,
    keys: new Map([['d'.repeat(64), key('voice', { kind: 'bearer', token: 'sk_x' }, { policy: p })]]),
  });
  const hosts = ['twiml.example.com', '*.flows.example.com'].map(compileHostPattern);

  it('survives the operator stream as sources and matches as before', () => {
    const back = deserializeSnapshot(serializeSnapshot(withHosts({ ...policy, twimlHosts: hosts })));
    const compiled = [...back.keys.values()][0]!.policy.twimlHosts!;
    expect(compiled.map((h) => h.source)).toEqual(['twiml.example.com', '*.flows.example.com']);
    expect(matchesHost(compiled, 'a.flows.example.com')).toBe(true);
    expect(matchesHost(compiled, 'twiml.example.com.evil.example')).toBe(false);
  });

  it('is described by its sources, and absent when the policy names none', () => {
    expect(describeSnapshot(withHosts({ ...policy, twimlHosts: hosts })).keys[0]!.policy.twimlHosts).toEqual([
      'twiml.example.com',
      '*.flows.example.com',
    ]);
    const text = serializeSnapshot(withHosts(policy));
    expect(text).not.toContain('twimlHosts');
    expect([...deserializeSnapshot(text).keys.values()][0]!.policy.twimlHosts).toBeUndefined();
  });

  it('keeps an empty list (no host) distinct from an absent one', () => {
    const back = deserializeSnapshot(serializeSnapshot(withHosts({ ...policy, twimlHosts: [] })));
    expect([...back.keys.values()][0]!.policy.twimlHosts).toEqual([]);
  });
});

describe('run secrets (ADR 0010)', () => {
  const secret = 'S'.repeat(43);
  const withRuns: Snapshot = {
    version: 3,
    compiledAt: 0,
    keys: new Map([
      [
        'c'.repeat(64),
        key('runs', { kind: 'bearer', token: 'sk_test_x' }, { runSecret: secret, tokenPrefix: 'kb_stripe_' }),
      ],
    ]),
  };

  it('travels on the stream, and the arriving snapshot indexes the key by its key id', () => {
    const back = deserializeSnapshot(serializeSnapshot(withRuns));
    const k = back.keys.get('c'.repeat(64))!;
    expect(k.runSecret).toBe(secret);
    expect(k.tokenPrefix).toBe('kb_stripe_');
    expect(runKeysOf(back).get(runKeyId('c'.repeat(64)))).toBe(k);
  });

  it('is never in the safe rendering', () => {
    expect(JSON.stringify(describeSnapshot(withRuns))).not.toContain(secret);
  });

  it('is optional: a snapshot from an operator without run keys still reads, with no index entry', () => {
    const back = deserializeSnapshot(serializeSnapshot(snapshot));
    expect(runKeysOf(back).size).toBe(0);
  });

  it('refuses a malformed run secret', () => {
    const wire = JSON.parse(serializeSnapshot(withRuns));
    wire.keys[0].runSecret = 'short';
    expect(() => deserializeSnapshot(JSON.stringify(wire))).toThrow(SnapshotFormatError);
  });
});

describe("a brought token's length (ADR 0007 §1)", () => {
  const brought: Snapshot = {
    version: 4,
    compiledAt: 0,
    keys: new Map([
      ['d'.repeat(64), key('brought', { kind: 'bearer', token: 'sk_test_x' }, { broughtTokenLength: 39 })],
    ]),
  };

  it('travels on the stream', () => {
    expect(deserializeSnapshot(serializeSnapshot(brought)).keys.get('d'.repeat(64))!.broughtTokenLength).toBe(
      39,
    );
  });

  it('refuses one that is no length', () => {
    for (const bad of [0, 1.5, '39']) {
      const wire = JSON.parse(serializeSnapshot(brought));
      wire.keys[0].broughtTokenLength = bad;
      expect(() => deserializeSnapshot(JSON.stringify(wire))).toThrow(SnapshotFormatError);
    }
  });
});

describe('change sets (ADR 0013)', () => {
  const stripeKey = (name: string, extra: Partial<CompiledKey> = {}) =>
    key(name, { kind: 'bearer', token: `sk_test_${name}` }, extra);
  const digest = (n: number) => n.toString(16).padStart(64, '0');
  const table = (version: number, keys: [number, CompiledKey][]): Snapshot => ({
    version,
    compiledAt: version * 10,
    keys: new Map(keys.map(([n, k]) => [digest(n), k])),
  });
  // Fresh objects on each side, as the compiler makes them on every compile.
  const base = () => [1, 2, 3, 4].map((n): [number, CompiledKey] => [n, stripeKey(`k${n}`)]);

  it('ships added, changed and removed keys, and no unchanged one', () => {
    const prev = table(1, base());
    const next = table(2, [
      [1, stripeKey('k1')],
      [2, stripeKey('k2', { suspended: true })],
      [4, stripeKey('k4')],
      [5, stripeKey('k5')],
    ]);
    const d = diffSnapshots(prev, next);
    expect({ from: d.from, to: d.to, compiledAt: d.compiledAt }).toEqual({ from: 1, to: 2, compiledAt: 20 });
    expect([...d.upsert.keys()].sort()).toEqual([digest(2), digest(5)]);
    expect([...d.remove]).toEqual([digest(3)]);
    expect(d.policies.size).toBe(0);
    expect(d.removePolicies.size).toBe(0);
    expect(deltaSize(d)).toBe(3);
  });

  it.each<[string, Partial<CompiledKey>]>([
    ['suspension', { suspended: true }],
    ['expiry', { expiresAt: 1_900_000_000_000 }],
    ['upstream credential', { upstream: { kind: 'bearer', token: 'sk_test_rotated' } }],
    ['run secret', { runSecret: 'R'.repeat(43), tokenPrefix: 'kb_stripe_' }],
    ['token fingerprint', { tokenFingerprint: 'kb_stripe_…ffff' }],
    ['name', { name: 'renamed' }],
    ['uid', { uid: 'other-uid' }],
  ])('sees a change of the %s', (_what, change) => {
    const d = diffSnapshots(table(1, base()), table(2, [...base().slice(1), [1, stripeKey('k1', change)]]));
    expect([...d.upsert.keys()]).toEqual([digest(1)]);
  });

  it('ships a changed policy with every key that names it, and only those', () => {
    const other: CompiledPolicy = { ...policy, ref: 'agents/other' };
    const prev = table(1, [
      [1, stripeKey('k1')],
      [2, stripeKey('k2', { policy: other })],
    ]);
    const lowered = { ...other, limits: { ...other.limits, perCallMicros: 1 } };
    const d = diffSnapshots(
      prev,
      table(2, [
        [1, stripeKey('k1')],
        [2, stripeKey('k2', { policy: lowered })],
      ]),
    );
    expect([...d.policies.entries()]).toEqual([['agents/other', lowered]]);
    expect([...d.upsert.keys()]).toEqual([digest(2)]);
  });

  it('names the policies no key refers to any more', () => {
    const other: CompiledPolicy = { ...policy, ref: 'agents/other' };
    const d = diffSnapshots(
      table(1, [
        [1, stripeKey('k1')],
        [2, stripeKey('k2', { policy: other })],
      ]),
      table(2, [[1, stripeKey('k1')]]),
    );
    expect([...d.remove]).toEqual([digest(2)]);
    expect([...d.removePolicies]).toEqual(['agents/other']);
  });

  it('is empty for a re-stamped snapshot (the same table under a new version)', () => {
    const prev = table(1, base());
    const d = diffSnapshots(prev, { ...prev, version: 9 });
    expect(deltaSize(d)).toBe(0);
    expect([d.from, d.to]).toEqual([1, 9]);
  });

  it('computes a key’s wire text once per key object', () => {
    const k = stripeKey('k1');
    const text = keyWireText(k);
    expect(keyWireText(k)).toBe(text);
    expect(JSON.parse(text)).toMatchObject({
      name: 'k1',
      policy: 'agents/support-bot',
      upstream: { kind: 'bearer' },
    });
    expect(keyWireText(stripeKey('k1'))).toBe(text);
  });

  it('merges two deltas into one that leads from the first version to the last', () => {
    const v1 = table(1, base());
    const v2 = table(2, [
      [1, stripeKey('k1', { suspended: true })],
      [2, stripeKey('k2')],
      [3, stripeKey('k3')],
      [6, stripeKey('k6')],
    ]);
    const v3 = table(3, [
      [2, stripeKey('k2')],
      [3, stripeKey('k3', { suspended: true })],
      [4, stripeKey('k4')],
      [6, stripeKey('k6', { suspended: true })],
    ]);
    const merged = mergeDeltas(diffSnapshots(v1, v2), diffSnapshots(v2, v3));
    expect([merged.from, merged.to]).toEqual([1, 3]);
    // Applied to v1 it gives v3.
    const applied = new Map(v1.keys);
    for (const d of merged.remove) applied.delete(d);
    for (const [d, k] of merged.upsert) applied.set(d, k);
    expect(describeSnapshot({ ...v3, keys: applied })).toEqual(describeSnapshot(v3));
    expect(() => mergeDeltas(diffSnapshots(v2, v3), diffSnapshots(v1, v2))).toThrow();
  });

  it('reads keys back linked to their policy, and refuses a malformed entry or an unknown policy', () => {
    const k = stripeKey('k1');
    const raw = JSON.parse(`[["${digest(1)}",${keyWireText(k)}]]`) as unknown[];
    const [[d, back]] = readWireKeys(raw, (ref) => (ref === policy.ref ? policy : undefined)) as [
      [string, CompiledKey],
    ];
    expect(d).toBe(digest(1));
    expect(back).toEqual(k);
    expect(back.policy).toBe(policy);
    expect(() => readWireKeys(raw, () => undefined)).toThrow(SnapshotFormatError);
    expect(() => readWireKeys([['xyz', JSON.parse(keyWireText(k))]], () => policy)).toThrow(
      SnapshotFormatError,
    );
    const bad = JSON.parse(keyWireText(k));
    bad.upstream.token = '';
    expect(() => readWireKeys([[digest(1), bad]], () => policy)).toThrow(/upsert\.0\.1\.upstream/);
    expect(() => readWireKeys([[digest(1), bad]], () => policy)).not.toThrow(/sk_test/);
  });

  it.each<[string, (k: Record<string, unknown>) => void, RegExp]>([
    ['an unknown field', (k) => (k.extra = 1), /upsert\.0\.1: unrecognized_keys/],
    ['an unknown vendor', (k) => (k.vendor = 'paypal'), /upsert\.0\.1\.vendor: invalid_value/],
    ['an expiry that is not a number', (k) => (k.expiresAt = '2030'), /upsert\.0\.1\.expiresAt/],
    ['a suspension that is not a boolean', (k) => (k.suspended = 'no'), /upsert\.0\.1\.suspended/],
    ['a malformed run secret', (k) => (k.runSecret = 'short'), /upsert\.0\.1\.runSecret: invalid_format/],
    ['an unknown upstream kind', (k) => (k.upstream = { kind: 'oauth', token: 'x' }), /upstream\.kind/],
    [
      'an upstream with an extra field',
      (k) => (k.upstream = { kind: 'bearer', token: 'sk_test_SECRET', scope: 'all' }),
      /upstream: unrecognized_keys/,
    ],
    ['a missing name', (k) => delete k.name, /upsert\.0\.1\.name: invalid_type/],
  ])('refuses a key with %s, naming the field and never the value', (_what, spoil, message) => {
    const fields = JSON.parse(keyWireText(stripeKey('k1'))) as Record<string, unknown>;
    spoil(fields);
    expect(() => readWireKeys([[digest(1), fields]], () => policy)).toThrow(message);
    expect(() => readWireKeys([[digest(1), JSON.parse(JSON.stringify(fields))]], () => policy)).not.toThrow(
      /SECRET|sk_test/,
    );
  });

  it('keeps one copy of what keys share: namespace, token prefix, equal upstream credentials', () => {
    const raw = [1, 2].map((n) => [
      digest(n),
      JSON.parse(keyWireText(stripeKey('same', { tokenPrefix: 'kb_stripe_' }))),
    ]);
    const [a, b] = readWireKeys(raw, () => policy).map(([, k]) => k);
    expect(a!.upstream).toBe(b!.upstream);
    expect(a!.upstream).toEqual({ kind: 'bearer', token: 'sk_test_same' });
    expect(a!.tokenPrefix).toBe('kb_stripe_');
  });

  it('reads policies back with their patterns compiled', () => {
    const [back] = readWirePolicies([JSON.parse(policyWireText(policy))]);
    expect(describeSnapshot(table(1, [[1, stripeKey('k1', { policy: back! })]]))).toEqual(
      describeSnapshot(table(1, [[1, stripeKey('k1')]])),
    );
    expect(() => readWirePolicies([{ ref: 'x' }])).toThrow(SnapshotFormatError);
  });

  it('lists the policies of a table once each', () => {
    const other: CompiledPolicy = { ...policy, ref: 'agents/other' };
    const s = table(1, [
      [1, stripeKey('k1')],
      [2, stripeKey('k2', { policy: other })],
      [3, stripeKey('k3')],
    ]);
    expect([...policiesOf(s).keys()]).toEqual(['agents/support-bot', 'agents/other']);
  });
});
