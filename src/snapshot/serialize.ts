import { z } from 'zod';
import { compileEndpointPattern, compileValuePattern } from '../patterns/glob.ts';
import { compileHostPattern } from '../patterns/hosts.ts';
import { runKeysOf } from './run-keys.ts';
import type { CompiledKey, CompiledPolicy, Snapshot } from './types.ts';

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

const WireSchema = z.strictObject({
  format: z.literal(FORMAT),
  version: z.int().nonnegative(),
  compiledAt: z.number(),
  policies: z.array(PolicyJsonSchema),
  keys: z.array(
    z.strictObject({
      digest: z.string().regex(/^[0-9a-f]{64}$/),
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
    }),
  ),
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

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
