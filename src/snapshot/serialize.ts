import { z } from 'zod';
import { ObjectMemo } from '../memo.ts';
import { compileEndpointPattern, compileValuePattern } from '../patterns/glob.ts';
import { compileHostPattern } from '../patterns/hosts.ts';
import { runKeysOf } from './run-keys.ts';
import type { CompiledKey, CompiledPolicy, Snapshot, UpstreamCredential } from './types.ts';

/**
 * Two renderings of a Snapshot. `describeSnapshot` is the safe one (golden files, `serve` start-up
 * log, debugging): no upstream credential, only its kind, and no run secret. `serializeSnapshot`
 * carries the upstream credentials and the run secrets (ADR 0010): the operator streams it to proxies
 * over an authenticated channel. It must never be
 * written to disk, a log, an event or an error message.
 */

/** A CompiledPolicy as plain JSON: patterns as their sources, sets as sorted arrays. */
export interface PolicyJson {
  ref: string;
  limits: {
    perCallMicros?: number;
    perDayMicros?: number;
    perMonthMicros?: number;
    perRunMicros?: number;
    requestsPerMinute?: number;
  };
  timezone: string;
  endpoints?: string[];
  customers?: string[];
  accounts?: string[];
  recipients?: string[];
  senders?: string[];
  countries?: string[];
  currencies?: string[];
  twimlHosts?: string[];
  readsWhenStoreDown: boolean;
  requireRunId?: boolean;
}

export function policyToJson(p: CompiledPolicy): PolicyJson {
  const sorted = (s: ReadonlySet<string> | undefined) => (s ? { v: [...s].sort() } : undefined);
  const out = { ref: p.ref, limits: { ...p.limits }, timezone: p.timezone } as PolicyJson;
  if (p.endpoints) out.endpoints = p.endpoints.map((e) => e.source);
  const customers = sorted(p.customers);
  if (customers) out.customers = customers.v;
  const accounts = sorted(p.accounts);
  if (accounts) out.accounts = accounts.v;
  if (p.recipients) out.recipients = p.recipients.map((r) => r.source);
  if (p.senders) out.senders = p.senders.map((r) => r.source);
  const countries = sorted(p.countries);
  if (countries) out.countries = countries.v;
  const currencies = sorted(p.currencies);
  if (currencies) out.currencies = currencies.v;
  if (p.twimlHosts) out.twimlHosts = p.twimlHosts.map((h) => h.source);
  out.readsWhenStoreDown = p.readsWhenStoreDown;
  if (p.requireRunId) out.requireRunId = true;
  return out;
}

/** Rebuilds a CompiledPolicy, recompiling its patterns. Throws PatternError on a bad pattern. */
export function policyFromJson(j: PolicyJson): CompiledPolicy {
  return {
    ref: j.ref,
    limits: j.limits,
    timezone: j.timezone,
    ...(j.endpoints && { endpoints: j.endpoints.map(compileEndpointPattern) }),
    ...(j.customers && { customers: new Set(j.customers) }),
    ...(j.accounts && { accounts: new Set(j.accounts) }),
    ...(j.recipients && {
      recipients: j.recipients.map((r) => compileValuePattern(r, { caseInsensitive: true })),
    }),
    ...(j.senders && { senders: j.senders.map((r) => compileValuePattern(r, { caseInsensitive: true })) }),
    ...(j.countries && { countries: new Set(j.countries) }),
    ...(j.currencies && { currencies: new Set(j.currencies) }),
    ...(j.twimlHosts && { twimlHosts: j.twimlHosts.map(compileHostPattern) }),
    readsWhenStoreDown: j.readsWhenStoreDown,
    ...(j.requireRunId && { requireRunId: true }),
  };
}

/** One key in `describeSnapshot`: everything but the upstream secret. */
export interface KeyDescription {
  digest: string;
  uid: string;
  namespace: string;
  name: string;
  vendor: string;
  tokenFingerprint: string;
  upstream: { kind: string; accountSid?: string };
  expiresAt?: string;
  suspended: boolean;
  policy: PolicyJson;
}

/** A snapshot without secrets, keys sorted by namespace/name: safe to log and to commit as a golden file. */
export function describeSnapshot(snapshot: Snapshot): {
  version: number;
  compiledAt: string;
  keys: KeyDescription[];
} {
  const keys = [...snapshot.keys].map(([digest, k]): KeyDescription => {
    return {
      digest,
      uid: k.uid,
      namespace: k.namespace,
      name: k.name,
      vendor: k.vendor,
      tokenFingerprint: k.tokenFingerprint,
      // The account SID is not a secret (it is in every Twilio URL) and helps debugging.
      upstream:
        k.upstream.kind === 'basic' && k.upstream.accountSid
          ? { kind: k.upstream.kind, accountSid: k.upstream.accountSid }
          : { kind: k.upstream.kind },
      ...(k.expiresAt !== undefined && { expiresAt: new Date(k.expiresAt).toISOString() }),
      suspended: k.suspended,
      policy: policyToJson(k.policy),
    };
  });
  keys.sort((a, b) => cmp(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`) || cmp(a.digest, b.digest));
  return { version: snapshot.version, compiledAt: new Date(snapshot.compiledAt).toISOString(), keys };
}

const FORMAT = 'keybrake.snapshot/v1';

const Micros = z.int().nonnegative().optional();
const PolicyJsonSchema = z.strictObject({
  ref: z.string(),
  limits: z.strictObject({
    perCallMicros: Micros,
    perDayMicros: Micros,
    perMonthMicros: Micros,
    perRunMicros: Micros,
    requestsPerMinute: z.int().positive().optional(),
  }),
  timezone: z.string(),
  endpoints: z.array(z.string()).optional(),
  customers: z.array(z.string()).optional(),
  accounts: z.array(z.string()).optional(),
  recipients: z.array(z.string()).optional(),
  senders: z.array(z.string()).optional(),
  countries: z.array(z.string()).optional(),
  currencies: z.array(z.string()).optional(),
  twimlHosts: z.array(z.string()).optional(),
  readsWhenStoreDown: z.boolean(),
  requireRunId: z.boolean().optional(),
});

const UpstreamSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('bearer'), token: z.string().min(1) }),
  z.strictObject({
    kind: z.literal('basic'),
    username: z.string().min(1),
    password: z.string().min(1),
    accountSid: z.string().optional(),
  }),
]);

const DigestSchema = z.string().regex(/^[0-9a-f]{64}$/);

/** A key's fields on the wire, its policy by `ref` (the same in both stream formats, without the digest). */
const KeyFieldsSchema = z.strictObject({
  uid: z.string(),
  namespace: z.string(),
  name: z.string(),
  vendor: z.enum(['stripe', 'twilio', 'resend']),
  tokenFingerprint: z.string(),
  upstream: UpstreamSchema,
  expiresAt: z.number().optional(),
  suspended: z.boolean(),
  policy: z.string(),
  // ADR 0010: absent from an operator that predates run keys (its keys then have none).
  runSecret: z
    .string()
    .regex(/^[A-Za-z0-9_-]{43}$/)
    .optional(),
  tokenPrefix: z
    .string()
    .regex(/^[A-Za-z0-9_]{2,32}$/)
    .optional(),
  broughtTokenLength: z.int().positive().optional(),
});

const WireSchema = z.strictObject({
  format: z.literal(FORMAT),
  version: z.int().nonnegative(),
  compiledAt: z.number(),
  policies: z.array(PolicyJsonSchema),
  keys: z.array(KeyFieldsSchema.extend({ digest: DigestSchema })),
});

/**
 * The full snapshot as JSON, WITH upstream credentials, for the operator → proxy stream only.
 * Policies are written once and referenced by `ref`.
 */
export function serializeSnapshot(snapshot: Snapshot): string {
  const policies = new Map<string, PolicyJson>();
  const keys = [...snapshot.keys].map(([digest, k]) => {
    if (!policies.has(k.policy.ref)) policies.set(k.policy.ref, policyToJson(k.policy));
    return {
      digest,
      uid: k.uid,
      namespace: k.namespace,
      name: k.name,
      vendor: k.vendor,
      tokenFingerprint: k.tokenFingerprint,
      upstream: k.upstream,
      ...(k.expiresAt !== undefined && { expiresAt: k.expiresAt }),
      suspended: k.suspended,
      policy: k.policy.ref,
      ...(k.runSecret !== undefined && { runSecret: k.runSecret }),
      ...(k.tokenPrefix !== undefined && { tokenPrefix: k.tokenPrefix }),
      ...(k.broughtTokenLength !== undefined && { broughtTokenLength: k.broughtTokenLength }),
    };
  });
  return JSON.stringify({
    format: FORMAT,
    version: snapshot.version,
    compiledAt: snapshot.compiledAt,
    policies: [...policies.values()],
    keys,
  });
}

/** Thrown for a snapshot that cannot be read; names the field, never a value. */
export class SnapshotFormatError extends Error {
  override readonly name = 'SnapshotFormatError';
}

/** Parses and validates `serializeSnapshot` output, recompiling patterns once per policy. */
export function deserializeSnapshot(text: string): Snapshot {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new SnapshotFormatError('snapshot is not valid JSON');
  }
  const parsed = WireSchema.safeParse(raw);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new SnapshotFormatError(
      `snapshot is malformed at ${first?.path.join('.') || '(root)'}: ${first?.code ?? 'invalid'}`,
    );
  }
  const wire = parsed.data;
  const policies = new Map<string, CompiledPolicy>();
  for (const p of wire.policies) policies.set(p.ref, policyFromJson(p));
  const keys = new Map<string, CompiledKey>();
  for (const k of wire.keys) {
    const policy = policies.get(k.policy);
    if (!policy)
      throw new SnapshotFormatError(
        `snapshot key ${k.namespace}/${k.name} references unknown policy ${k.policy}`,
      );
    const { digest, policy: _ref, ...rest } = k;
    keys.set(digest, { ...rest, policy } as CompiledKey);
  }
  const snapshot: Snapshot = { version: wire.version, compiledAt: wire.compiledAt, keys };
  // Built as the snapshot arrives, not on the first run-token call (ADR 0010).
  runKeysOf(snapshot);
  return snapshot;
}

// ---------------------------------------------------------------------------------------------
// The change-set stream (ADR 0013): keys and policies as separate JSON texts, so the operator can
// ship what changed (a delta) and a proxy can read a whole table a few hundred keys at a time.
// ---------------------------------------------------------------------------------------------

const keyTexts = new ObjectMemo<CompiledKey, string>('key wire text');
const policyTexts = new WeakMap<CompiledPolicy, string>();

/**
 * A key's wire fields as JSON text (its policy by `ref`), in one fixed field order. It is also the
 * key's fingerprint: a proxy holds the same key when the text and its policy's text are the same.
 * Computed once per CompiledKey object and remembered with it (a compiler that keeps the object of
 * an unchanged key makes comparing it free), unless `remember` is false. Carries credentials: the
 * stream's only.
 */
export function keyWireText(k: CompiledKey, remember = true): string {
  let text = keyTexts.get(k);
  if (text !== undefined) return text;
  const u = k.upstream;
  text = JSON.stringify({
    uid: k.uid,
    namespace: k.namespace,
    name: k.name,
    vendor: k.vendor,
    tokenFingerprint: k.tokenFingerprint,
    upstream:
      u.kind === 'bearer'
        ? { kind: 'bearer', token: u.token }
        : {
            kind: 'basic',
            username: u.username,
            password: u.password,
            ...(u.accountSid !== undefined && { accountSid: u.accountSid }),
          },
    ...(k.expiresAt !== undefined && { expiresAt: k.expiresAt }),
    suspended: k.suspended,
    policy: k.policy.ref,
    ...(k.runSecret !== undefined && { runSecret: k.runSecret }),
    ...(k.tokenPrefix !== undefined && { tokenPrefix: k.tokenPrefix }),
    ...(k.broughtTokenLength !== undefined && { broughtTokenLength: k.broughtTokenLength }),
  });
  if (remember) keyTexts.set(k, text);
  return text;
}

/** `policyToJson` as text, remembered per CompiledPolicy object: the policy's fingerprint. */
export function policyWireText(p: CompiledPolicy): string {
  let text = policyTexts.get(p);
  if (text === undefined) {
    text = JSON.stringify(policyToJson(p));
    policyTexts.set(p, text);
  }
  return text;
}

const snapshotPolicies = new WeakMap<Snapshot, ReadonlyMap<string, CompiledPolicy>>();

/** ref → policy of the keys of a snapshot (the first object seen per ref, as `serializeSnapshot`). */
export function policiesOf(snapshot: Snapshot): ReadonlyMap<string, CompiledPolicy> {
  let policies = snapshotPolicies.get(snapshot);
  if (policies) return policies;
  const built = new Map<string, CompiledPolicy>();
  let last: CompiledPolicy | undefined;
  for (const k of snapshot.keys.values()) {
    if (k.policy === last) continue;
    last = k.policy;
    if (!built.has(last.ref)) built.set(last.ref, last);
  }
  policies = built;
  snapshotPolicies.set(snapshot, policies);
  return policies;
}

/**
 * What changes a table into another: keys by digest, policies by ref. Every policy an upserted key
 * names is in `policies` or unchanged in the table the changes apply to.
 */
export interface SnapshotChanges {
  /** New or changed policies. */
  readonly policies: ReadonlyMap<string, CompiledPolicy>;
  /** New or changed keys. */
  readonly upsert: ReadonlyMap<string, CompiledKey>;
  readonly remove: ReadonlySet<string>;
  /** Policies no key names any more. */
  readonly removePolicies: ReadonlySet<string>;
}

/** The difference between two snapshots the operator published (ADR 0013): `from` → `to`. */
export interface SnapshotDelta extends SnapshotChanges {
  readonly from: number;
  readonly to: number;
  /** The `compiledAt` of the snapshot `to`. */
  readonly compiledAt: number;
}

/** Entries a delta carries (policies and keys, upserted and removed). */
export function deltaSize(d: SnapshotChanges): number {
  return d.policies.size + d.upsert.size + d.remove.size + d.removePolicies.size;
}

/** Deltas known from how a snapshot was made (withoutKeys), so diffing it costs nothing. */
const knownDeltas = new WeakMap<Snapshot, SnapshotDelta>();

/** Records that `delta` turns snapshot version `delta.from` into `next` (see diffSnapshots). */
export function rememberDelta(next: Snapshot, delta: SnapshotDelta): void {
  if (delta.to !== next.version) throw new Error(`delta to ${delta.to} recorded for version ${next.version}`);
  knownDeltas.set(next, delta);
}

/**
 * `next` as changes to `prev`: a key is shipped when it is new, its wire text differs, or its
 * policy's does (unchanged keys are compared by identity first, then by their remembered texts; no
 * deep comparison). O(keys) Map lookups, plus one text per key object not seen before; nothing when
 * `next` was made from `prev` by a recorded delta.
 */
export function diffSnapshots(prev: Snapshot, next: Snapshot): SnapshotDelta {
  const known = knownDeltas.get(next);
  if (known && known.from === prev.version) return known;
  const head = { from: prev.version, to: next.version, compiledAt: next.compiledAt };
  if (prev.keys === next.keys)
    return { ...head, policies: new Map(), upsert: new Map(), remove: new Set(), removePolicies: new Set() };
  const before = policiesOf(prev);
  const after = policiesOf(next);
  const policies = new Map<string, CompiledPolicy>();
  for (const [ref, p] of after) {
    const old = before.get(ref);
    if (old !== p && (old === undefined || policyWireText(old) !== policyWireText(p))) policies.set(ref, p);
  }
  const removePolicies = new Set<string>();
  for (const ref of before.keys()) if (!after.has(ref)) removePolicies.add(ref);
  const upsert = new Map<string, CompiledKey>();
  let added = 0;
  for (const [digest, k] of next.keys) {
    const old = prev.keys.get(digest);
    if (old === k) continue;
    if (old === undefined) added++;
    if (old === undefined || policies.has(k.policy.ref) || keyWireText(old) !== keyWireText(k))
      upsert.set(digest, k);
  }
  const remove = new Set<string>();
  // Every key of `prev` is still there when the keys `next` kept number as many as `prev` had.
  if (next.keys.size - added !== prev.keys.size)
    for (const digest of prev.keys.keys()) if (!next.keys.has(digest)) remove.add(digest);
  return { ...head, policies, upsert, remove, removePolicies };
}

/** `a` then `b` (`b.from` must be `a.to`) as one delta `a.from` → `b.to`. */
export function mergeDeltas(a: SnapshotDelta, b: SnapshotDelta): SnapshotDelta {
  if (a.to !== b.from) throw new Error(`cannot merge delta ${a.from}→${a.to} with ${b.from}→${b.to}`);
  const [upsert, remove] = thenApply(a.upsert, a.remove, b.upsert, b.remove);
  const [policies, removePolicies] = thenApply(a.policies, a.removePolicies, b.policies, b.removePolicies);
  return { from: a.from, to: b.to, compiledAt: b.compiledAt, policies, upsert, remove, removePolicies };
}

/** Upserts and removals `a`, then `b`: the later word on an entry wins. */
function thenApply<V>(
  upsertA: ReadonlyMap<string, V>,
  removeA: ReadonlySet<string>,
  upsertB: ReadonlyMap<string, V>,
  removeB: ReadonlySet<string>,
): [Map<string, V>, Set<string>] {
  const upsert = new Map(upsertA);
  const remove = new Set(removeA);
  for (const key of removeB) {
    upsert.delete(key);
    remove.add(key);
  }
  for (const [key, value] of upsertB) {
    upsert.set(key, value);
    remove.delete(key);
  }
  return [upsert, remove];
}

/** Policies of one stream line, validated and compiled (patterns once per policy). */
export function readWirePolicies(raw: readonly unknown[]): CompiledPolicy[] {
  return raw.map((p, i) => {
    const parsed = PolicyJsonSchema.safeParse(p);
    if (!parsed.success) throw malformed(`policies.${i}`, parsed.error);
    try {
      return policyFromJson(parsed.data);
    } catch {
      throw new SnapshotFormatError(`snapshot policy ${parsed.data.ref} has an invalid pattern`);
    }
  });
}

/**
 * Keys of one stream line (`[digest, fields]` pairs), validated and linked to their policy by ref;
 * a key naming a policy `policyOf` does not know is refused, as in `deserializeSnapshot`. The same
 * rules as KeyFieldsSchema, checked by hand: a proxy reads 100 000 of these while it serves calls,
 * and the schema's parse allocates a copy of every key (~1 µs and a young-generation object each).
 * Strings many keys share (namespace, prefix) and equal upstream credentials are kept once per
 * `shared` (one per change set), so a table holds one copy of each.
 */
export function readWireKeys(
  raw: readonly unknown[],
  policyOf: (ref: string) => CompiledPolicy | undefined,
  shared: Map<string, unknown> = new Map(),
): [string, CompiledKey][] {
  const out: [string, CompiledKey][] = new Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const entry = raw[i];
    if (!Array.isArray(entry) || entry.length !== 2 || !isDigest(entry[0]))
      throw new SnapshotFormatError(`snapshot is malformed at upsert.${i}: expected [digest, key]`);
    const key = readKeyFields(entry[1], `upsert.${i}.1`, policyOf, shared);
    out[i] = [entry[0], key];
  }
  return out;
}

const HEX64 = /^[0-9a-f]{64}$/;
const RUN_SECRET = /^[A-Za-z0-9_-]{43}$/;
const TOKEN_PREFIX = /^[A-Za-z0-9_]{2,32}$/;
const KEY_FIELDS = new Set([
  'uid',
  'namespace',
  'name',
  'vendor',
  'tokenFingerprint',
  'upstream',
  'expiresAt',
  'suspended',
  'policy',
  'runSecret',
  'tokenPrefix',
  'broughtTokenLength',
]);
const VENDOR_NAMES = new Set(['stripe', 'twilio', 'resend']);

function isDigest(v: unknown): v is string {
  return typeof v === 'string' && v.length === 64 && HEX64.test(v);
}

function readKeyFields(
  raw: unknown,
  at: string,
  policyOf: (ref: string) => CompiledPolicy | undefined,
  shared: Map<string, unknown>,
): CompiledKey {
  const bad = (field: string, code = 'invalid_type') =>
    new SnapshotFormatError(`snapshot is malformed at ${at}${field ? `.${field}` : ''}: ${code}`);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('');
  const o = raw as Record<string, unknown>;
  for (const field in o) if (!KEY_FIELDS.has(field)) throw bad('', 'unrecognized_keys');
  const { uid, namespace, name, vendor, tokenFingerprint, expiresAt, suspended, runSecret, tokenPrefix } = o;
  const { broughtTokenLength } = o;
  if (typeof uid !== 'string') throw bad('uid');
  if (typeof namespace !== 'string') throw bad('namespace');
  if (typeof name !== 'string') throw bad('name');
  if (typeof vendor !== 'string' || !VENDOR_NAMES.has(vendor)) throw bad('vendor', 'invalid_value');
  if (typeof tokenFingerprint !== 'string') throw bad('tokenFingerprint');
  if (expiresAt !== undefined && (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)))
    throw bad('expiresAt');
  if (typeof suspended !== 'boolean') throw bad('suspended');
  if (typeof o.policy !== 'string') throw bad('policy');
  if (runSecret !== undefined && (typeof runSecret !== 'string' || !RUN_SECRET.test(runSecret)))
    throw bad('runSecret', 'invalid_format');
  if (tokenPrefix !== undefined && (typeof tokenPrefix !== 'string' || !TOKEN_PREFIX.test(tokenPrefix)))
    throw bad('tokenPrefix', 'invalid_format');
  if (
    broughtTokenLength !== undefined &&
    (typeof broughtTokenLength !== 'number' ||
      !Number.isSafeInteger(broughtTokenLength) ||
      broughtTokenLength < 1)
  )
    throw bad('broughtTokenLength');
  const upstream = readUpstream(o.upstream, bad, shared);
  const policy = policyOf(o.policy);
  if (!policy)
    throw new SnapshotFormatError(`snapshot key ${namespace}/${name} references unknown policy ${o.policy}`);
  // The parsed object becomes the key (it is this reader's own): no second object per key.
  o.namespace = once(shared, namespace);
  o.vendor = once(shared, vendor);
  o.upstream = upstream;
  o.policy = policy;
  if (tokenPrefix !== undefined) o.tokenPrefix = once(shared, tokenPrefix as string);
  return o as unknown as CompiledKey;
}

function readUpstream(
  raw: unknown,
  bad: (field: string, code?: string) => SnapshotFormatError,
  shared: Map<string, unknown>,
): UpstreamCredential {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('upstream');
  const u = raw as Record<string, unknown>;
  let id: string;
  if (u.kind === 'bearer') {
    for (const field in u)
      if (field !== 'kind' && field !== 'token') throw bad('upstream', 'unrecognized_keys');
    if (typeof u.token !== 'string' || u.token.length === 0) throw bad('upstream.token', 'too_small');
    id = `\0b\0${u.token}`;
  } else if (u.kind === 'basic') {
    for (const field in u)
      if (field !== 'kind' && field !== 'username' && field !== 'password' && field !== 'accountSid')
        throw bad('upstream', 'unrecognized_keys');
    if (typeof u.username !== 'string' || u.username.length === 0)
      throw bad('upstream.username', 'too_small');
    if (typeof u.password !== 'string' || u.password.length === 0)
      throw bad('upstream.password', 'too_small');
    if (u.accountSid !== undefined && typeof u.accountSid !== 'string') throw bad('upstream.accountSid');
    id = `\0a\0${u.username}\0${u.password}\0${u.accountSid ?? ''}\0${u.accountSid === undefined}`;
  } else throw bad('upstream.kind', 'invalid_union');
  const known = shared.get(id) as UpstreamCredential | undefined;
  if (known) return known;
  const credential: UpstreamCredential =
    u.kind === 'bearer'
      ? { kind: 'bearer', token: u.token as string }
      : {
          kind: 'basic',
          username: u.username as string,
          password: u.password as string,
          ...(u.accountSid !== undefined && { accountSid: u.accountSid as string }),
        };
  shared.set(id, credential);
  return credential;
}

/** `text`, or the equal string seen first in `shared`. */
function once(shared: Map<string, unknown>, text: string): string {
  const known = shared.get(text);
  if (typeof known === 'string') return known;
  shared.set(text, text);
  return text;
}

/** Digests (or policy refs) a stream line removes. */
export function readWireRemovals(raw: readonly unknown[], what: 'remove' | 'removePolicies'): string[] {
  for (let i = 0; i < raw.length; i++) {
    const ok = what === 'remove' ? isDigest(raw[i]) : typeof raw[i] === 'string';
    if (!ok) throw new SnapshotFormatError(`snapshot is malformed at ${what}.${i}`);
  }
  return raw as string[];
}

function malformed(at: string, error: z.ZodError): SnapshotFormatError {
  const first = error.issues[0];
  const path = [at, ...(first?.path ?? [])].join('.');
  return new SnapshotFormatError(`snapshot is malformed at ${path}: ${first?.code ?? 'invalid'}`);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
