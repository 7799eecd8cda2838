import type { ObjectStatus } from '../compiler/compile.ts';
import { readyCondition } from '../compiler/conditions.ts';
import type { KubeObject } from '../sources/kubernetes/reflector.ts';

/** A VaultKey or SpendPolicy marked for deletion that a finalizer still holds (KubernetesSource.terminating). */
export interface TerminatingObject {
  readonly kind: 'VaultKey' | 'SpendPolicy';
  readonly object: KubeObject;
}

/**
 * The status of each object marked for deletion: Ready=False, reason `Deleting`. Such an object is
 * gone from the moment it is marked (the reflector drops it: a finalizer may hold it for as long as
 * it likes, and `kubectl delete vaultkey` revokes now), so the compiler never sees it again and its
 * last status stood: a revoked key kept `Ready=True / Active` while its finalizer held it
 * (sixteenth round). The object can still be patched while it is held, and this is what it should
 * show; the status writer writes it once (nothing when the object already shows it).
 * `inScope`: the namespaces whose statuses this release writes (its claims).
 */
export function deletingStatuses(
  objects: Iterable<TerminatingObject>,
  inScope: (namespace: string) => boolean,
  now: number,
): ObjectStatus[] {
  const out: ObjectStatus[] = [];
  for (const { kind, object } of objects) {
    const m = object.metadata ?? {};
    if (m.name === undefined || m.namespace === undefined || !inScope(m.namespace)) continue;
    const generation = m.generation;
    const message =
      kind === 'VaultKey'
        ? 'The VaultKey is being deleted (marked for deletion; a finalizer holds it): it is not served, and the token it was served with is revoked for good.'
        : 'The SpendPolicy is being deleted (marked for deletion; a finalizer holds it): no key is served under it (its keys are PolicyNotFound).';
    out.push({
      kind,
      namespace: m.namespace,
      name: m.name,
      uid: m.uid ?? `${m.namespace}/${m.name}`,
      ...(generation !== undefined && { generation }),
      conditions: [
        readyCondition(false, 'Deleting', message, { ...(generation !== undefined && { generation }), now }),
      ],
      ...(kind === 'VaultKey' && { served: false }),
    });
  }
  return out;
}
