import { ByNamespace } from '../api/by-namespace.ts';
import type { ResourceSet } from '../api/resource-set.ts';
import { DEFAULT_TOKEN_FIELD, type Secret, secretValue, type VaultKey } from '../api/v1alpha1/index.ts';
import { isAcceptableToken } from '../compiler/compile.ts';
import { ObjectMemo } from '../memo.ts';
import type { KubernetesSourceUpdate } from '../sources/kubernetes/source.ts';
import { tokenDigest } from '../tokens/token.ts';
import type { RevocationEntry } from './revocations.ts';
import { type OwnerReference, owningVaultKey } from './tokens.ts';

/**
 * What a change revokes (ADR 0009), worked out before the change is compiled: the token each deleted
 * VaultKey held, and the token left in a Secret whose owning VaultKey no longer exists (deleted while
 * no operator was watching, or not yet garbage-collected). Only the ledger remembers a token you
 * brought yourself once its key is gone, so this tracker keeps, per live key, the digest of the token
 * its Secret held at the last update.
 *
 * A key holds the token of its Secret only when that Secret is its own: controlled by it, or by no
 * live VaultKey of its namespace. A key pointing at another live key's Secret is refused
 * (TokenConflict) and deleting it revokes nothing, or anyone allowed to create VaultKeys could revoke
 * their neighbours' tokens. For the same reason, of several keys naming one Secret no live key
 * controls (a token Secret you brought has no owner) and reading one token from it, only one holds
 * it: the key served under it, else the earliest created (ties by name). Naming a Secret takes no
 * knowledge of what is in it. Two keys whose Secrets are separate objects holding the same value both
 * hold it: deleting either revokes it (fail closed; only someone who knows the token can set that up).
 *
 * A key also holds every token a proxy was served it under before and no longer is (tenth round): its
 * Secret lost the label or was deleted (and the operator minted a fresh one), its tokenSecretRef
 * was moved, the token was replaced by hand. Deleting the key revokes those too, so the same manifest
 * applied again (its Secret relabelled, or re-created from git) never serves them. Only tokens served
 * under the key's own uid count, so no key gains a token it never held (the rules above stand).
 * So do tokens a key held (by the rules above, read from the whole set, not one replica's table) and
 * no key holds any more, unless other keys read the same token from the same Secret: a standby's
 * table leaves out a namespace its release has not claimed yet, and after a leader change it must
 * still know what the old leader served there.
 * These are kept in memory until the key is deleted, at most MAX_SUPERSEDED a key: past that the
 * oldest is handed back to be recorded at once (fail closed: it is not served, and now never will be).
 *
 * A Secret whose owner is gone is read only where the owner's token can be: the field the owner
 * named when the operator last saw it, and the field the operator mints into by default, and only a
 * value shaped like a token the compiler would serve. A Secret anyone may create (any owner uid, any
 * number of fields) so adds at most two entries to the ledger, and each Secret object is read once.
 */
export interface RevokeOnDelete {
  /** The revocations `update` brings, stamped `at` (epoch ms). */
  revokedBy(update: KubernetesSourceUpdate, at: number): RevocationEntry[];
  /**
   * Remembers the token of every key of the set now in force (call after compiling it); `served`:
   * the keys of the snapshot in force by token digest. A token a live key held at the last update
   * and no key holds now is kept for that key's deletion too (whatever this replica's table served).
   * Answers the tokens past MAX_SUPERSEDED, to record now.
   */
  remember(set: ResourceSet, served: ReadonlyMap<string, ServedKey>): RevocationEntry[];
  /**
   * Follows the tables put in force (`served`, for the set `set`): a token the previous one served
   * for a live key and this one does not is kept for that key's deletion. Answers the tokens past
   * MAX_SUPERSEDED, to record now.
   */
  served(set: ResourceSet, served: ReadonlyMap<string, ServedKey>): RevocationEntry[];
  /** The token the VaultKey `uid` held at the last update (what the fast path revokes), if any. */
  tokenOf(uid: string): RevocationEntry | undefined;
  /** Whether deleting the VaultKey `uid` revokes anything: a token it holds, or one it was served under. */
  holdsAny(uid: string): boolean;
}

/** A key of the snapshot in force, as remember reads it (a CompiledKey is one). */
export interface ServedKey {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
}

/**
 * How many superseded tokens a key keeps in memory for its deletion. A key is re-minted or rotated a
 * handful of times in its life; a tenant rotating one in a loop gets its old tokens recorded at once.
 */
export const MAX_SUPERSEDED = 16;

/** The token a key held at the last update, and the Secret field it named. */
interface Held {
  readonly entry: RevocationEntry;
  readonly field: string;
}

/** What an orphaned Secret object revokes, for the owner and the owner's last known token it was read with. */
interface OrphanTokens {
  readonly owner: string;
  readonly known: Held | undefined;
  readonly entries: readonly RevocationEntry[];
}

/** What the API server has and a validated set does not carry (its objects keep no such metadata). */
export interface ClusterMetadata {
  /**
   * The ownerReferences of Secret namespace/name. Only a controlling reference to a keybrake.dev
   * VaultKey makes a key its owner.
   */
  ownerReferencesOf(namespace: string, name: string): unknown;
  /** The creationTimestamp of this VaultKey (RFC 3339), if known. */
  createdAt(key: VaultKey): string | undefined;
}

export function createRevokeOnDelete({ ownerReferencesOf, createdAt }: ClusterMetadata): RevokeOnDelete {
  const ownerOf = (namespace: string, name: string) => owningVaultKey(ownerReferencesOf(namespace, name));
  /** uid → the token it held, as of the last update. */
  let held = new Map<string, Held>();
  /** Keys of `held` that hold a token other keys read from the same Secret too (holderOf chose). */
  let contestedHolders = new Set<string>();
  /**
   * uid → the tokens a proxy was served that live key under and no longer is, oldest first: what its
   * Secret held before it turned invisible (label removed), was deleted and re-minted, or replaced.
   */
  const superseded = new Map<string, RevocationEntry[]>();
  /** The table remember last saw: a token it served for a uid that the next one does not is superseded. */
  let lastServed: ReadonlyMap<string, ServedKey> | undefined;
  // Digests by Secret object and field: an unchanged Secret stays the same object (ValidationCache).
  const digests = new ObjectMemo<Secret, Map<string, string | null>>('token digests');
  // Per VaultKey object: its token Secret when last remembered, and what it held of it.
  const entries = new ObjectMemo<VaultKey, { secret: Secret; held: Held | undefined }>('revocation entry');
  // Per orphaned Secret object (a new resourceVersion is a new object): what it revokes.
  const orphans = new ObjectMemo<Secret, OrphanTokens>('orphan tokens');
  // Per set: uid → namespace of every VaultKey in it, valid or rejected (both still own their Secrets).
  const liveKeys = new ObjectMemo<ResourceSet, Map<string, string>>('live VaultKeys');

  const liveOf = (set: ResourceSet) => {
    let live = liveKeys.get(set);
    if (!live) {
      live = new Map();
      for (const k of set.keys)
        if (k.metadata.uid !== undefined) live.set(k.metadata.uid, k.metadata.namespace!);
      for (const r of set.rejected)
        if (r.kind === 'VaultKey' && r.uid !== undefined) live.set(r.uid, r.namespace);
      liveKeys.set(set, live);
    }
    return live;
  };
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
  const orphanTokens = (secret: Secret, owner: OwnerReference & { uid: string }, known: Held | undefined) => {
    const memo = orphans.get(secret);
    if (memo?.owner === owner.uid && memo.known === known) return memo.entries;
    const ns = secret.metadata.namespace!;
    const vaultKey = known?.entry.vaultKey ?? `${ns}/${ownerLabel(owner)}`;
    const found = new Map<string, RevocationEntry>();
    if (known) found.set(known.entry.digest, known.entry);
    for (const field of new Set([known?.field ?? DEFAULT_TOKEN_FIELD, DEFAULT_TOKEN_FIELD])) {
      const token = secretValue(secret, field)?.trim();
      if (!token || !isAcceptableToken(token)) continue;
      const digest = tokenDigest(token);
      if (!found.has(digest)) found.set(digest, { digest, vaultKey, at: 0 });
    }
    const result = [...found.values()];
    orphans.set(secret, { owner: owner.uid, known, entries: result });
    return result;
  };

  /** The token `key` reads from `secret`, its Secret in this set. */
  const heldOf = (key: VaultKey, secret: Secret): Held | undefined => {
    // An unchanged key (the same object, ValidationCache) with the same Secret reads the same token.
    const known = entries.get(key);
    if (known?.secret === secret) return known.held;
    const field = key.spec.tokenSecretRef.key;
    const digest = digestOf(secret, field);
    const h = digest
      ? { entry: { digest, vaultKey: `${key.metadata.namespace}/${key.metadata.name}`, at: 0 }, field }
      : undefined;
    entries.set(key, { secret, held: h });
    return h;
  };
  /**
   * Of keys reading one token from one Secret, the one that holds it: the key served under it (the
   * compiler serves at most one), else the earliest created, ties (and unknown times) by name.
   */
  const holderOf = (keys: readonly VaultKey[], servedUid: string | undefined): VaultKey => {
    const servedKey = keys.find((k) => k.metadata.uid === servedUid);
    if (servedKey) return servedKey;
    const created = (k: VaultKey) => {
      const t = Date.parse(createdAt(k) ?? '');
      return Number.isNaN(t) ? Number.POSITIVE_INFINITY : t;
    };
    return keys.reduce((a, b) => {
      const ta = created(a);
      const tb = created(b);
      return ta < tb || (ta === tb && a.metadata.name < b.metadata.name) ? a : b;
    });
  };

  /** Adds `entry` to the superseded tokens of `uid`; answers the oldest when past MAX_SUPERSEDED. */
  const keep = (uid: string, entry: RevocationEntry): RevocationEntry | undefined => {
    const list = superseded.get(uid);
    if (!list) superseded.set(uid, [entry]);
    else if (!list.some((e) => e.digest === entry.digest)) {
      list.push(entry);
      if (list.length > MAX_SUPERSEDED) return list.shift();
    }
    return undefined;
  };

  /**
   * Moves each token the last table served for a live key, and `served` does not serve for it, to
   * that key's superseded tokens; forgets those of keys that are gone (their deletion was recorded
   * by revokedBy, before this set was compiled). Answers the tokens past MAX_SUPERSEDED, to record now.
   */
  const supersede = (live: ReadonlyMap<string, string>, served: ReadonlyMap<string, ServedKey>) => {
    const overflow: RevocationEntry[] = [];
    const before = lastServed;
    lastServed = served;
    // A token served for its key again (its Secret relabelled) is no longer superseded: never
    // pushed out below and recorded while it is served.
    for (const [uid, list] of superseded) {
      const kept = live.has(uid) ? list.filter((e) => served.get(e.digest)?.uid !== uid) : [];
      if (kept.length === 0) superseded.delete(uid);
      else if (kept.length !== list.length) superseded.set(uid, kept);
    }
    if (before === undefined || before === served) return overflow;
    for (const [digest, k] of before) {
      if (served.get(digest)?.uid === k.uid || !live.has(k.uid)) continue;
      const out = keep(k.uid, { digest, vaultKey: `${k.namespace}/${k.name}`, at: 0 });
      if (out) overflow.push(out);
    }
    return overflow;
  };

  /**
   * Tenth round (second probe): the tokens a live key held at the last update and no key holds in
   * `next` (its Secret lost the label, was deleted, was rewritten) are kept for its deletion, as a
   * served token is. A replica's table leaves out the namespaces its release has not claimed yet:
   * a standby that joins a namespace's first claim round late never served the key there, and after
   * a failover the leader's delete revoked nothing of what the old leader served. The set read here
   * is the whole one, so every replica follows every token it could come to serve. Not a token
   * holderOf gave one of several keys reading it (it chose by the table, which leaves that
   * namespace out): the key served under it may be another. A token held again is not superseded
   * (the delete revokes what a key holds). Answers the tokens past MAX_SUPERSEDED.
   */
  const supersedeHeld = (live: ReadonlyMap<string, string>, next: ReadonlyMap<string, Held>) => {
    const overflow: RevocationEntry[] = [];
    const stillHeld = new Set<string>();
    for (const h of next.values()) stillHeld.add(h.entry.digest);
    for (const [uid, h] of held) {
      if (!live.has(uid) || stillHeld.has(h.entry.digest) || contestedHolders.has(uid)) continue;
      const out = keep(uid, h.entry);
      if (out) overflow.push(out);
    }
    for (const [uid, list] of superseded) {
      const now = next.get(uid)?.entry.digest;
      if (now === undefined) continue;
      const kept = list.filter((e) => e.digest !== now);
      if (kept.length === 0) superseded.delete(uid);
      else if (kept.length !== list.length) superseded.set(uid, kept);
    }
    return overflow;
  };

  return {
    revokedBy(update, at) {
      // By digest: a deleted key's Secret is orphaned by the same update.
      const out = new Map<string, RevocationEntry>();
      const add = (e: RevocationEntry) => {
        if (!out.has(e.digest)) out.set(e.digest, { ...e, at });
      };
      for (const d of update.deleted) {
        if (d.kind !== 'VaultKey' || d.uid === undefined) continue;
        const t = held.get(d.uid);
        if (t) add(t.entry);
        for (const e of superseded.get(d.uid) ?? []) add(e);
      }
      const live = liveOf(update.set);
      for (const secret of update.set.secrets) {
        const ns = secret.metadata.namespace!;
        const owner = ownerOf(ns, secret.metadata.name);
        // An ownerReference names an object of the Secret's own namespace (as the garbage collector reads it).
        if (owner?.uid === undefined || live.get(owner.uid) === ns) continue;
        const last = held.get(owner.uid);
        const known = last?.entry.vaultKey.startsWith(`${ns}/`) ? last : undefined;
        for (const e of orphanTokens(secret, owner as OwnerReference & { uid: string }, known)) add(e);
      }
      return [...out.values()];
    },
    remember(set, served) {
      const next = new Map<string, Held>();
      const live = liveOf(set);
      const secrets = new ByNamespace<Secret>();
      for (const s of set.secrets) secrets.set(s.metadata.namespace!, s.metadata.name, s);
      // Secrets no live key controls, by the first key holding a token of them; the keys after it.
      const first = new Map<Secret, VaultKey>();
      const contested = new Map<Secret, VaultKey[]>();
      for (const k of set.keys) {
        const ns = k.metadata.namespace!;
        const uid = k.metadata.uid;
        const secret = secrets.get(ns, k.spec.tokenSecretRef.name);
        if (uid === undefined || !secret) continue;
        // A Secret another live key controls holds that key's token, not this one's.
        const owner = ownerOf(ns, k.spec.tokenSecretRef.name)?.uid;
        const controlled = owner !== undefined && live.get(owner) === ns;
        if (controlled && owner !== uid) continue;
        const h = heldOf(k, secret);
        if (!h) continue;
        next.set(uid, h);
        // Its own Secret, controlled by it: no other key holds what is in it.
        if (controlled) continue;
        const earlier = first.get(secret);
        const others = contested.get(secret);
        if (!earlier) first.set(secret, k);
        else if (others) others.push(k);
        else contested.set(secret, [earlier, k]);
      }
      const holders = new Set<string>();
      for (const keys of contested.values())
        for (const [digest, sharing] of byDigest(keys, next)) {
          if (sharing.length < 2) continue;
          const holder = holderOf(sharing, served.get(digest)?.uid);
          holders.add(holder.metadata.uid!);
          for (const k of sharing) if (k !== holder) next.delete(k.metadata.uid!);
        }
      const overflow = supersedeHeld(live, next);
      held = next;
      contestedHolders = holders;
      return overflow;
    },
    served(set, served) {
      return supersede(liveOf(set), served);
    },
    tokenOf(uid) {
      return held.get(uid)?.entry;
    },
    holdsAny(uid) {
      return held.has(uid) || superseded.has(uid);
    },
  };
}

/** Keys (each holding a token in `held`) by the digest of the token they hold. */
function byDigest(keys: readonly VaultKey[], held: ReadonlyMap<string, Held>): Map<string, VaultKey[]> {
  const out = new Map<string, VaultKey[]>();
  for (const k of keys) {
    const digest = held.get(k.metadata.uid!)!.entry.digest;
    const sharing = out.get(digest);
    if (sharing) sharing.push(k);
    else out.set(digest, [k]);
  }
  return out;
}

const OBJECT_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const UID = /^[A-Za-z0-9-]{1,64}$/;

/**
 * The owner as a ledger line and a status message name it. The API server only requires an
 * ownerReference's name and uid to be non-empty, and a ledger line is split on whitespace: anything
 * but an object name or a uid-like string is not written.
 */
export function ownerLabel(owner: OwnerReference & { readonly uid: string }): string {
  if (owner.name !== undefined && OBJECT_NAME.test(owner.name)) return owner.name;
  return UID.test(owner.uid) ? `uid-${owner.uid}` : 'unknown-owner';
}
