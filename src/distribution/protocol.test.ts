import { describe, expect, it } from 'vitest';
import {
  MAX_ENDPOINTS,
  MAX_ENTRY_LENGTH,
  MAX_LIST_ENTRIES,
  SpendPolicySpecSchema,
} from '../api/v1alpha1/spend-policy.ts';
import { keyWireText, policyFromJson } from '../snapshot/serialize.ts';
import type { CompiledKey, CompiledPolicy, Snapshot } from '../snapshot/types.ts';
import {
  deltaLines,
  ENTRIES_PER_LINE,
  eachFullSnapshotLine,
  fullSnapshotLines,
  LINE_BUDGET,
  MAX_LINE_LENGTH,
  nextSnapshotVersion,
  parseStreamMessage,
  type StreamMessage,
  withLag,
} from './protocol.ts';

describe('nextSnapshotVersion', () => {
  it.each([
    ['a new leader starts from the wall clock', 0, 1_700_000_000_000, 1_700_000_000_000],
    [
      'two publishes in one millisecond stay ordered',
      1_700_000_000_000,
      1_700_000_000_000,
      1_700_000_000_001,
    ],
    [
      'a clock that stepped back never regresses the version',
      1_700_000_000_500,
      1_700_000_000_000,
      1_700_000_000_501,
    ],
  ])('%s', (_name, previous, now, expected) => {
    expect(nextSnapshotVersion(previous, now)).toBe(expected);
  });
});

describe('parseStreamMessage', () => {
  it.each([
    [
      'a snapshot line',
      '{"type":"snapshot","version":3,"data":"{}"}',
      { type: 'snapshot', version: 3, data: '{}' },
    ],
    ['a heartbeat line', '{"type":"heartbeat","version":3}', { type: 'heartbeat', version: 3 }],
    [
      "a heartbeat vouching for the operator's informers 1.5 s ago",
      '{"type":"heartbeat","version":3,"lagMs":1500}',
      { type: 'heartbeat', version: 3, lagMs: 1500 },
    ],
    [
      'a heartbeat whose lag is not a whole number of ms (it vouches for nothing)',
      '{"type":"heartbeat","version":3,"lagMs":-1}',
      { type: 'heartbeat', version: 3 },
    ],
    [
      'a table head with its lag added in front (withLag)',
      withLag('{"type":"full","version":3,"compiledAt":0,"parts":0}\n', 20).trim(),
      {
        type: 'full',
        version: 3,
        compiledAt: 0,
        parts: 0,
        entries: { policies: [], upsert: [], remove: [], removePolicies: [] },
        lagMs: 20,
      },
    ],
    ['a snapshot without data', '{"type":"snapshot","version":3}', undefined],
    ['a negative version', '{"type":"heartbeat","version":-1}', undefined],
    ['a fractional version', '{"type":"heartbeat","version":1.5}', undefined],
    ['an unknown type', '{"type":"patch","version":3}', undefined],
    [
      'a delta that does not move forward',
      '{"type":"delta","from":3,"to":3,"compiledAt":0,"parts":0}',
      undefined,
    ],
    ['a delta without its part count', '{"type":"delta","from":2,"to":3,"compiledAt":0}', undefined],
    ['a part whose entries are not a list', '{"type":"part","version":3,"upsert":{}}', undefined],
    [
      'a delta head',
      '{"type":"delta","from":2,"to":3,"compiledAt":7,"parts":1,"remove":["d"]}',
      {
        type: 'delta',
        from: 2,
        to: 3,
        compiledAt: 7,
        parts: 1,
        entries: { policies: [], upsert: [], remove: ['d'], removePolicies: [] },
      },
    ],
    [
      'a full head',
      '{"type":"full","version":3,"compiledAt":7,"parts":0,"policies":[{}]}',
      {
        type: 'full',
        version: 3,
        compiledAt: 7,
        parts: 0,
        entries: { policies: [{}], upsert: [], remove: [], removePolicies: [] },
      },
    ],
    ['a line that is not JSON', 'hello', undefined],
    ['a JSON scalar', '42', undefined],
  ])('reads %s', (_name, line, expected) => {
    expect(parseStreamMessage(line)).toEqual(expected);
  });
});

describe('change-set lines', () => {
  const policy = policyFromJson({ ref: 'ns/p', limits: {}, timezone: 'UTC', readsWhenStoreDown: false });
  const key = (n: number): CompiledKey => ({
    uid: `u${n}`,
    namespace: 'ns',
    name: `k${n}`,
    vendor: 'stripe',
    tokenFingerprint: 'kb_stripe_…abcd',
    upstream: { kind: 'bearer', token: 'sk_test_x' },
    suspended: false,
    policy,
  });
  const digest = (n: number) => n.toString(16).padStart(64, '0');
  const table = (n: number): Snapshot => ({
    version: 5,
    compiledAt: 9,
    keys: new Map(Array.from({ length: n }, (_, i) => [digest(i), key(i)])),
  });
  const read = (text: string) => {
    expect(text.endsWith('\n')).toBe(true);
    return text
      .slice(0, -1)
      .split('\n')
      .map((l) => parseStreamMessage(l)!);
  };
  const entries = (m: StreamMessage) =>
    'entries' in m ? Object.values(m.entries).reduce((n, e) => n + e.length, 0) : 0;

  it('writes a whole table as a full head and parts of at most the given number of entries', () => {
    const lines = read(fullSnapshotLines(table(10), 4));
    // 1 policy + 10 keys = 11 entries: 4 + 4 + 3.
    expect(lines.map((m) => m.type)).toEqual(['full', 'part', 'part']);
    expect(lines[0]).toMatchObject({ version: 5, compiledAt: 9, parts: 2 });
    expect(lines.map(entries)).toEqual([4, 4, 3]);
    expect(lines.every((m) => m.type === 'full' || ('version' in m && m.version === 5))).toBe(true);
  });

  it('gives each line of a whole table to the writer as it is made, the very lines of fullSnapshotLines', () => {
    const t = table(10);
    const given: string[] = [];
    eachFullSnapshotLine(t, (line) => given.push(line), 4);
    expect(given).toHaveLength(3);
    expect(given.every((l) => l.endsWith('\n') && l.indexOf('\n') === l.length - 1)).toBe(true);
    expect(given.join('')).toBe(fullSnapshotLines(t, 4));
  });

  it('writes the same lines whether the key texts are remembered or not', () => {
    // Fresh tables each time: a text remembered by one call must not be what the next one reads.
    const forgetting = fullSnapshotLines(table(10), 4, { rememberTexts: false });
    expect(fullSnapshotLines(table(10), 4)).toBe(forgetting);
    const t = table(10);
    expect(fullSnapshotLines(t, 4, { rememberTexts: false })).toBe(forgetting);
    expect(fullSnapshotLines(t, 4)).toBe(forgetting);
    expect(fullSnapshotLines(t, 4, { rememberTexts: false })).toBe(forgetting);
  });

  it('leaves no text with the keys when told not to remember them', () => {
    // A key object is never changed in place; here it is, to see whether its text was kept.
    const suspendedText = (remember: boolean) => {
      const t = table(1);
      fullSnapshotLines(t, 4, { rememberTexts: remember });
      const k = [...t.keys.values()][0] as { suspended: boolean };
      k.suspended = true;
      return keyWireText(k as unknown as CompiledKey);
    };
    expect(suspendedText(false)).toContain('"suspended":true');
    expect(suspendedText(true)).toContain('"suspended":false');
  });

  it('writes an empty table and an empty delta as a head alone', () => {
    expect(read(fullSnapshotLines(table(0)))).toEqual([
      {
        type: 'full',
        version: 5,
        compiledAt: 9,
        parts: 0,
        entries: { policies: [], upsert: [], remove: [], removePolicies: [] },
      },
    ]);
    const none = new Map();
    const lines = read(
      deltaLines({
        from: 4,
        to: 5,
        compiledAt: 9,
        policies: none,
        upsert: none,
        remove: new Set(),
        removePolicies: new Set(),
      }),
    );
    expect(lines).toEqual([
      {
        type: 'delta',
        from: 4,
        to: 5,
        compiledAt: 9,
        parts: 0,
        entries: { policies: [], upsert: [], remove: [], removePolicies: [] },
      },
    ]);
  });

  it('writes a one-key delta as one line', () => {
    const lines = read(
      deltaLines({
        from: 4,
        to: 5,
        compiledAt: 9,
        policies: new Map(),
        upsert: new Map([[digest(1), key(1)]]),
        remove: new Set([digest(2)]),
        removePolicies: new Set(),
      }),
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ type: 'delta', from: 4, to: 5, parts: 0 });
    expect(lines[0]!.type === 'delta' && lines[0]!.entries.remove).toEqual([digest(2)]);
  });

  /** `n` keys, each with its own policy allowing `ids` customers of `idLength` characters. */
  const wideTable = (n: number, ids: number, idLength: number): Snapshot => {
    const keys = new Map<string, CompiledKey>();
    for (let i = 0; i < n; i++) {
      const customers = Array.from({ length: ids }, (_, j) => `cus_${i}_${j}_`.padEnd(idLength, 'x'));
      const p: CompiledPolicy = policyFromJson({
        ref: `ns/p${i}`,
        limits: {},
        timezone: 'UTC',
        readsWhenStoreDown: false,
        customers,
      });
      keys.set(digest(i), { ...key(i), policy: p });
    }
    return { version: 5, compiledAt: 9, keys };
  };
  const lengths = (text: string) =>
    text
      .slice(0, -1)
      .split('\n')
      .map((l) => l.length);

  it('closes a line before the entry that would take it past its character budget', () => {
    // 4 policies of about 3 100 characters, then 4 keys of about 250: a budget of 7 000 takes two
    // policies, then two policies and three keys, then the last key.
    const t = wideTable(4, 10, 300);
    const lines = read(fullSnapshotLines(t, ENTRIES_PER_LINE, { budget: 7_000 }));
    expect(lines.map(entries)).toEqual([2, 5, 1]);
    expect(lines[0]).toMatchObject({ type: 'full', parts: 2 });
    expect(lengths(fullSnapshotLines(t, ENTRIES_PER_LINE, { budget: 7_000 })).every((n) => n < 7_200)).toBe(
      true,
    );
  });

  // serve's compile thread writes its in-process table without a budget (its reader has no line
  // limit), which spares it a first pass building every key's text.
  it('cuts by entries alone without a budget, and counts the parts the same as a budget never reached', () => {
    const t = wideTable(7, 2, 20);
    const unbounded = fullSnapshotLines(t, 3, { budget: Number.POSITIVE_INFINITY, rememberTexts: false });
    expect(unbounded).toBe(fullSnapshotLines(t, 3, { budget: 1e9 }));
    const lines = read(unbounded);
    expect(lines.map(entries)).toEqual([3, 3, 3, 3, 2]);
    expect(lines[0]).toMatchObject({ type: 'full', parts: 4 });
  });

  it('writes an entry larger than the budget alone on its line', () => {
    const lines = read(fullSnapshotLines(wideTable(3, 10, 300), ENTRIES_PER_LINE, { budget: 1_000 }));
    expect(lines.map(entries)).toEqual([1, 1, 1, 3]);
    expect(lines[0]).toMatchObject({ parts: 3 });
  });

  it('cuts a delta by its budget too', () => {
    const t = wideTable(4, 10, 300);
    const lines = read(
      deltaLines(
        {
          from: 4,
          to: 5,
          compiledAt: 9,
          policies: new Map([...t.keys.values()].map((k) => [k.policy.ref, k.policy])),
          upsert: t.keys,
          remove: new Set(),
          removePolicies: new Set(),
        },
        ENTRIES_PER_LINE,
        7_000,
      ),
    );
    expect(lines.map(entries)).toEqual([2, 5, 1]);
    expect(lines[0]).toMatchObject({ type: 'delta', parts: 2 });
  });

  it('keeps every line of a table larger than a follower reads in one line within the budget', () => {
    // The fourth-round probe: policies of 1.3 MB each, 54 of them, 70 MB in one line of 55 entries.
    // Here 8 of them, so the test stays small: 10 MB that went out as one line.
    const text = fullSnapshotLines(wideTable(8, 100, 13_000));
    expect(text.length).toBeGreaterThan(2 * LINE_BUDGET);
    expect(Math.max(...lengths(text))).toBeLessThan(LINE_BUDGET + 1_000);
    expect(LINE_BUDGET * 8).toBeLessThanOrEqual(MAX_LINE_LENGTH);
    const lines = read(text);
    expect(lines.reduce((n, m) => n + entries(m), 0)).toBe(16);
    expect(lines[0]).toMatchObject({ parts: lines.length - 1 });
  });

  it('fits the largest policy the SpendPolicy schema admits in a line a follower reads', () => {
    // Every list at its bound, every entry at its length, in the characters JSON writes longest (a
    // control character is 6): Stripe's lists are the longest a vendor takes.
    const n = (i: number, c: string) => `${i}`.padEnd(MAX_ENTRY_LENGTH, c);
    const many = (count: number, c: string) => Array.from({ length: count }, (_, i) => n(i, c));
    const allow = {
      endpoints: Array.from({ length: MAX_ENDPOINTS }, (_, i) =>
        `GET /${n(i, 'a')}`.slice(0, MAX_ENTRY_LENGTH),
      ),
      customers: many(MAX_LIST_ENTRIES, '\u0001'),
      accounts: many(MAX_LIST_ENTRIES, '\u0002'),
      recipients: many(MAX_LIST_ENTRIES, '"'),
      currencies: Array.from({ length: MAX_LIST_ENTRIES }, (_, i) =>
        String.fromCharCode(97 + (i % 26), 97 + (Math.floor(i / 26) % 26), 97 + (Math.floor(i / 676) % 26)),
      ),
    };
    expect(SpendPolicySpecSchema.safeParse({ vendor: 'stripe', allow }).error).toBeUndefined();
    const largest = policyFromJson({
      ref: 'ns/p',
      limits: {},
      timezone: 'UTC',
      readsWhenStoreDown: false,
      ...allow,
    });
    const text = fullSnapshotLines({
      version: 5,
      compiledAt: 9,
      keys: new Map([[digest(0), { ...key(0), policy: largest }]]),
    });
    expect(Math.max(...lengths(text))).toBeGreaterThan(30_000_000);
    expect(Math.max(...lengths(text))).toBeLessThan(MAX_LINE_LENGTH);
  });
});
