import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { RawDocument } from '../api/resource-set.ts';
import { createValidationCache, validate } from '../api/validate.ts';
import { fixedClock } from '../clock.ts';
import { diffSnapshots, keyWireText } from '../snapshot/serialize.ts';
import type { Snapshot } from '../snapshot/types.ts';
import { newToken, tokenDigest } from '../tokens/token.ts';
import { type CompileCache, compile, createCompileCache, type TokenGuard } from './compile.ts';
import { patchCompile } from './patch.ts';

// The caches (ValidationCache, CompileCache) may only ever save work: whatever objects are kept or
// replaced between updates, a compile with them must answer exactly what a compile from scratch does.

const clock = fixedClock('2026-06-01T00:00:00Z');
const DIR = new URL('../../test/fixtures/compiler/', import.meta.url);

/** A snapshot as data, upstream credentials included (deep equality must cover them too). */
function table(s: Snapshot) {
  return [...s.keys].map(([digest, k]) => ({ digest, ...k, policy: k.policy.ref }));
}

describe('compile with a cache', () => {
  const fixtures = readdirSync(DIR).filter((f) => f.endsWith('.in.yaml'));

  it.each(fixtures)('%s: answers what a compile from scratch does, and reuses every key', (file) => {
    const docs = fixtureDocs(file);
    const validation = createValidationCache();
    const cache = createCompileCache();
    const fresh = validate(docs);
    const first = validate(docs, { cache: validation });
    const second = validate(docs, { cache: validation });
    expect(first).toEqual(fresh);
    expect(second).toEqual(fresh);
    // Unchanged documents come out as the very same objects.
    for (const [i, k] of second.set.keys.entries()) expect(k).toBe(first.set.keys[i]);

    const scratch = compile(fresh.set, { version: 1, clock });
    const once = compile(first.set, { version: 1, clock, cache });
    const twice = compile(second.set, { version: 1, clock, cache });
    for (const r of [once, twice]) {
      expect(table(r.snapshot)).toEqual(table(scratch.snapshot));
      expect(r.statuses).toEqual(scratch.statuses);
    }
    for (const [digest, k] of twice.snapshot.keys) expect(k).toBe(once.snapshot.keys.get(digest));
  });

  it('never serves a key compiled without its run secret to a compile that wants one', () => {
    const { set } = validate(fixtureDocs('valid-stripe-key.in.yaml'));
    const cache = createCompileCache();
    const checked = compile(set, { version: 1, clock, cache, runSecrets: false });
    const served = compile(set, { version: 2, clock, cache });
    expect([...checked.snapshot.keys.values()].every((k) => k.runSecret === undefined)).toBe(true);
    expect(served.snapshot.keys.size).toBeGreaterThan(0);
    for (const k of served.snapshot.keys.values()) expect(k.runSecret).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});

function fixtureDocs(file: string): RawDocument[] {
  return parseAllDocuments(readFileSync(new URL(file, DIR), 'utf8')).map((d, index) => ({
    source: file,
    index,
    doc: d.toJS(),
  }));
}

describe('validate with a cache', () => {
  const key = (name: string) => ({
    apiVersion: 'keybrake.dev/v1alpha1',
    kind: 'VaultKey',
    metadata: { name, namespace: 'ns' },
    spec: {
      vendor: 'stripe',
      policyRef: { name: 'p' },
      upstreamSecretRef: { name: 'up', key: 'apiKey' },
      tokenSecretRef: { name: `${name}-token` },
    },
  });

  it('still finds a duplicate among documents it has seen valid', () => {
    const validation = createValidationCache();
    const a = key('a');
    validate([{ source: 'one.yaml', index: 0, doc: a }], { cache: validation });
    const { set, errors } = validate(
      [
        { source: 'one.yaml', index: 0, doc: a },
        { source: 'two.yaml', index: 0, doc: a },
      ],
      { cache: validation },
    );
    expect(set.keys).toHaveLength(1);
    expect(errors).toEqual([
      {
        source: 'two.yaml',
        index: 0,
        kind: 'VaultKey',
        namespace: 'ns',
        name: 'a',
        path: 'metadata.name',
        message: 'duplicate VaultKey: also defined in one.yaml document 1',
      },
    ]);
  });

  it('reports an invalid document on every update, not only the first', () => {
    const validation = createValidationCache();
    const bad = { ...key('b'), spec: { vendor: 'stripe' } };
    const docs = [{ source: 'b.yaml', index: 0, doc: bad }];
    const first = validate(docs, { cache: validation });
    const second = validate(docs, { cache: validation });
    expect(first.errors.length).toBeGreaterThan(0);
    expect(second).toEqual(first);
  });
});

// ---- Edit sequences: a small world of objects, each edit replacing or deleting one of them. ----

const TOKENS = [newToken('stripe'), newToken('stripe'), newToken('stripe')];
const TOKEN_VALUES = [
  ...TOKENS,
  'kb_stripe_not_a_checksummed_token_at_all',
  '',
  'x'.repeat(30),
  newToken('stripe'),
  newToken('stripe'),
  newToken('stripe'),
];
const b64 = (s: string) => Buffer.from(s).toString('base64');

type Doc = Record<string, unknown>;
const SLOTS = ['p0', 'p1', 'u0', 'k0', 'k1', 'k2', 'k3', 't0', 't1', 't2', 't3'] as const;
type Slot = (typeof SLOTS)[number];

/** Variant `v` of the object in `slot`: every field the compiler reads takes a few values. */
function variant(slot: Slot, v: number): Doc {
  const meta = (name: string, uid: string) => ({ name, namespace: 'ns', uid, generation: v + 1 });
  switch (slot[0]) {
    case 'p':
      return {
        apiVersion: 'keybrake.dev/v1alpha1',
        kind: 'SpendPolicy',
        metadata: meta(slot, `uid-${slot}`),
        spec: {
          vendor: v % 5 === 4 ? 'resend' : 'stripe',
          limits: { perDayUsd: String(10 + (v % 3)) },
          ...(v % 4 === 1 && { expiresAt: '2026-05-01T00:00:00Z' }),
          ...(v % 4 === 2 && { expiresAt: '2027-01-01T00:00:00Z' }),
          allow: { endpoints: v % 6 === 5 ? ['POST /v1/[charges'] : ['POST /v1/charges'] },
        },
      };
    case 'u':
      return {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: meta(slot, `uid-${slot}`),
        // Two fields, for keys that read the same Secret in different ways.
        data: {
          apiKey: b64(['sk_test_one', 'sk_test_two', '', 'sk test'][v % 4]!),
          // Now and then a brought token's value (tenth round: such a token is refused).
          altKey: b64(['sk_test_alt', 'sk_test_two', 'x'.repeat(30)][v % 3]!),
        },
      };
    case 'k':
      return {
        apiVersion: 'keybrake.dev/v1alpha1',
        kind: 'VaultKey',
        metadata: meta(slot, `uid-${slot}-${v % 2}`),
        spec: {
          vendor: 'stripe',
          policyRef: { name: ['p0', 'p1', 'p9'][v % 3]! },
          // Now and then another key's token Secret, by the field its token is in or another one.
          upstreamSecretRef:
            v % 11 === 10
              ? { name: `t${(Number(slot[1]) + 1) % 4}`, key: v % 2 === 0 ? 'token' : 'alt' }
              : { name: v % 7 === 6 ? 'u9' : 'u0', key: v % 3 === 1 ? 'altKey' : 'apiKey' },
          tokenSecretRef: {
            name: `t${(Number(slot[1]) + (v % 5 === 4 ? 1 : 0)) % 4}`,
            ...(v % 8 === 5 && { key: 'alt' }),
          },
          // A token read with another prefix is another read of the same Secret.
          ...(v % 9 === 7 && { tokenPrefix: 'kb_other_' }),
          ...(v % 4 === 3 && { suspended: true }),
          ...(v % 5 === 2 && { expiresAt: '2026-05-15T00:00:00Z' }),
        },
      };
    default:
      return {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: meta(slot, `uid-${slot}`),
        data: {
          token: b64(TOKEN_VALUES[v % TOKEN_VALUES.length]!),
          alt: b64(TOKEN_VALUES[(v + 4) % TOKEN_VALUES.length]!),
        },
      };
  }
}

interface Step {
  readonly slot: Slot;
  /** undefined: delete the object. */
  readonly variant: number | undefined;
  /** Which token Secrets some VaultKey owns, and which tokens are revoked: read on every compile. */
  readonly owners: readonly (number | undefined)[];
  readonly revoked: readonly boolean[];
}

const step: fc.Arbitrary<Step> = fc.record({
  slot: fc.constantFrom(...SLOTS),
  variant: fc.option(fc.nat(59), { nil: undefined, freq: 6 }),
  owners: fc.array(fc.option(fc.nat(3), { nil: undefined }), { minLength: 4, maxLength: 4 }),
  revoked: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
});

function guardOf(s: Step, world: Map<Slot, Doc>): TokenGuard {
  return {
    ownerOf(_ns, name) {
      const owner = s.owners[Number(name.slice(1))];
      if (owner === undefined) return undefined;
      const key = world.get(`k${owner}` as Slot);
      return (key?.metadata as { uid?: string } | undefined)?.uid ?? `uid-gone-${owner}`;
    },
    revoked(digest) {
      const i = TOKENS.findIndex((t) => tokenDigest(t) === digest);
      return i >= 0 && s.revoked[i]
        ? { vaultKey: 'ns/gone', at: Date.parse('2026-05-20T00:00:00Z') }
        : undefined;
    },
  };
}

describe('compile with a cache, over edit sequences (property)', () => {
  it('equals a compile from scratch after every edit, whatever was kept or replaced', () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 40 }), (steps) => {
        const world = new Map<Slot, Doc>(SLOTS.map((s) => [s, variant(s, 0)]));
        const validation = createValidationCache();
        const cache: CompileCache = createCompileCache();
        let version = 0;
        for (const s of steps) {
          if (s.variant === undefined) world.delete(s.slot);
          else world.set(s.slot, variant(s.slot, s.variant));
          const docs: RawDocument[] = [...world].map(([slot, doc]) => ({ source: slot, index: 0, doc }));
          const tokens = guardOf(s, world);
          version++;
          const scratch = compile(validate(docs).set, { version, clock, tokens });
          const cached = compile(validate(docs, { cache: validation }).set, {
            version,
            clock,
            tokens,
            cache,
          });
          expect(table(cached.snapshot)).toEqual(table(scratch.snapshot));
          expect(cached.statuses).toEqual(scratch.statuses);
        }
      }),
      { numRuns: 300 },
    );
  });
});

// ---- patchCompile: serve's reloads, compiled as changes to the table in force. ----

/** A table as wire texts by digest, in digest order (a patched table keeps another order). */
function wire(s: Snapshot): [string, string][] {
  return [...s.keys].map(([d, k]): [string, string] => [d, keyWireText(k, false)]).sort(byFirst);
}
const byFirst = (a: [string, string], b: [string, string]) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
const refsOf = (s: Snapshot) => new Set([...s.keys.values()].map((k) => k.policy.ref));

interface PatchStep {
  readonly slot: Slot;
  readonly variant: number | undefined;
  /** Minutes after 2026-05-14T00:00Z: the clock walks across the keys' expiry (2026-05-15). */
  readonly minutes: number;
}
const patchStep: fc.Arbitrary<PatchStep> = fc.record({
  slot: fc.constantFrom(...SLOTS),
  variant: fc.option(fc.nat(59), { nil: undefined, freq: 6 }),
  minutes: fc.nat(3 * 24 * 60),
});

describe('patchCompile over edit sequences (property)', () => {
  it('answers what a compile from scratch does, and records the delta that turns the last table into it', () => {
    let patched = 0;
    let compiles = 0;
    let runs = 0;
    fc.assert(
      fc.property(fc.array(patchStep, { minLength: 1, maxLength: 40 }), (steps) => {
        runs++;
        // Each token Secret with a token of its own at first: a token two keys share is compiled whole.
        const first = (s: Slot) => (s[0] === 't' ? [0, 1, 2, 6][Number(s[1])]! : 0);
        const world = new Map<Slot, Doc>(SLOTS.map((s) => [s, variant(s, first(s))]));
        const validation = createValidationCache();
        const cache = createCompileCache();
        let previous: Snapshot | undefined;
        let version = 0;
        for (const s of steps) {
          if (s.variant === undefined) world.delete(s.slot);
          else world.set(s.slot, variant(s.slot, s.variant));
          const docs: RawDocument[] = [...world].map(([slot, doc]) => ({ source: slot, index: 0, doc }));
          const at = fixedClock(
            new Date(Date.parse('2026-05-14T00:00:00Z') + s.minutes * 60_000).toISOString(),
          );
          const options = {
            version: ++version,
            clock: at,
            readyStatuses: false,
            runKeyIndex: false,
          } as const;
          const scratch = compile(validate(docs).set, options);
          const set = validate(docs, { cache: validation }).set;
          const patchable = { ...options, cache, patchable: true };
          const patch = previous && patchCompile(previous, set, patchable);
          const result = patch || compile(set, patchable);
          compiles++;
          if (patch) patched++;
          expect(wire(result.snapshot)).toEqual(wire(scratch.snapshot));
          expect(result.statuses).toEqual(scratch.statuses);
          if (previous) {
            // What a proxy holding the last table makes of the delta distribution ships.
            const delta = diffSnapshots(previous, result.snapshot);
            const table = new Map(wire(previous));
            for (const d of delta.remove) table.delete(d);
            for (const [d, k] of delta.upsert) table.set(d, keyWireText(k, false));
            expect([...table].sort(byFirst)).toEqual(wire(result.snapshot));
            const refs = refsOf(previous);
            for (const ref of delta.removePolicies) refs.delete(ref);
            for (const ref of delta.policies.keys()) refs.add(ref);
            expect(refs).toEqual(refsOf(result.snapshot));
          }
          previous = result.snapshot;
        }
      }),
      { numRuns: 300 },
    );
    // The property means something only if many compiles were patches (the first of a sequence is
    // whole; so is one after a policy changed or while two keys share a token): about 3 in 5 are.
    expect(patched / (compiles - runs)).toBeGreaterThan(0.4);
  });
});

describe('patchCompile at the size of its overlay', () => {
  /** `n` keys of one policy and one upstream Secret, each key with its own token Secret. */
  function docsOf(n: number, upstreamKey: string): RawDocument[] {
    const docs: Doc[] = [variant('p0', 0), { ...variant('u0', 0), data: { apiKey: b64(upstreamKey) } }];
    for (let i = 0; i < n; i++) {
      docs.push({
        apiVersion: 'keybrake.dev/v1alpha1',
        kind: 'VaultKey',
        metadata: { name: `k${i}`, namespace: 'ns', uid: `uid-k${i}` },
        spec: {
          vendor: 'stripe',
          policyRef: { name: 'p0' },
          upstreamSecretRef: { name: 'u0', key: 'apiKey' },
          tokenSecretRef: { name: `t${i}` },
        },
      });
      docs.push({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: `t${i}`, namespace: 'ns', uid: `uid-t${i}` },
        data: { token: b64(`tok_${String(i).padStart(30, '0')}`) },
      });
    }
    return docs.map((doc, index) => ({ source: 'all.yaml', index, doc }));
  }

  it('compiles whole when a Secret every key names changes (more keys than a patch takes)', () => {
    const n = 4_200;
    const options = { clock, readyStatuses: false, runKeyIndex: false } as const;
    const validation = createValidationCache();
    const cache = createCompileCache();
    const before = docsOf(n, 'sk_test_before');
    const first = compile(validate(before, { cache: validation }).set, {
      ...options,
      version: 1,
      cache,
      patchable: true,
    });
    // The upstream Secret rotated; every other document is the same object as before.
    const after = [...before];
    after[1] = docsOf(0, 'sk_test_after')[1]!;
    const set = validate(after, { cache: validation }).set;
    expect(set.keys[0]).toBe(validate(before, { cache: validation }).set.keys[0]);
    expect(
      patchCompile(first.snapshot, set, { ...options, version: 2, cache, patchable: true }),
    ).toBeUndefined();
    const whole = compile(set, { ...options, version: 2, cache, patchable: true });
    expect(whole.snapshot.keys.size).toBe(n);
    for (const k of whole.snapshot.keys.values())
      expect(k.upstream).toEqual({ kind: 'bearer', token: 'sk_test_after' });
    // One token Secret rotated: a patch.
    const again = [...after];
    again[3] = {
      ...again[3]!,
      doc: { ...(again[3]!.doc as Doc), data: { token: b64('tok_rotated_00000000000000000000000') } },
    };
    const patched = patchCompile(whole.snapshot, validate(again, { cache: validation }).set, {
      ...options,
      version: 3,
      cache,
      patchable: true,
    });
    expect(patched?.snapshot.keys.size).toBe(n);
    expect(patched?.snapshot.keys.get(tokenDigest('tok_rotated_00000000000000000000000'))?.name).toBe('k0');
    expect(patched?.snapshot.keys.has(tokenDigest(`tok_${'0'.repeat(30)}`))).toBe(false);
  });
});
