import type { VaultKey } from '../api/v1alpha1/index.ts';
import type { ObjectStatus } from '../compiler/compile.ts';
import { ownerLabel } from './revoke-on-delete.ts';
import type { OwnerReference } from './tokens.ts';

/**
 * Keys that waited on another key's token Secret (sixteenth round, ADR 0009). A copied VaultKey
 * manifest that kept the original's `tokenSecretRef` is `TokenConflict` while the original lives.
 * When the original is deleted, its Secret is the revoked agent's credential source (its Deployment
 * reads it by name), and the waiting key must never get a token there: not by taking the stale Secret
 * over (tokens.ts refuses any key of another name, statelessly), and not once the garbage collector
 * has deleted it either (the key is then `TokenSecretMissing`, and the operator would create a Secret
 * of that name for it). The second needs memory: which keys were held back by a Secret another
 * VaultKey owned, and whose. Kept per key uid, in each replica's memory, from every compile's
 * statuses; a key forgets it when deleted, served, or pointed at another Secret. Lost at an operator
 * restart (docs/kubernetes.md states the limit).
 */
export interface WaitingKeys {
  /** Notes the keys one compile holds back with TokenConflict because another VaultKey owns their Secret. */
  observe(statuses: readonly ObjectStatus[], keys: readonly VaultKey[]): void;
  /** Why the operator mints nothing into `key`'s Secret: it waited on that Secret while another key owned it. */
  barred(key: VaultKey): string | undefined;
  /** A deleted key. */
  forget(uid: string): void;
  /** How many keys are remembered (tests, and a bound on the memory: one entry per waiting live key). */
  readonly size: number;
}

export interface WaitingKeysDeps {
  /** The controlling VaultKey ownerReference of Secret namespace/name (the informer cache). */
  ownerOf(namespace: string, name: string): (OwnerReference & { readonly uid: string }) | undefined;
}

interface Waited {
  /** The Secret's name (its namespace is the key's). */
  readonly secret: string;
  /** The owner as a status message names it (ownerLabel). */
  readonly owner: string;
}

export function createWaitingKeys(deps: WaitingKeysDeps): WaitingKeys {
  const waited = new Map<string, Waited>();
  return {
    observe(statuses, keys) {
      // Built on the first TokenConflict: a search of `keys` per status would be quadratic.
      let byRef: Map<string, VaultKey> | undefined;
      for (const s of statuses) {
        if (s.kind !== 'VaultKey') continue;
        // A served key holds a token of its own: a later TokenSecretMissing is its own Secret gone.
        if (s.served === true) {
          if (waited.size > 0) waited.delete(s.uid);
          continue;
        }
        if (s.conditions[0]?.reason !== 'TokenConflict') continue;
        byRef ??= new Map(keys.map((k) => [`${k.metadata.namespace}/${k.metadata.name}`, k]));
        const key = byRef.get(`${s.namespace}/${s.name}`);
        if (key === undefined || key.metadata.uid !== s.uid) continue;
        const secret = key.spec.tokenSecretRef.name;
        const owner = deps.ownerOf(s.namespace, secret);
        // Two keys reading one token from a Secret no VaultKey owns (a token you brought) wait on
        // nobody's agent: ADR 0009 decides which of them holds it.
        if (owner === undefined || owner.uid === s.uid || owner.name === s.name) continue;
        waited.set(s.uid, { secret, owner: ownerLabel(owner) });
      }
    },
    barred(key) {
      const uid = key.metadata.uid;
      const w = uid === undefined ? undefined : waited.get(uid);
      if (w === undefined) return undefined;
      const ns = key.metadata.namespace;
      if (w.secret !== key.spec.tokenSecretRef.name) {
        waited.delete(uid!);
        return undefined;
      }
      return `Secret ${ns}/${w.secret} was the token Secret of VaultKey ${ns}/${w.owner} while this key named it (TokenConflict), and the operator never mints a token into it for this key, not after that key is deleted nor once the Secret is gone: whatever reads that Secret (the agent of the key it belonged to, revoked with it) would hold a working token under this key's policy. Point tokenSecretRef at a Secret of this key's own; to give this key that Secret on purpose, delete the Secret if it is still there, then delete and re-create this key.`;
    },
    forget(uid) {
      waited.delete(uid);
    },
    get size() {
      return waited.size;
    },
  };
}
