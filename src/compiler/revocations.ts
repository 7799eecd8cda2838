import { ByNamespace } from '../api/by-namespace.ts';
import type { ResourceSet, ResourceSetUpdate } from '../api/resource-set.ts';
import type { VaultKey } from '../api/v1alpha1/index.ts';

/** What a refused change revokes anyway: the set in force with only that applied, and what it was. */
export interface Revocations {
  readonly set: ResourceSet;
  /** One line per change, e.g. `VaultKey agents/bot deleted`, `VaultKey agents/bot suspended`. */
  readonly revoked: readonly string[];
}

/**
 * The removals and suspensions of a change refused for its errors (runner, ADR 0015): the set in
 * force, less every VaultKey, SpendPolicy and Secret the change no longer holds, with every VaultKey
 * it holds suspended suspended. Removing or suspending can only refuse more, so an error in one
 * tenant's file must not keep another's deleted key served. A resource whose own file the change
 * read with an error keeps its version in force: a typo must not take a file's keys down. Every
 * other difference (new keys, edited limits, a key no longer suspended) waits for a change without
 * errors. Undefined when there is nothing to revoke, or when either update does not say where its
 * resources came from (only the file source does).
 */
export function revocationsOf(inForce: ResourceSetUpdate, next: ResourceSetUpdate): Revocations | undefined {
  const was = inForce.origin;
  const now = next.origin;
  if (!was || !now) return undefined;
  const revoked: string[] = [];
  /** The resources in force the change no longer holds, except those of files it read with an error. */
  const kept = <T extends { metadata: { namespace?: string; name: string } }>(
    kind: 'VaultKey' | 'SpendPolicy' | 'Secret',
    before: readonly T[],
    after: readonly T[],
  ): T[] => {
    const held = new ByNamespace<T>();
    for (const r of after) held.set(r.metadata.namespace!, r.metadata.name, r);
    const out: T[] = [];
    for (const r of before) {
      const { namespace, name } = r.metadata;
      if (held.get(namespace!, name) !== undefined) out.push(r);
      else {
        const file = was.fileOf(kind, namespace!, name);
        if (file !== undefined && now.failed(file)) out.push(r);
        else revoked.push(`${kind} ${namespace}/${name} deleted`);
      }
    }
    return out;
  };
  const policies = kept('SpendPolicy', inForce.set.policies, next.set.policies);
  const secrets = kept('Secret', inForce.set.secrets, next.set.secrets);
  const suspended = new ByNamespace<true>();
  for (const k of next.set.keys)
    if (k.spec.suspended) suspended.set(k.metadata.namespace!, k.metadata.name, true);
  const keys = kept('VaultKey', inForce.set.keys, next.set.keys).map((k): VaultKey => {
    const { namespace, name } = k.metadata;
    if (k.spec.suspended || !suspended.get(namespace!, name)) return k;
    revoked.push(`VaultKey ${namespace}/${name} suspended`);
    return { ...k, spec: { ...k.spec, suspended: true } };
  });
  if (revoked.length === 0) return undefined;
  return { set: { policies, keys, secrets, rejected: inForce.set.rejected }, revoked };
}
