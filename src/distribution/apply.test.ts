import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { runKeyId, runKeysOf } from '../snapshot/run-keys.ts';
import {
  describeSnapshot,
  diffSnapshots,
  policyFromJson,
  SnapshotFormatError,
} from '../snapshot/serialize.ts';
import { tokenKindsOfKeys } from '../snapshot/token-kinds.ts';
import type { CompiledKey, CompiledPolicy, Snapshot } from '../snapshot/types.ts';
import { tokenPrefixesOf, withoutTokenShapes } from '../tokens/redact.ts';
import { fingerprint, newToken } from '../tokens/token.ts';
import { type ChangeSetReader, createChangeSetReader, ResyncNeeded, type StreamTable } from './apply.ts';
import { deltaLines, fullSnapshotLines, parseStreamMessage, type StreamMessage } from './protocol.ts';

const policyA = policyFromJson({ ref: 'ns/a', limits: {}, timezone: 'UTC', readsWhenStoreDown: false });
const policyB = policyFromJson({
  ref: 'ns/b',
  limits: { perCallMicros: 5 },
  timezone: 'UTC',
  endpoints: ['GET /v1/**'],
  readsWhenStoreDown: true,
});
const key = (n: number, extra: Partial<CompiledKey> = {}): CompiledKey => ({
  uid: `u${n}`,
  namespace: 'ns',
  name: `k${n}`,
  vendor: 'stripe',
  tokenFingerprint: 'kb_stripe_…abcd',
  upstream: { kind: 'bearer', token: `sk_test_${n}` },
  suspended: false,
  policy: n % 2 ? policyA : policyB,
  runSecret: String(n % 10).repeat(43),
  tokenPrefix: 'kb_stripe_',
  ...extra,
});
// Distinct in their first 12 bytes, so each key has a key id of its own.
const digest = (n: number) => createHash('sha256').update(String(n)).digest('hex');
const table = (version: number, keys: [number, CompiledKey][]): Snapshot => ({
  version,
  compiledAt: version * 10,
  keys: new Map(keys.map(([n, k]) => [digest(n), k])),
});
const range = (from: number, to: number, extra: (n: number) => Partial<CompiledKey> = () => ({})) =>
  Array.from({ length: to - from }, (_, i): [number, CompiledKey] => [
    from + i,
    key(from + i, extra(from + i)),
  ]);

const messages = (text: string) =>
  text
    .trimEnd()
    .split('\n')
    .map((l) => parseStreamMessage(l) as Extract<StreamMessage, { type: 'full' | 'delta' | 'part' }>);

/** Feeds every line; the table the last one finished. */
function feed(reader: ChangeSetReader, text: string, current?: StreamTable): StreamTable {
  const lines = messages(text);
  let done: StreamTable | undefined;
  for (const [i, m] of lines.entries()) {
    done = reader.read(m, current);
    if (i < lines.length - 1) {
      expect(done).toBeUndefined();
      expect(reader.building).toBe(true);
    }
  }
  expect(reader.building).toBe(false);
  return done!;
}

/** What the table must look like: the snapshot itself, and the run-key index a fresh build gives. */
function expectTable(t: StreamTable, s: Snapshot) {
  expect(t.snapshot.version).toBe(s.version);
  expect(t.snapshot.compiledAt).toBe(s.compiledAt);
  expect(describeSnapshot(t.snapshot)).toEqual(describeSnapshot(s));
  for (const [d, k] of s.keys) expect(t.snapshot.keys.get(d)).toEqual(k);
  const fresh = runKeysOf({ ...s, keys: new Map(s.keys) });
  expect(new Map([...runKeysOf(t.snapshot)].map(([id, k]) => [id, k.name]))).toEqual(
    new Map([...fresh].map(([id, k]) => [id, k.name])),
  );
  const kinds = tokenKindsOfKeys(s.keys.values());
  expect(t.tokenKinds.prefixes).toEqual(kinds.prefixes);
  expect(t.tokenKinds.brought).toEqual(kinds.brought);
}

describe('reading change sets', () => {
  it('builds a whole table from a full head and its parts, policies shared, run keys indexed', () => {
    const s = table(7, range(0, 50));
    const t = feed(createChangeSetReader(), fullSnapshotLines(s, 8));
    expectTable(t, s);
    expect(t.snapshot.keys.get(digest(1))!.policy).toBe(t.snapshot.keys.get(digest(3))!.policy);
    expect(t.keys.overlaySize).toBe(0);
  });

  it('applies a delta on top of the version it starts from, without touching the table in force', () => {
    const reader = createChangeSetReader();
    const v1 = table(1, range(0, 40));
    const t1 = feed(reader, fullSnapshotLines(v1, 8));
    const v2 = table(2, [
      ...range(0, 10),
      ...range(10, 20, () => ({ suspended: true })),
      ...range(25, 45),
      [99, key(99, { runSecret: undefined })],
    ]);
    const d = diffSnapshots(v1, v2);
    expect(d.upsert.size).toBe(10 + 5 + 1);
    expect(d.remove.size).toBe(5);
    const t2 = feed(reader, deltaLines(d, 4), t1);
    expectTable(t2, v2);
    expectTable(t1, v1);
    expect(t2.keys.overlaySize).toBe(21);
  });

  it('ships a changed policy with its keys, and the keys of the other policy keep theirs', () => {
    const reader = createChangeSetReader();
    const v1 = table(1, range(0, 10));
    const t1 = feed(reader, fullSnapshotLines(v1));
    const lowered: CompiledPolicy = { ...policyB, limits: { perCallMicros: 1 } };
    const v2 = table(
      2,
      range(0, 10, (n) => (n % 2 ? {} : { policy: lowered })),
    );
    const d = diffSnapshots(v1, v2);
    expect([...d.policies.keys()]).toEqual(['ns/b']);
    expect(d.upsert.size).toBe(5);
    const t2 = feed(reader, deltaLines(d), t1);
    expectTable(t2, v2);
    expect(t2.snapshot.keys.get(digest(1))!.policy).toBe(t1.snapshot.keys.get(digest(1))!.policy);
    expect(t2.snapshot.keys.get(digest(2))!.policy.limits.perCallMicros).toBe(1);
  });

  it('keeps the run-key index right through keys that gain, lose and change their run secret', () => {
    const reader = createChangeSetReader();
    const v1 = table(1, range(0, 6));
    const t1 = feed(reader, fullSnapshotLines(v1));
    const v2 = table(2, [
      [0, key(0, { runSecret: undefined, tokenPrefix: undefined })],
      [1, key(1, { runSecret: 'Z'.repeat(43) })],
      ...range(2, 4),
      [7, key(7)],
    ]);
    const t2 = feed(reader, deltaLines(diffSnapshots(v1, v2)), t1);
    expectTable(t2, v2);
    expect(runKeysOf(t2.snapshot).get(runKeyId(digest(1)))?.runSecret).toBe('Z'.repeat(43));
    expect(runKeysOf(t2.snapshot).has(runKeyId(digest(0)))).toBe(false);
    expect(runKeysOf(t2.snapshot).has(runKeyId(digest(4)))).toBe(false);
  });

  it('counts the token kinds redaction needs delta by delta, and a delta that changes none keeps what it built', () => {
    const reader = createChangeSetReader();
    // Keys 0–2 use a custom prefix; keys 3–4 serve tokens their users brought (digest of the token).
    const brought = ['sk_live_brought_0123456789abcdefWXYZ', 'sk_live_brought_0123456789abcdef_QRST'];
    const broughtKey = (i: number): [string, CompiledKey] => [
      createHash('sha256').update(brought[i]!).digest('hex'),
      key(3 + i, {
        tokenPrefix: undefined,
        runSecret: undefined,
        tokenFingerprint: fingerprint(brought[i]!),
        broughtTokenLength: brought[i]!.length,
      }),
    ];
    const custom = range(0, 3, () => ({ tokenPrefix: 'acme_' }));
    const snap = (version: number, entries: [string, CompiledKey][]): Snapshot => ({
      version,
      compiledAt: version,
      keys: new Map(entries),
    });
    const plain = range(5, 20).map(([n, k]): [string, CompiledKey] => [digest(n), k]);
    const withCustom = custom.map(([n, k]): [string, CompiledKey] => [digest(n), k]);
    const v1 = snap(1, [...plain, ...withCustom, broughtKey(0), broughtKey(1)]);
    const t1 = feed(reader, fullSnapshotLines(v1, 4));
    expectTable(t1, v1);
    const p1 = tokenPrefixesOf(t1.snapshot);
    const text = `/v1/x?a=${brought[0]}&b=${brought[1]}`;
    expect(withoutTokenShapes(text, p1)).toBe(
      `/v1/x?a=${fingerprint(brought[0]!)}&b=${fingerprint(brought[1]!)}`,
    );
    const acme = newToken('stripe', { prefix: 'acme_' });
    expect(withoutTokenShapes(acme, p1)).toBe(fingerprint(acme));

    // Suspending plain keys and one custom-prefix key changes no kind: what was built is kept.
    const v2 = snap(2, [
      ...plain.map(([d, k]): [string, CompiledKey] => [d, { ...k, suspended: true }]),
      ...withCustom.map(([d, k], i): [string, CompiledKey] => [d, i === 0 ? { ...k, suspended: true } : k]),
      broughtKey(0),
      broughtKey(1),
    ]);
    const t2 = feed(reader, deltaLines(diffSnapshots(v1, v2), 4), t1);
    expectTable(t2, v2);
    expect(t2.tokenKinds.present).toBe(t1.tokenKinds.present);
    const p2 = tokenPrefixesOf(t2.snapshot);
    expect(p2.pattern).toBe(p1.pattern);
    expect(p2.brought?.tails).toBe(p1.brought?.tails);
    expect(p2.brought?.served).toBe(t2.snapshot.keys);

    // The last custom-prefix key and one brought token go: neither is searched for any more.
    const v3 = snap(3, [...plain, ...withCustom.slice(0, 2), broughtKey(1)]);
    const v4 = snap(4, [...plain, broughtKey(1)]);
    const t3 = feed(reader, deltaLines(diffSnapshots(v2, v3)), t2);
    const t4 = feed(reader, deltaLines(diffSnapshots(v3, v4)), t3);
    expectTable(t3, v3);
    expectTable(t4, v4);
    expect(withoutTokenShapes(acme, tokenPrefixesOf(t3.snapshot))).toBe(fingerprint(acme));
    const p4 = tokenPrefixesOf(t4.snapshot);
    expect(withoutTokenShapes(acme, p4)).toBe(acme);
    expect(withoutTokenShapes(text, p4)).toBe(`/v1/x?a=${brought[0]}&b=${fingerprint(brought[1]!)}`);
  });

  it('leaves out both keys of a key-id clash, and keeps the id out after one of them goes', () => {
    const reader = createChangeSetReader();
    // Two digests with the same first 12 bytes have the same key id.
    const a = `${'ab'.repeat(12)}${'0'.repeat(40)}`;
    const b = `${'ab'.repeat(12)}${'1'.repeat(40)}`;
    const v1: Snapshot = { version: 1, compiledAt: 0, keys: new Map([[a, key(1)]]) };
    const t1 = feed(reader, fullSnapshotLines(v1));
    expect(runKeysOf(t1.snapshot).get(runKeyId(a))?.name).toBe('k1');
    const v2: Snapshot = { ...v1, version: 2, keys: new Map([...v1.keys, [b, key(2)]]) };
    const t2 = feed(reader, deltaLines(diffSnapshots(v1, v2)), t1);
    expect(runKeysOf(t2.snapshot).has(runKeyId(a))).toBe(false);
    const v3: Snapshot = { ...v2, version: 3, keys: new Map([[a, key(1)]]) };
    const t3 = feed(reader, deltaLines(diffSnapshots(v2, v3)), t2);
    expect(runKeysOf(t3.snapshot).has(runKeyId(a))).toBe(false);
    // A full table starts afresh.
    const t4 = feed(reader, fullSnapshotLines({ ...v3, version: 4 }));
    expect(runKeysOf(t4.snapshot).get(runKeyId(a))?.name).toBe('k1');
  });

  it.each<[string, (t: StreamTable) => string, StreamTable | 'none']>([
    [
      'a delta from another version than the one held',
      (t) => deltaLines(diffSnapshots({ ...t.snapshot, version: 5 }, table(6, range(0, 3)))),
      'held' as never,
    ],
    [
      'a delta while no table is held',
      (t) => deltaLines(diffSnapshots(t.snapshot, table(6, range(0, 3)))),
      'none',
    ],
    [
      'a part without its head',
      (t) => `${fullSnapshotLines({ ...t.snapshot, version: 6 }, 1).split('\n')[1]}\n`,
      'held' as never,
    ],
  ])('asks for a resync on %s', (_what, lines, held) => {
    const reader = createChangeSetReader();
    const t = feed(reader, fullSnapshotLines(table(1, range(0, 4))));
    const m = messages(lines(t))[0]!;
    expect(() => reader.read(m, held === 'none' ? undefined : t)).toThrow(ResyncNeeded);
    expect(reader.building).toBe(false);
  });

  it('asks for a resync on a new head before the set in progress ended, or a part of another version', () => {
    const reader = createChangeSetReader();
    // Lines are read once (the reader keeps what they carry), so each attempt gets its own.
    const lines = () => messages(fullSnapshotLines(table(1, range(0, 10)), 4));
    reader.read(lines()[0]!, undefined);
    expect(() => reader.read(messages(fullSnapshotLines(table(2, range(0, 2))))[0]!, undefined)).toThrow(
      ResyncNeeded,
    );
    reader.reset();
    const [head, part] = lines();
    reader.read(head!, undefined);
    expect(() => reader.read({ ...(part as { type: 'part' }), version: 9 } as never, undefined)).toThrow(
      ResyncNeeded,
    );
  });

  it('drops a set with a malformed entry, without a credential in the error, and reads the next one', () => {
    const reader = createChangeSetReader();
    const text = fullSnapshotLines(table(1, range(0, 6)), 3).replace('"token":"sk_test_4"', '"token":""');
    let error: unknown;
    try {
      for (const m of messages(text)) reader.read(m, undefined);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(SnapshotFormatError);
    expect(String(error)).toMatch(/upsert\.0\.1\.upstream\.token: too_small/);
    expect(String(error)).not.toContain('sk_test');
    expect(reader.building).toBe(false);
    expectTable(feed(reader, fullSnapshotLines(table(2, range(0, 6)), 3)), table(2, range(0, 6)));
  });
});
