import { LayeredMap } from './layered-map.ts';
import { runKeyId, runKeysOf, setRunKeyIndex } from './run-keys.ts';
import { rememberDelta } from './serialize.ts';
import type { CompiledKey, Snapshot } from './types.ts';

/**
 * `snapshot` without the keys of `remove` (token digests), as a new snapshot of `version`: the
 * revocation fast path (ADR 0014). A deleted VaultKey leaves the table at once, without waiting for
 * the whole table to be compiled again: removing a key can only ever refuse more, never serve
 * anything new. The delta to `snapshot` is recorded, so distribution ships it without a diff; the
 * run-key index follows from the previous one. Both are layered over the previous ones (LayeredMap):
 * the cost is that of the removed keys, not of the table.
 * Answers undefined when none of `remove` is in the table.
 */
export function withoutKeys(
  snapshot: Snapshot,
  remove: ReadonlySet<string>,
  next: { readonly version: number; readonly compiledAt: number },
): Snapshot | undefined {
  const removed = new Map<string, CompiledKey>();
  for (const digest of remove) {
    const key = snapshot.keys.get(digest);
    if (key) removed.set(digest, key);
  }
  if (removed.size === 0) return undefined;
  // Layered over the table in force (never mutated, only replaced): O(removed), not a copy.
  const keys = LayeredMap.from(snapshot.keys).with([], removed.keys());
  const result: Snapshot = { version: next.version, compiledAt: next.compiledAt, keys };

  const before = runKeysOf(snapshot);
  const gone: string[] = [];
  for (const [digest, key] of removed) {
    const id = runKeyId(digest);
    if (before.get(id) === key) gone.push(id);
  }
  setRunKeyIndex(result, LayeredMap.from(before).with([], gone));

  // A policy no remaining key names goes too (the first key naming it ends the search).
  const removePolicies = new Set<string>();
  for (const ref of new Set([...removed.values()].map((k) => k.policy.ref))) {
    let named = false;
    for (const k of keys.values())
      if (k.policy.ref === ref) {
        named = true;
        break;
      }
    if (!named) removePolicies.add(ref);
  }
  rememberDelta(result, {
    from: snapshot.version,
    to: result.version,
    compiledAt: result.compiledAt,
    policies: new Map(),
    upsert: new Map(),
    remove: new Set(removed.keys()),
    removePolicies,
  });
  return result;
}
