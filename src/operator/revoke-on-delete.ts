import { ByNamespace } from '../api/by-namespace.ts';
import type { ResourceSet } from '../api/resource-set.ts';
import { type Secret, secretValue, type VaultKey } from '../api/v1alpha1/index.ts';
import { isAcceptableToken } from '../compiler/compile.ts';
import { ObjectMemo } from '../memo.ts';
import type { KubernetesSourceUpdate } from '../sources/kubernetes/source.ts';
import { tokenDigest } from '../tokens/token.ts';
import type { RevocationEntry } from './revocations.ts';
import type { OwnerReference } from './tokens.ts';

/**
 * What a change revokes (ADR 0009), worked out before the change is compiled: the token of every
 * deleted VaultKey, and every token in a Secret owned by a VaultKey that no longer exists (deleted
 * while no operator was watching, or not yet garbage-collected). Only the ledger remembers a token
 * you brought yourself once its key is gone, so this tracker keeps, per live key, the digest of the
 * token its Secret held at the last update.
 */
export interface RevokeOnDelete {
  /** The revocations `update` brings, stamped `at` (epoch ms). */
  revokedBy(update: KubernetesSourceUpdate, at: number): RevocationEntry[];
  /** Remembers the token of every key of the set now in force (call after compiling it). */
  remember(set: ResourceSet): void;
  /** The token the VaultKey `uid` held at the last update (what deleting it revokes), if any. */
  tokenOf(uid: string): RevocationEntry | undefined;
}

/** `ownerOf`: the VaultKey owning Secret namespace/name (its controlling ownerReference), if any. */
export function createRevokeOnDelete(
  ownerOf: (namespace: string, name: string) => OwnerReference | undefined,
): RevokeOnDelete {
  /** uid → the digest of the token its Secret held, as of the last update. */
  let tokenOf = new Map<string, RevocationEntry>();
  // Digests by Secret object and field: an unchanged Secret stays the same object (ValidationCache).
  const digests = new ObjectMemo<Secret, Map<string, string | null>>('token digests');
  // Per VaultKey object: its token Secret when last remembered, and the entry made of it.
  const entries = new ObjectMemo<VaultKey, { secret: Secret; entry: RevocationEntry | undefined }>(
    'revocation entry',
  );
  const digestOf = (secret: Secret, field: string): string | null => {
    let byField = digests.get(secret);
    if (!byField) {
      byField = new Map();
      digests.set(secret, byField);
    }
    let digest = byField.get(field);
    if (digest === undefined) {
      const token = secretValue(secret, field)?.trim();
      digest = token ? tokenDigest(token) : null;
      byField.set(field, digest);
    }
    return digest;
  };

  return {
    revokedBy(update, at) {
      const out: RevocationEntry[] = [];
      for (const d of update.deleted) {
        const t = d.kind === 'VaultKey' && d.uid !== undefined ? tokenOf.get(d.uid) : undefined;
        if (t) out.push({ ...t, at });
      }
      const live = new Set<string>();
      for (const k of update.set.keys) if (k.metadata.uid !== undefined) live.add(k.metadata.uid);
      for (const r of update.set.rejected) if (r.kind === 'VaultKey' && r.uid !== undefined) live.add(r.uid);
      for (const secret of update.set.secrets) {
        const ns = secret.metadata.namespace!;
        const owner = ownerOf(ns, secret.metadata.name);
        if (owner?.uid === undefined || live.has(owner.uid)) continue;
        for (const field of Object.keys({ ...secret.data, ...secret.stringData })) {
          const token = secretValue(secret, field)?.trim();
          if (token && isAcceptableToken(token))
            out.push({ digest: tokenDigest(token), vaultKey: `${ns}/${owner.name ?? owner.uid}`, at });
        }
      }
      return out;
    },
    remember(set) {
      const next = new Map<string, RevocationEntry>();
      const secrets = new ByNamespace<Secret>();
      for (const s of set.secrets) secrets.set(s.metadata.namespace!, s.metadata.name, s);
      for (const k of set.keys) {
        const secret = secrets.get(k.metadata.namespace!, k.spec.tokenSecretRef.name);
        if (k.metadata.uid === undefined || !secret) continue;
        // An unchanged key (the same object, ValidationCache) with the same Secret holds the same token.
        const known = entries.get(k);
        if (known?.secret === secret) {
          if (known.entry) next.set(k.metadata.uid, known.entry);
          continue;
        }
        const digest = digestOf(secret, k.spec.tokenSecretRef.key);
        const entry = digest
          ? { digest, vaultKey: `${k.metadata.namespace}/${k.metadata.name}`, at: 0 }
          : undefined;
        entries.set(k, { secret, entry });
        if (entry) next.set(k.metadata.uid, entry);
      }
      tokenOf = next;
    },
    tokenOf(uid) {
      return tokenOf.get(uid);
    },
  };
}
