import { ByNamespace } from '../api/by-namespace.ts';
import type { RejectedObject, ResourceSet } from '../api/resource-set.ts';
import { type Secret, type SpendPolicy, secretValue, type VaultKey } from '../api/v1alpha1/index.ts';
import type { Clock } from '../clock.ts';
import { ObjectMemo } from '../memo.ts';
import { formatUsd } from '../money/micro-usd.ts';
import { runKeysOf } from '../snapshot/run-keys.ts';
import type { CompiledKey, CompiledPolicy, Snapshot, UpstreamCredential } from '../snapshot/types.ts';
import { runSecretFor } from '../tokens/run-token.ts';
import {
  defaultTokenPrefix,
  fingerprint,
  hasValidChecksum,
  tokenDigest,
  tokenPrefixPart,
} from '../tokens/token.ts';
import { hasVendorKeyPrefix } from '../tokens/vendor-key-shapes.ts';
import { compilePolicy } from './compile-policy.ts';
import { type Condition, type KeyReason, type PolicyReason, readyCondition } from './conditions.ts';
import { readUpstreamCredential, TWILIO_CREDENTIAL_FIELDS, type UpstreamResult } from './upstream.ts';
import { UpstreamSecretUse } from './upstream-secret-use.ts';

/** The Ready state of one VaultKey or SpendPolicy: written to `.status` by the operator, logged by `serve`. */
export interface ObjectStatus {
  readonly kind: 'VaultKey' | 'SpendPolicy';
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly generation?: number;
  readonly conditions: Condition[];
  /** VaultKey only: whether the key is in the snapshot (Active, Expired and Suspended keys are). */
  readonly served?: boolean;
  /** VaultKey only, when its token could be read. Never the token. */
  readonly tokenFingerprint?: string;
  /** VaultKey only: the policy's perDayUsd, shown beside spentTodayUsd by `kubectl get vk`. */
  readonly capPerDayUsd?: string;
}

/** What the compiler hands to distribution (the snapshot) and to status writers (the statuses). */
export interface CompileResult {
  readonly snapshot: Snapshot;
  /** Sorted by kind, namespace, name. */
  readonly statuses: ObjectStatus[];
}

export interface CompileOptions {
  readonly version: number;
  readonly clock: Clock;
  /** Cluster only: which VaultKey a token Secret belongs to, and the tokens deleted keys revoked. */
  readonly tokens?: TokenGuard;
  /** Work to reuse from earlier compiles (the compile runner keeps one); without it, all is done anew. */
  readonly cache?: CompileCache;
  /**
   * false: statuses only for the objects that are not Ready (`serve` logs those and nothing else;
   * leaving out one object per Ready key is most of what a compile of a large table allocates).
   * Default true: every object (the operator writes them all).
   */
  readonly readyStatuses?: boolean;
  /**
   * false: the run-key index is not built here but on first use. Default true: built once per
   * compile, so the operator's revocation fast path (withoutKeys) never builds it for 100 000 keys
   * while a revocation waits. A table that is only checked (`policy-check`) or handed to another
   * thread as text (`serve`'s compile thread) never uses it.
   */
  readonly runKeyIndex?: boolean;
  /**
   * false: keys get no run secret (an HMAC per key, about a third of the compile at 100 000 keys), so
   * their run tokens would answer key_unknown: for a table that is only checked (`policy-check`),
   * never served. Default true.
   */
  readonly runSecrets?: boolean;
  /**
   * Cluster: the claim under which this release serves a namespace (NamespaceClaims.epoch), mixed
   * into the run secrets of its keys (runSecretFor), so that run keys minted under another claim, by
   * the release the namespace moved from, are refused (twelfth round). undefined for a namespace: its
   * keys get no run secret (fail closed). Absent: `serve`'s derivation, without a claim.
   */
  readonly runClaim?: (namespace: string) => string | undefined;
  /**
   * true: leave with the snapshot what `patchCompile` (patch.ts) needs to compile the next set as
   * changes to this one (PatchState), when this compile is one it can patch. Needs a `cache`.
   */
  readonly patchable?: boolean;
}

/**
 * What a compile leaves for the next one to patch rather than redo, kept with its snapshot until
 * one patch takes it (the structures are then the patched compile's, changed in place). Only
 * for a compile whose statuses depend on nothing but the set and the time: no token guard, no
 * statuses for Ready objects, no rejected objects and no token shared by two keys.
 */
export interface PatchState {
  /** The set compiled. */
  readonly set: ResourceSet;
  /** Its policies, Secrets and options, as its keys were compiled against them. */
  readonly inputs: KeyInputs;
  /** Every key of the set that is not served, and why. */
  readonly failures: Map<VaultKey, KeyFailure>;
  /** The served keys that have a status while served: with an expiry, or suspended. */
  readonly notable: Set<VaultKey>;
  /** How many served keys name each policy (by ref): the policies the table carries. */
  readonly servedPerPolicy: Map<string, number>;
  /**
   * Secrets of the set that stand for the one the keys were compiled against: read again with the
   * same content, the index keeps the first object (patch.ts).
   */
  readonly standIns: ObjectMemo<Secret, Secret>;
}

const patchStates = new WeakMap<Snapshot, PatchState>();

/** The PatchState left with `snapshot`, taken: a second patch of the same snapshot compiles whole. */
export function takePatchState(snapshot: Snapshot): PatchState | undefined {
  const state = patchStates.get(snapshot);
  patchStates.delete(snapshot);
  return state;
}

/** Hands a patched compile's state on to its snapshot. */
export function leavePatchState(snapshot: Snapshot, state: PatchState): void {
  patchStates.set(snapshot, state);
}

/** Whether a compile of `set` with `opts` is one patchCompile can patch, and may start from. */
export function patchable(set: ResourceSet, opts: CompileOptions): boolean {
  return (
    opts.patchable === true &&
    opts.cache !== undefined &&
    opts.tokens === undefined &&
    opts.readyStatuses === false &&
    opts.runKeyIndex === false &&
    opts.runClaim === undefined &&
    set.rejected.length === 0
  );
}

/**
 * What `compile` reuses between runs, keyed by the very objects each result was computed from, so
 * that a change to one object in a table of 100 000 recomputes one key: a policy's compiled form by
 * its SpendPolicy, a credential and a token read by their Secret, and a CompiledKey by its VaultKey
 * as long as its policy, credential and token are the same objects as last time (the diff to the
 * snapshot in force then skips it by identity). This pays off only when unchanged objects keep their
 * identity from one update to the next, as the Kubernetes source's do (ValidationCache); documents
 * read again from files are new objects, and simply miss. A result goes with its inputs (ObjectMemo:
 * a WeakMap's semantics without its cost to the collector at 100 000 keys).
 * Nothing here depends on the clock or on the TokenGuard, which are read on every compile.
 */
export interface CompileCache {
  readonly policies: ObjectMemo<SpendPolicy, PolicyOutcome>;
  /** Per Secret: by vendor and field. */
  readonly upstreams: ObjectMemo<Secret, Variants<UpstreamResult>>;
  /** Per Secret: by field and token prefix. */
  readonly tokens: ObjectMemo<Secret, Variants<TokenRead>>;
  readonly keys: ObjectMemo<VaultKey, KeyMemo>;
}

export function createCompileCache(): CompileCache {
  return {
    policies: new ObjectMemo('compiled policy'),
    upstreams: new ObjectMemo('upstream credential read'),
    tokens: new ObjectMemo('token read'),
    keys: new ObjectMemo('compiled key'),
  };
}

/** A valid SpendPolicy and its compiled form, as keys look it up. */
export interface PolicyEntry {
  readonly outcome: PolicyOutcome & { ok: true };
  readonly source: SpendPolicy;
}

type PolicyOutcome =
  | { readonly ok: true; readonly policy: CompiledPolicy; readonly expiresAt?: number }
  | { readonly ok: false; readonly message: string };

/** A token Secret's field, read and checked: what the key needs of it, or why it cannot be served. */
type TokenRead =
  | { readonly ok: true; readonly token: string; readonly digest: string; readonly fingerprint: string }
  | { readonly ok: false; readonly reason: 'TokenSecretMissing' | 'TokenInvalid'; readonly message: string };

interface KeyMemo {
  readonly policy: PolicyOutcome;
  readonly upstreamSecret: Secret;
  readonly upstream: UpstreamResult;
  readonly tokenSecret: Secret;
  readonly token: TokenRead;
  readonly compiled: CompiledKey;
  /** The namespace's claim its run secret was derived under (CompileOptions.runClaim). */
  readonly runClaim?: string | undefined;
}

/**
 * One object's results by variant (two strings, as `a` then `b`). Nearly every Secret is read one
 * way, so the first variant is held in the entry itself, and a Map made only for a second: a Map
 * per token Secret, keyed by a string joined per key, was 23 MiB of `serve`'s compile thread at
 * 100 000 keys.
 */
interface Variants<V> {
  readonly a: string;
  readonly b: string;
  readonly value: V;
  /** The other variants, by `${a}\0${b}`. */
  more?: Map<string, V>;
}

function remembered<K extends object, V>(
  cache: ObjectMemo<K, Variants<V>> | undefined,
  object: K,
  a: string,
  b: string,
  make: () => V,
): V {
  if (!cache) return make();
  const held = cache.get(object);
  if (!held) {
    const value = make();
    cache.set(object, { a, b, value });
    return value;
  }
  if (held.a === a && held.b === b) return held.value;
  const variant = `${a}\0${b}`;
  held.more ??= new Map();
  let value = held.more.get(variant);
  if (value === undefined) {
    value = make();
    held.more.set(variant, value);
  }
  return value;
}

/**
 * What binds a token to one VaultKey (cluster only; ADR 0009): the uid of the VaultKey a token Secret
 * is owned by (its controlling ownerReference, which validated Secrets do not carry, so the operator
 * reads it from its informer cache), and the operator's ledger of tokens revoked by `kubectl delete`.
 * A token is served only for the key whose uid owns its Secret (or an unowned Secret) and never once
 * revoked, whatever is re-applied later.
 */
export interface TokenGuard {
  /** The uid of the VaultKey that owns Secret namespace/name; undefined when no VaultKey does. */
  ownerOf(namespace: string, name: string): string | undefined;
  /** The revocation of a token, by its SHA-256 digest (tokenDigest); undefined when never revoked. */
  revoked(digest: string): Revocation | undefined;
}

/** A token revoked by deleting its VaultKey: which key, and when (epoch ms). */
export interface Revocation {
  /** `namespace/name` of the deleted VaultKey. */
  readonly vaultKey: string;
  readonly at: number;
}

/** A token shorter than this without a Keybrake checksum is refused: it could be guessed. */
export const MIN_FOREIGN_TOKEN_LENGTH = 24;

/**
 * ResourceSet → Snapshot + statuses (DESIGN.md §3). Pure: no I/O, time from the clock. Every
 * problem becomes a Ready=False condition on the object; a key with any problem that would make it
 * unsafe to serve is left out of the table (its token then answers key_unknown). Expired and
 * suspended keys stay in so the proxy can say key_expired / key_suspended.
 */
export function compile(set: ResourceSet, opts: CompileOptions): CompileResult {
  const now = opts.clock.now();
  const statuses: ObjectStatus[] = [];
  const id = (ns: string | undefined, name: string) => `${ns}/${name}`;

  const cache = opts.cache;
  // By namespace, then name: a lookup per key without building a `namespace/name` string per key.
  const policies = new ByNamespace<PolicyEntry>();
  const invalidPolicies = new Map<string, string>();
  for (const p of set.policies) {
    const ref = id(p.metadata.namespace, p.metadata.name);
    let outcome = cache?.policies.get(p);
    if (!outcome) {
      outcome = compiledPolicy(p);
      cache?.policies.set(p, outcome);
    }
    if (outcome.ok) {
      policies.set(p.metadata.namespace!, p.metadata.name, { outcome, source: p });
      if (opts.readyStatuses !== false)
        statuses.push(policyStatus(p, true, 'Valid', 'The policy is valid.', now));
    } else {
      invalidPolicies.set(ref, outcome.message);
      statuses.push(policyStatus(p, false, 'Invalid', outcome.message, now));
    }
  }
  for (const r of set.rejected) {
    const message = rejectedMessage(r);
    if (r.kind === 'SpendPolicy') invalidPolicies.set(id(r.namespace, r.name), message);
    statuses.push({
      kind: r.kind,
      namespace: r.namespace,
      name: r.name,
      uid: r.uid ?? id(r.namespace, r.name),
      ...(r.generation !== undefined && { generation: r.generation }),
      conditions: [readyCondition(false, 'Invalid', message, { generation: r.generation, now })],
      ...(r.kind === 'VaultKey' && { served: false }),
    });
  }

  const secrets = new ByNamespace<Secret>();
  for (const s of set.secrets) secrets.set(s.metadata.namespace!, s.metadata.name, s);
  // A VaultKey that exists, even one rejected as invalid: a Secret it owns belongs to it. Only the
  // cluster's tokens have owners (TokenGuard).
  const liveKeys = new Map<string, LiveKey>();
  if (opts.tokens) {
    for (const k of set.keys)
      if (k.metadata.uid !== undefined)
        liveKeys.set(k.metadata.uid, { namespace: k.metadata.namespace!, name: k.metadata.name });
    for (const r of set.rejected)
      if (r.kind === 'VaultKey' && r.uid !== undefined)
        liveKeys.set(r.uid, { namespace: r.namespace, name: r.name });
  }
  const inputs: KeyInputs = {
    policies,
    invalidPolicies,
    secrets,
    liveKeys,
    upstreamUse: UpstreamSecretUse.of(set.keys),
    ...(cache && { cache }),
    ...(opts.tokens && { tokens: opts.tokens }),
    withRunSecret: opts.runSecrets !== false,
    ...(opts.runClaim && { runClaim: opts.runClaim }),
  };
  // Kept for patchCompile (patch.ts) only when it may patch this result (PatchState).
  const keep = patchable(set, opts);
  const failures = new Map<VaultKey, KeyFailure>();
  const candidates: Candidate[] = [];
  for (const key of set.keys) {
    const verdict = compileKey(key, inputs);
    if (verdict.ok) candidates.push(verdict);
    else {
      statuses.push(keyStatus(key, false, verdict.reason, verdict.message, now, verdict.extra));
      if (keep) failures.set(key, verdict);
    }
  }

  // Two keys with one token cannot be told apart: serve neither rather than guess (fail closed).
  // Found while filling the table (no second map of every digest); the rare conflicts are then
  // taken out of it again.
  const keys = new Map<string, CompiledKey>();
  // Already in order when the source's documents are (a sorted run costs one comparison a key).
  candidates.sort((a, b) => order(a.compiled, b.compiled));
  const shared = new Set<string>();
  for (const c of candidates) {
    if (keys.has(c.digest)) shared.add(c.digest);
    else keys.set(c.digest, c.compiled);
  }
  const sharedDigests = shared.size > 0 ? sharingKeys(shared, candidates, set.keys) : undefined;
  for (const d of shared) keys.delete(d);
  for (const c of candidates) {
    const sharing = sharedDigests?.get(c.digest);
    if (sharing) {
      const message = tokenConflictMessage(
        c.compiled.namespace,
        sharing.filter((o) => o !== c).map((o) => o.compiled),
      );
      const extra = { tokenFingerprint: c.compiled.tokenFingerprint, ...capOf(c.compiled.policy) };
      statuses.push(keyStatus(c.key, false, 'TokenConflict', message, now, extra));
      continue;
    }
    // A key served as Ready has a status only when they are asked for: nothing to make for most keys.
    const status = servedStatus(c.key, c.compiled, now, opts.readyStatuses !== false);
    if (status) statuses.push(status);
  }

  statuses.sort(statusOrder);
  const snapshot: Snapshot = { version: opts.version, compiledAt: now, keys };
  // The run-key index is built here, once per snapshot, rather than on a request (ADR 0010).
  if (opts.runKeyIndex !== false) runKeysOf(snapshot);
  if (keep && shared.size === 0) {
    const notable = new Set<VaultKey>();
    const servedPerPolicy = new Map<string, number>();
    for (const c of candidates) {
      if (c.compiled.expiresAt !== undefined || c.compiled.suspended) notable.add(c.key);
      servedPerPolicy.set(c.compiled.policy.ref, (servedPerPolicy.get(c.compiled.policy.ref) ?? 0) + 1);
    }
    leavePatchState(snapshot, {
      set,
      inputs,
      failures,
      notable,
      servedPerPolicy,
      standIns: new ObjectMemo('secret stand-in'),
    });
  }
  return { snapshot, statuses };
}

/** What compiling one VaultKey needs of the rest of the set, and of the options. */
export interface KeyInputs {
  readonly policies: ByNamespace<PolicyEntry>;
  /** `namespace/name` → why, of each SpendPolicy that is invalid. */
  readonly invalidPolicies: ReadonlyMap<string, string>;
  readonly secrets: ByNamespace<Secret>;
  /** uid → every VaultKey that exists (cluster only, with `tokens`). */
  readonly liveKeys: ReadonlyMap<string, LiveKey>;
  /** The upstream Secrets of the set's keys, and the fields of them a key keeps its token in. */
  readonly upstreamUse: UpstreamSecretUse;
  readonly cache?: CompileCache;
  readonly tokens?: TokenGuard;
  readonly withRunSecret: boolean;
  /** CompileOptions.runClaim. */
  readonly runClaim?: (namespace: string) => string | undefined;
}

/**
 * A VaultKey that exists, by its uid: an ownerReference names a uid alone, which may be a key of
 * another namespace (the API server does not check), so its namespace is kept to tell.
 */
export interface LiveKey {
  readonly namespace: string;
  readonly name: string;
}

/** Why a key is not served: its Ready=False condition, less the time (a status is made per compile). */
export interface KeyFailure {
  readonly ok: false;
  readonly reason: KeyReason;
  readonly message: string;
  readonly extra: { capPerDayUsd?: string };
}

/** A key that can be served, unless another key has the same token (compile's last step). */
export interface Candidate {
  readonly ok: true;
  readonly key: VaultKey;
  readonly compiled: CompiledKey;
  readonly digest: string;
}

/**
 * One VaultKey against its policy, Secrets and token guard: the key to serve, or why not. Reads the
 * cache's work for this very object when its inputs are the same objects as last time.
 */
export function compileKey(key: VaultKey, inputs: KeyInputs): Candidate | KeyFailure {
  const fail = (reason: KeyReason, message: string, extra: { capPerDayUsd?: string } = {}): KeyFailure => ({
    ok: false,
    reason,
    message,
    extra,
  });
  const { cache, tokens } = inputs;
  const ns = key.metadata.namespace!;
  const spec = key.spec;
  const id = (name: string) => `${ns}/${name}`;
  const entry = inputs.policies.get(ns, spec.policyRef.name);
  if (!entry) {
    const policyRef = id(spec.policyRef.name);
    const invalid = inputs.invalidPolicies.get(policyRef);
    return invalid === undefined
      ? fail('PolicyNotFound', `SpendPolicy ${policyRef} does not exist.`)
      : fail('PolicyInvalid', `SpendPolicy ${policyRef} is invalid: ${invalid}`);
  }
  const policy = entry.outcome.policy;
  const cap = capOf(policy);
  if (entry.source.spec.vendor !== spec.vendor)
    return fail(
      'VendorMismatch',
      `The key is for ${spec.vendor} but SpendPolicy ${id(spec.policyRef.name)} is for ${entry.source.spec.vendor}.`,
      cap,
    );
  const upstreamSecret = inputs.secrets.get(ns, spec.upstreamSecretRef.name);
  if (!upstreamSecret)
    return fail('UpstreamSecretMissing', `Secret ${id(spec.upstreamSecretRef.name)} does not exist.`, cap);
  // A memo is keyed by the VaultKey object, so its spec is this one: the same Secret object
  // gives the same read (most keys of a large table, on every compile after the first).
  const memo = cache?.keys.get(key);
  const upstreamKey = spec.upstreamSecretRef.key;
  const upstream =
    memo?.upstreamSecret === upstreamSecret
      ? memo.upstream
      : remembered(cache?.upstreams, upstreamSecret, spec.vendor, upstreamKey ?? '', () =>
          readUpstreamCredential(spec.vendor, upstreamSecret, upstreamKey),
        );
  if (!upstream.ok) return fail('UpstreamSecretInvalid', `${upstream.message}.`, cap);
  const tokenSecret = inputs.secrets.get(ns, spec.tokenSecretRef.name);
  const tokenRef = () => id(spec.tokenSecretRef.name);
  // Before anything else about the token: a missing field here would have the operator mint a token
  // into the user's upstream Secret, and a present one is the real key (an adversarial probe).
  if (spec.tokenSecretRef.name === spec.upstreamSecretRef.name)
    return fail(
      'TokenInvalid',
      `Secret ${tokenRef()} is also this key's upstreamSecretRef: a vault token never shares a Secret with the real key, which the agent mounting it would hold.`,
      cap,
    );
  // Tenth round: nor with another key's real key (the same reason; the Secret is all an agent
  // mounting it, or given `envFrom` or `get` on it, needs to skip Keybrake).
  if (
    tokenSecret !== undefined &&
    inputs.upstreamUse.isUpstream(ns, spec.tokenSecretRef.name) &&
    holdsMoreThan(
      tokenSecret,
      (f, value) =>
        f === spec.tokenSecretRef.key ||
        (inputs.upstreamUse.tokenKeptBy(ns, spec.tokenSecretRef.name, f) !== undefined &&
          isAcceptableToken(value)),
    )
  )
    return fail(
      'TokenInvalid',
      `Secret ${tokenRef()} is the upstreamSecretRef of another VaultKey and holds fields besides "${spec.tokenSecretRef.key}": a vault token never shares a Secret with a real key, which the agent mounting it would hold. Name a Secret of its own in tokenSecretRef (the operator mints into a new one).`,
      cap,
    );
  const notUpstream = tokenSecretProblem(key, inputs);
  if (notUpstream !== undefined) return fail('UpstreamSecretInvalid', notUpstream, cap);
  if (!tokenSecret) return fail('TokenSecretMissing', `Secret ${tokenRef()} does not exist.`, cap);
  const prefix = spec.tokenPrefix ?? defaultTokenPrefix(spec.vendor);
  const tokenField = spec.tokenSecretRef.key;
  const read =
    memo?.tokenSecret === tokenSecret
      ? memo.token
      : remembered(cache?.tokens, tokenSecret, tokenField, prefix, () =>
          readToken(tokenSecret, tokenRef(), tokenField, prefix),
        );
  if (!read.ok && read.reason === 'TokenSecretMissing') return fail(read.reason, read.message, cap);
  const owner = tokens?.ownerOf(ns, spec.tokenSecretRef.name);
  if (owner !== undefined && owner !== key.metadata.uid) {
    const other = inputs.liveKeys.get(owner);
    return other === undefined
      ? fail(
          'TokenSecretStale',
          `Secret ${tokenRef()} belongs to a deleted VaultKey (uid ${owner}): its token was revoked with that key and is never served again; the operator mints a fresh token into it.`,
          cap,
        )
      : fail(
          'TokenConflict',
          `Secret ${tokenRef()} belongs to ${ownerName(other, ns)}; a token Secret serves only the key that owns it.`,
          cap,
        );
  }
  if (!read.ok) return fail(read.reason, read.message, cap);
  if (isUpstreamSecret(read.token, upstream.credential))
    return fail(
      'TokenInvalid',
      `The token in Secret ${tokenRef()} is this key's upstream credential: a vault token is never the real key.`,
      cap,
    );
  // A token you brought equal to a value of another key's upstream Secret (tenth round): a Twilio
  // authToken passes for a brought token by its shape. A minted token is never a vendor's credential.
  if (!hasValidChecksum(read.token) && inputs.upstreamUse.holdsValue(ns, read.token, inputs.secrets))
    return fail(
      'TokenInvalid',
      `The token in Secret ${tokenRef()} is a value of an upstream Secret of this namespace: a vault token is never a real key. Put a token from keybrake token new in the Secret.`,
      cap,
    );
  const digest = read.digest;
  const revocation = tokens?.revoked(digest);
  if (revocation) {
    const at = new Date(revocation.at).toISOString().replace(/\.\d{3}Z$/, 'Z');
    // A status is read by its namespace's tenant, who may have set the token to learn which other
    // tenant's key held it (as tokenConflictMessage): a key of another namespace is not named.
    const by = revocation.vaultKey.startsWith(`${ns}/`)
      ? `VaultKey ${revocation.vaultKey}`
      : 'a VaultKey in another namespace';
    return fail(
      'TokenRevoked',
      `The token in Secret ${tokenRef()} was revoked when ${by} was deleted (${at}) and is never served again: put a new token in the Secret (keybrake token new), or delete it and the operator mints one.`,
      cap,
    );
  }
  // Cluster: no run secret for a namespace whose claim is not known (fail closed: no run key passes).
  const runClaim = inputs.runClaim?.(ns);
  const withRunSecret = inputs.withRunSecret && (inputs.runClaim === undefined || runClaim !== undefined);
  if (
    memo &&
    memo.policy === entry.outcome &&
    memo.upstream === upstream &&
    memo.token === read &&
    memo.runClaim === runClaim &&
    (memo.compiled.runSecret !== undefined) === withRunSecret
  )
    return { ok: true, key, digest, compiled: memo.compiled };
  const expiresAt = earliest(
    spec.expiresAt === undefined ? undefined : Date.parse(spec.expiresAt),
    entry.outcome.expiresAt,
  );
  const compiled: CompiledKey = {
    uid: uidOf(key),
    namespace: ns,
    name: key.metadata.name,
    vendor: spec.vendor,
    tokenFingerprint: read.fingerprint,
    upstream: upstream.credential,
    ...(expiresAt !== undefined && { expiresAt }),
    suspended: spec.suspended,
    policy,
    // ADR 0010: run tokens are verified with a secret derived from this token (never the token).
    ...(withRunSecret && { runSecret: runSecretFor(read.token, uidOf(key), runClaim) }),
    tokenPrefix: prefix,
    // A length alone: the proxy finds a brought token in what it records by digest (tokens/brought.ts).
    ...(!hasValidChecksum(read.token) && { broughtTokenLength: read.token.length }),
  };
  cache?.keys.set(key, {
    policy: entry.outcome,
    upstreamSecret,
    upstream,
    tokenSecret,
    token: read,
    compiled,
    runClaim,
  });
  return { ok: true, key, digest, compiled };
}

/**
 * Why a key's upstream Secret is a vault token's Secret, or undefined (seventh round): a key naming
 * another key's token Secret as its upstream sent that key's vault token to the vendor as the real
 * credential, and followed it through every re-mint. A token Secret is one a VaultKey owns (cluster:
 * the operator minted it) or one whose field a key of the set names as its tokenSecretRef; a token
 * Keybrake minted is refused by its checksum whatever Secret holds it (readUpstreamCredential).
 */
function tokenSecretProblem(key: VaultKey, inputs: KeyInputs): string | undefined {
  const ns = key.metadata.namespace!;
  const name = key.spec.upstreamSecretRef.name;
  const never = 'a vault token is never sent to the vendor as the real key.';
  const owner = inputs.tokens?.ownerOf(ns, name);
  if (owner !== undefined) {
    const live = inputs.liveKeys.get(owner);
    const by = live === undefined ? 'a deleted VaultKey' : ownerName(live, ns);
    return `Secret ${ns}/${name} is the token Secret of ${by} (its ownerReference): ${never}`;
  }
  const field = key.spec.upstreamSecretRef.key;
  const keptBy = inputs.upstreamUse.tokenKeptBy(ns, name, field, (f) =>
    keepsAToken(inputs, ns, name, f, field === undefined ? TWILIO_CREDENTIAL_FIELDS.has(f) : f === field),
  );
  if (keptBy !== undefined)
    return `Secret ${ns}/${name}${field === undefined ? '' : `, field "${field}",`} is the tokenSecretRef of VaultKey ${ns}/${keptBy}: ${never}`;
  return undefined;
}

/**
 * Whether field `f` of the upstream Secret ns/name, which some key names as its token field, keeps a
 * token the key reading that Secret as its upstream must not send (`read`: this key reads `f`).
 * Eleventh round (LOW): a neighbour naming a Twilio key's upstream Secret, field "nothere", as its
 * tokenSecretRef took that key down (any field counts for Twilio), though the neighbour itself is
 * refused TokenInvalid and nothing is ever minted into that field nor served from it. So a field
 * whose keepers are all refused for what the Secret holds (the same rules as compileKey: a field
 * besides the tokens, or a value no token can be) keeps nothing, unless this key would read from it
 * a value a token may be: a dormant token (its key refused today) is still never sent upstream.
 */
function keepsAToken(inputs: KeyInputs, ns: string, name: string, f: string, read: boolean): boolean {
  const secret = inputs.secrets.get(ns, name);
  if (secret === undefined) return true;
  const value = secretValue(secret, f)?.trim();
  const keptHere = (g: string) => inputs.upstreamUse.tokenKeptBy(ns, name, g) !== undefined;
  const refused =
    (value !== undefined && value !== '' && !isAcceptableToken(value)) ||
    holdsMoreThan(secret, (g, v) => g === f || (keptHere(g) && isAcceptableToken(v)));
  if (!refused) return true;
  return read && value !== undefined && value !== '' && isAcceptableToken(value);
}

/** A VaultKey's status with its Ready condition as of `now`. */
export function keyStatus(
  key: VaultKey,
  ok: boolean,
  reason: KeyReason,
  message: string,
  now: number,
  extra: Partial<ObjectStatus> = {},
): ObjectStatus {
  return { ...objectStatus('VaultKey', key, ok, reason, message, now), served: false, ...extra };
}

/** Statuses in the order of a CompileResult: by kind, namespace, name. */
export function statusOrder(a: ObjectStatus, b: ObjectStatus): number {
  return cmp(a.kind, b.kind) || order(a, b);
}

/**
 * The status of a key in the table: Expired and Suspended always (they are not Ready), Active only
 * when `ready` statuses are asked for.
 */
export function servedStatus(
  key: VaultKey,
  k: CompiledKey,
  now: number,
  ready: boolean,
): ObjectStatus | undefined {
  const expired = k.expiresAt !== undefined && k.expiresAt <= now;
  if (!expired && !k.suspended && !ready) return undefined;
  const served = { tokenFingerprint: k.tokenFingerprint, ...capOf(k.policy), served: true };
  if (expired) {
    const at = new Date(k.expiresAt).toISOString();
    const why =
      key.spec.expiresAt !== undefined && Date.parse(key.spec.expiresAt) === k.expiresAt
        ? ''
        : " (the SpendPolicy's expiresAt)";
    return keyStatus(
      key,
      false,
      'Expired',
      `The key expired at ${at}${why}; calls answer key_expired.`,
      now,
      served,
    );
  }
  if (k.suspended)
    return keyStatus(
      key,
      false,
      'Suspended',
      'The key is suspended; calls answer key_suspended.',
      now,
      served,
    );
  return keyStatus(key, true, 'Active', `Served with SpendPolicy ${k.policy.ref}.`, now, served);
}

/** The candidates of each shared digest, in the order of the set's keys (the messages name them so). */
function sharingKeys(
  shared: ReadonlySet<string>,
  candidates: readonly Candidate[],
  keys: readonly VaultKey[],
): Map<string, Candidate[]> {
  const position = new Map(keys.map((k, i) => [k, i]));
  const out = new Map<string, Candidate[]>();
  for (const c of candidates) {
    if (!shared.has(c.digest)) continue;
    const list = out.get(c.digest);
    if (list) list.push(c);
    else out.set(c.digest, [c]);
  }
  for (const list of out.values()) list.sort((a, b) => position.get(a.key)! - position.get(b.key)!);
  return out;
}

/**
 * TokenConflict's message: the keys of the key's own namespace by name, the others only counted. A
 * status is read by its namespace's tenant, who may have set the token to learn whether some other
 * tenant uses it; the names of other namespaces' keys are not theirs to read.
 */
function tokenConflictMessage(namespace: string, others: readonly CompiledKey[]): string {
  const here = others.filter((o) => o.namespace === namespace).map((o) => `${o.namespace}/${o.name}`);
  const elsewhere = others.length - here.length;
  const named = [
    ...(here.length > 0 ? [`VaultKey ${here.join(', ')}`] : []),
    ...(elsewhere > 0 ? [`${elsewhere} VaultKey${elsewhere > 1 ? 's' : ''} in other namespaces`] : []),
  ];
  return `The same token is used by ${named.join(', ')}; none of them is served.`;
}

/**
 * The live key that owns a token Secret, as a status of namespace `ns` may name it: a tenant who
 * points their Secret's ownerReference at a uid they learnt must not read which key of another
 * namespace has it (as tokenConflictMessage).
 */
function ownerName(owner: LiveKey, ns: string): string {
  return owner.namespace === ns ? `VaultKey ${ns}/${owner.name}` : 'a VaultKey in another namespace';
}

const caps = new WeakMap<CompiledPolicy, { capPerDayUsd?: string }>();

/** The `capPerDayUsd` a key's status shows, formatted once per policy. */
function capOf(policy: CompiledPolicy): { capPerDayUsd?: string } {
  let cap = caps.get(policy);
  if (!cap) {
    const perDay = policy.limits.perDayMicros;
    cap = perDay === undefined ? {} : { capPerDayUsd: formatUsd(perDay) };
    caps.set(policy, cap);
  }
  return cap;
}

function compiledPolicy(p: SpendPolicy): PolicyOutcome {
  try {
    return { ok: true, ...compilePolicy(p) };
  } catch (err) {
    return { ok: false, message: err instanceof Error ? err.message : 'the policy could not be compiled' };
  }
}

/** A token Secret's field → the token's digest and fingerprint, or why it cannot be served. */
function readToken(secret: Secret, tokenRef: string, field: string, prefix: string): TokenRead {
  const token = secretValue(secret, field)?.trim();
  if (!token)
    return {
      ok: false,
      reason: 'TokenSecretMissing',
      message: `Secret ${tokenRef} has no non-empty field "${field}".`,
    };
  if (!isAcceptableToken(token, prefix)) {
    const message = hasValidChecksum(token)
      ? `The token in Secret ${tokenRef} was minted with the prefix "${tokenPrefixPart(token)}", not this key's "${prefix}": a vault token carries its key's prefix so secret scanners recognise it (keybrake token new --prefix ${prefix} mints one; so does the operator, into a token Secret that does not exist).`
      : looksLikeKeybrakeToken(token, prefix)
        ? `The token in Secret ${tokenRef} has a Keybrake prefix but a wrong checksum (truncated or mistyped?).`
        : hasVendorKeyPrefix(token)
          ? `The token in Secret ${tokenRef} looks like a Stripe or Resend secret key: a vault token is never a real key (is tokenSecretRef pointing at an upstream Secret?).`
          : `The token in Secret ${tokenRef} is neither a Keybrake token (checksum) nor ${MIN_FOREIGN_TOKEN_LENGTH}+ printable characters without spaces.`;
    return { ok: false, reason: 'TokenInvalid', message };
  }
  return { ok: true, token, digest: tokenDigest(token), fingerprint: fingerprint(token) };
}

/**
 * A token the proxy can safely look up: a checksummed Keybrake token, or a long printable one that
 * does not pretend to be ours (a `kb_…` token with a bad checksum is a typo that would only ever
 * answer key_unknown, so it is refused up front). Given a key's prefix, a Keybrake token must have
 * been minted with it: scanners tell a vault token's vendor by its prefix (DESIGN.md §2), and a
 * contract probe (fifth round) had a Stripe key serve a `kb_twilio_` token, and a `myco_` key a
 * `kb_stripe_` one. Without one (the operator's revocations) any Keybrake token is one.
 */
export function isAcceptableToken(token: string, prefix?: string): boolean {
  if (hasValidChecksum(token)) return prefix === undefined || tokenPrefixPart(token) === prefix;
  // A brought token shaped like a Stripe or Resend key is a real key put where a vault token belongs
  // (a checksummed Keybrake token with such a tokenPrefix is accepted above).
  if (looksLikeKeybrakeToken(token, prefix ?? 'kb_') || hasVendorKeyPrefix(token)) return false;
  return token.length >= MIN_FOREIGN_TOKEN_LENGTH && /^[\x21-\x7e]+$/.test(token);
}

/** Whether a token is the upstream credential's secret part (a bearer token, a Basic password). */
/**
 * Whether `secret` holds a non-empty field that is not a token (`isToken`: this key's field, or one
 * another key keeps its token in). A Secret that another key names as its upstream holds a real key
 * only then: one holding nothing but tokens is refused to that other key instead (its upstream
 * credential would be a token: tokenSecretProblem), so a neighbour naming a token Secret as its
 * upstream takes no key down. Every key's token field, not only this key's (tenth round, probe: two
 * keys keeping their tokens in one Secret were both refused once a neighbour named it), as
 * UpstreamSecretUse.holdsValue leaves out; but another key's only while its value could be a token,
 * so a key pointing its tokenSecretRef at a real key's field (`sk_…`) does not make it one.
 */
function holdsMoreThan(secret: Secret, isToken: (field: string, value: string) => boolean): boolean {
  for (const f of Object.keys({ ...secret.data, ...secret.stringData })) {
    const value = secretValue(secret, f)?.trim();
    if (value && !isToken(f, value)) return true;
  }
  return false;
}

function isUpstreamSecret(token: string, credential: UpstreamCredential): boolean {
  return token === (credential.kind === 'bearer' ? credential.token : credential.password);
}

function looksLikeKeybrakeToken(token: string, prefix: string): boolean {
  return token.startsWith('kb_') || token.startsWith(prefix);
}

function uidOf(o: { metadata: { uid?: string; namespace?: string; name: string } }): string {
  return o.metadata.uid ?? `${o.metadata.namespace}/${o.metadata.name}`;
}

function earliest(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}

function order(a: { namespace: string; name: string }, b: { namespace: string; name: string }): number {
  return cmp(a.namespace, b.namespace) || cmp(a.name, b.name);
}

// Code-unit order, not locale order: golden files and status lists must not depend on the host.
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function policyStatus(
  p: SpendPolicy,
  ok: boolean,
  reason: PolicyReason,
  message: string,
  now: number,
): ObjectStatus {
  return objectStatus('SpendPolicy', p, ok, reason, message, now);
}

/** The status of an object of ours with its Ready condition as of `now`. */
function objectStatus(
  kind: ObjectStatus['kind'],
  o: VaultKey | SpendPolicy,
  ok: boolean,
  reason: KeyReason | PolicyReason,
  message: string,
  now: number,
): ObjectStatus {
  const { metadata } = o;
  return {
    kind,
    namespace: metadata.namespace!,
    name: metadata.name,
    uid: uidOf(o),
    ...(metadata.generation !== undefined && { generation: metadata.generation }),
    conditions: [readyCondition(ok, reason, message, { generation: metadata.generation, now })],
  };
}

function rejectedMessage(r: RejectedObject): string {
  return r.errors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join('; ');
}
