import { ByNamespace } from '../api/by-namespace.ts';
import type { ResourceSet } from '../api/resource-set.ts';
import type { Secret, VaultKey } from '../api/v1alpha1/index.ts';
import { sameItems, sameJson } from '../equality.ts';
import { LayeredMap } from '../snapshot/layered-map.ts';
import { keyWireText, rememberDelta } from '../snapshot/serialize.ts';
import type { CompiledKey, CompiledPolicy, Snapshot } from '../snapshot/types.ts';
import { hasValidChecksum } from '../tokens/token.ts';
import {
  type CompileOptions,
  type CompileResult,
  compileKey,
  keyStatus,
  leavePatchState,
  type ObjectStatus,
  patchable,
  policyStatus,
  servedStatus,
  statusOrder,
  takePatchState,
} from './compile.ts';

/**
 * A table takes changes as an overlay on its base (LayeredMap) until they outnumber this share of
 * it (1/8), then a whole compile writes a fresh one: lookups stay one Map deep in the common case.
 */
const OVERLAY_SHIFT = 3;
const MIN_OVERLAY = 4_096;

/**
 * `set` compiled as changes to `previous` (ADR 0018): the answer `compile(set, opts)` gives, table
 * and statuses, for work in proportion to what changed rather than to the table. `serve` reloads
 * a 100 000-key table for a one-file edit; a whole compile walks every key, rebuilds every index and
 * the table, and leaves the collector 20 MB to sweep, on two cores shared with the calls it serves.
 *
 * What changed is found by identity, as the CompileCache reuses work: the file source keeps the
 * objects of every file it did not read again, in the same order, so the keys and Secrets that
 * changed are one run in the middle of each list. The keys in that run are compiled again, and so
 * is any other key naming a Secret of the changed run. The new table is layered over the previous
 * one, and the delta between them is recorded, so distribution ships it without a diff.
 *
 * Answers undefined, and a whole compile must be made, when `previous` left no PatchState (a
 * compile that was not patchable, or one already patched), when the options are not those of a
 * patchable compile, when a policy changed (a policy reaches every key that names it), when a
 * token is shared by two keys (whose statuses name each other), or when the changes are too many
 * for an overlay.
 */
export function patchCompile(
  previous: Snapshot,
  set: ResourceSet,
  opts: CompileOptions,
): CompileResult | undefined {
  const state = takePatchState(previous);
  if (!state || !patchable(set, opts)) return undefined;
  const { inputs, failures, notable, servedPerPolicy } = state;
  const cache = inputs.cache;
  if (!cache || opts.cache !== cache || (opts.runSecrets !== false) !== inputs.withRunSecret)
    return undefined;
  if (!sameItems(state.set.policies, set.policies)) return undefined;
  const table = LayeredMap.from(previous.keys);
  const budget = Math.max(MIN_OVERLAY, table.size >> OVERLAY_SHIFT) - table.overlaySize;
  const keys = changedRun(state.set.keys, set.keys);
  const secrets = changedRun(state.set.secrets, set.secrets);
  if (keys.removed.length + keys.added.length + secrets.removed.length + secrets.added.length > budget)
    return undefined;

  // From here on the state is changed in place: a return of undefined leaves it half patched, which
  // is why it was taken (a whole compile builds its own).
  //
  // An edited file is read again whole: its documents are new objects, nearly all with the content
  // they had. A Secret whose content is the same stays in the index as the object the keys were
  // compiled against (its new object stands for it from now on), so no key naming it is compiled
  // again; a key whose content is the same takes the work of the one it replaces (its memo).
  const { standIns } = state;
  const inForce = (s: Secret) => standIns.get(s) ?? s;
  const replacedSecrets = new ByNamespace<Secret>();
  for (const s of secrets.removed) replacedSecrets.set(s.metadata.namespace!, s.metadata.name, s);
  const unchanged = new Set<Secret>();
  for (const s of secrets.added) {
    const before = replacedSecrets.get(s.metadata.namespace!, s.metadata.name);
    if (before === undefined || !sameSecretContent(before, s)) continue;
    standIns.set(s, inForce(before));
    unchanged.add(before).add(s);
  }
  const changedSecrets = new ByNamespace<true>();
  let secretsChanged = 0;
  for (const s of secrets.removed) {
    if (unchanged.has(s)) continue;
    const { namespace, name } = s.metadata;
    // A Secret the index does not hold as this object: a set the state cannot account for.
    if (inputs.secrets.get(namespace!, name) !== inForce(s)) return undefined;
    inputs.secrets.delete(namespace!, name);
    changedSecrets.set(namespace!, name, true);
    secretsChanged++;
  }
  for (const s of secrets.added) {
    if (unchanged.has(s)) continue;
    const { namespace, name } = s.metadata;
    if (inputs.secrets.get(namespace!, name) !== undefined) return undefined; // a duplicate
    inputs.secrets.set(namespace!, name, s);
    changedSecrets.set(namespace!, name, true);
    secretsChanged++;
  }
  const replacedKeys = new ByNamespace<VaultKey>();
  for (const k of keys.removed) replacedKeys.set(k.metadata.namespace!, k.metadata.name, k);
  for (const k of keys.added) {
    const before = replacedKeys.get(k.metadata.namespace!, k.metadata.name);
    const memo = before && cache.keys.get(before);
    if (memo && sameJson(before.metadata, k.metadata) && sameJson(before.spec, k.spec))
      cache.keys.set(k, memo);
  }
  // A changed key naming an upstream Secret as its token Secret changes the keys naming that upstream.
  // Namespaces whose upstream Secrets, or what they hold, changed: a token brought there may now be
  // (or no longer be) a value of one (compileKey's holdsValue), so those keys are compiled again.
  const upstreamsChanged = new Set<string>();
  if (!inputs.upstreamUse.patch(keys.removed, keys.added, set.keys, upstreamsChanged)) return undefined;
  for (const s of [...secrets.removed, ...secrets.added]) {
    const { namespace, name } = s.metadata;
    if (unchanged.has(s) || !inputs.upstreamUse.isUpstream(namespace!, name)) continue;
    inputs.upstreamUse.forgetValues(namespace!);
    upstreamsChanged.add(namespace!);
  }
  const brought = (k: VaultKey) => {
    if (!upstreamsChanged.has(k.metadata.namespace!)) return false;
    if (failures.get(k)?.reason === 'TokenInvalid') return true;
    const token = cache.keys.get(k)?.token;
    return token?.ok === true && !hasValidChecksum(token.token);
  };
  // Keys outside the changed run whose Secret is one of the changed ones.
  const affected: VaultKey[] = [];
  if (secretsChanged > 0 || upstreamsChanged.size > 0) {
    const names = (k: VaultKey) =>
      changedSecrets.get(k.metadata.namespace!, k.spec.upstreamSecretRef.name) ??
      changedSecrets.get(k.metadata.namespace!, k.spec.tokenSecretRef.name) ??
      brought(k);
    for (let i = 0; i < keys.start; i++) if (names(set.keys[i]!)) affected.push(set.keys[i]!);
    for (let i = keys.stop; i < set.keys.length; i++) if (names(set.keys[i]!)) affected.push(set.keys[i]!);
    // A Secret most keys name (the upstream credential, rotated): a whole compile, not a patch of all.
    if (affected.length + keys.removed.length + keys.added.length > budget) return undefined;
  }

  /** Digest → the key now served under it (undefined: none), where it differs from `table`. */
  const changes = new Map<string, CompiledKey | undefined>();
  const servedUnder = (digest: string) => (changes.has(digest) ? changes.get(digest) : table.get(digest));
  /** Policies whose count of served keys changed, with the count before and the policy. */
  const counted = new Map<string, { before: number; policy: CompiledPolicy }>();
  const count = (policy: CompiledPolicy, by: number) => {
    const before = servedPerPolicy.get(policy.ref) ?? 0;
    if (!counted.has(policy.ref)) counted.set(policy.ref, { before, policy });
    if (before + by === 0) servedPerPolicy.delete(policy.ref);
    else servedPerPolicy.set(policy.ref, before + by);
  };
  /** Takes a key of the previous set out: its failure, or its place in the table. */
  const retire = (key: VaultKey): boolean => {
    if (failures.delete(key)) return true;
    // A served key's memo is the one it was served with (compileKey sets it with every new key).
    const memo = cache.keys.get(key);
    if (!memo?.token.ok || servedUnder(memo.token.digest) === undefined) return false;
    changes.set(memo.token.digest, undefined);
    notable.delete(key);
    count(memo.compiled.policy, -1);
    return true;
  };
  /** Compiles a key of the new set into the table, or into the failures. */
  const admit = (key: VaultKey): boolean => {
    const verdict = compileKey(key, inputs);
    if (!verdict.ok) {
      failures.set(key, verdict);
      return true;
    }
    // A token another key is served with: both must be refused, naming each other.
    if (servedUnder(verdict.digest) !== undefined) return false;
    const before = table.get(verdict.digest);
    // A key read again from an edited file compiles to a new object with the same text: the table
    // keeps the one it has, and the delta carries only what a proxy must change.
    const same =
      before === verdict.compiled ||
      (before !== undefined && keyWireText(before, false) === keyWireText(verdict.compiled, false));
    changes.set(verdict.digest, same ? before : verdict.compiled);
    if (verdict.compiled.expiresAt !== undefined || verdict.compiled.suspended) notable.add(key);
    count(verdict.compiled.policy, 1);
    return true;
  };
  for (const k of keys.removed) if (!retire(k)) return undefined;
  for (const k of affected) if (!retire(k)) return undefined;
  for (const k of keys.added) if (!admit(k)) return undefined;
  for (const k of affected) if (!admit(k)) return undefined;

  const upsert = new Map<string, CompiledKey>();
  const remove = new Set<string>();
  for (const [digest, key] of changes) {
    const before = table.get(digest);
    if (key === undefined) {
      if (before !== undefined) remove.add(digest);
    } else if (key !== before) upsert.set(digest, key);
  }
  if (upsert.size + remove.size > budget) return undefined;
  const policies = new Map<string, CompiledPolicy>();
  const removePolicies = new Set<string>();
  for (const [ref, { before, policy }] of counted) {
    const now = servedPerPolicy.get(ref) ?? 0;
    if (before === 0 && now > 0) policies.set(ref, policy);
    else if (before > 0 && now === 0) removePolicies.add(ref);
  }

  const now = opts.clock.now();
  const snapshot: Snapshot = { version: opts.version, compiledAt: now, keys: table.with(upsert, remove) };
  rememberDelta(snapshot, {
    from: previous.version,
    to: snapshot.version,
    compiledAt: now,
    policies,
    upsert,
    remove,
    removePolicies,
  });
  leavePatchState(snapshot, { set, inputs, failures, notable, servedPerPolicy, standIns });

  // The statuses of a compile that makes none for Ready objects: invalid policies, keys not served,
  // and served keys that are expired or suspended, all as of now.
  const statuses: ObjectStatus[] = [];
  for (const p of set.policies) {
    const outcome = cache.policies.get(p);
    if (outcome && !outcome.ok) statuses.push(policyStatus(p, false, 'Invalid', outcome.message, now));
  }
  for (const [key, f] of failures) statuses.push(keyStatus(key, false, f.reason, f.message, now, f.extra));
  for (const key of notable) {
    const status = servedStatus(key, cache.keys.get(key)!.compiled, now, false);
    if (status) statuses.push(status);
  }
  statuses.sort(statusOrder);
  return { snapshot, statuses };
}

/** Whether a Secret read again reads as it did: what the compiler reads of it is the same. */
function sameSecretContent(a: Secret, b: Secret): boolean {
  return a.type === b.type && sameJson(a.data, b.data) && sameJson(a.stringData, b.stringData);
}

/**
 * Where `after` differs from `before`, as one run: the objects of `before` from the first
 * difference to the last (`removed`), those of `after` in their place (`added`), and the run's
 * bounds in `after` ([start, stop)). Everything outside the run is the same object at the same
 * place in both; an object inside it may be in both (it is then taken out and put back).
 */
export function changedRun<T>(
  before: readonly T[],
  after: readonly T[],
): { removed: readonly T[]; added: readonly T[]; start: number; stop: number } {
  const shorter = Math.min(before.length, after.length);
  let start = 0;
  while (start < shorter && before[start] === after[start]) start++;
  let tail = 0;
  while (tail < shorter - start && before[before.length - 1 - tail] === after[after.length - 1 - tail])
    tail++;
  return {
    removed: before.slice(start, before.length - tail),
    added: after.slice(start, after.length - tail),
    start,
    stop: after.length - tail,
  };
}
