import { CoreV1Api, type KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { API_VERSION, GROUP, type VaultKey } from '../api/v1alpha1/index.ts';
import {
  FINGERPRINT_ANNOTATION,
  MANAGED_BY_LABEL_KEY,
  MANAGED_BY_LABEL_VALUE,
  SECRET_LABEL_KEY,
  SECRET_LABEL_VALUE,
} from '../sources/kubernetes/labels.ts';
import { fingerprint, newToken, type RandomBytes } from '../tokens/token.ts';

/** The Secret fields the minter reads. */
export interface SecretView {
  readonly resourceVersion?: string;
  readonly labels?: Record<string, string>;
  readonly data?: Record<string, string>;
  /** `immutable: true`: the API server refuses (422) any change of its data, and it is never unset. */
  readonly immutable?: boolean;
  /** Its ownerReferences (only kind, apiVersion, uid and controller are read). */
  readonly ownerReferences?: readonly OwnerReference[];
}

/** The part of an ownerReference the operator reads. */
export interface OwnerReference {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly name?: string;
  readonly uid?: string;
  readonly controller?: boolean;
}

/**
 * The VaultKey a token Secret belongs to (ADR 0009): its controlling ownerReference of kind VaultKey
 * in keybrake.dev. The operator sets it when it mints; a token Secret owned by another uid than a
 * key's is never served for that key.
 */
export function owningVaultKey(refs: unknown): OwnerReference | undefined {
  if (!Array.isArray(refs)) return undefined;
  return (refs as OwnerReference[]).find(
    (r) =>
      typeof r === 'object' &&
      r !== null &&
      r.kind === 'VaultKey' &&
      r.controller === true &&
      typeof r.uid === 'string' &&
      (r.apiVersion ?? '').startsWith(`${GROUP}/`),
  );
}

/**
 * The proof that the operator created a Secret for a VaultKey: its controlling ownerReference, set
 * only when the operator mints. A label proves nothing (anyone who can edit a Secret sets one), and
 * a Secret without that reference may hold anything (another upstream key, a database password), so
 * the operator never labels it, writes into it, nor serves what is in it as a token of its own making.
 */
export function createdFor(secret: SecretView, uid: string | undefined): boolean {
  return uid !== undefined && owningVaultKey(secret.ownerReferences)?.uid === uid;
}

/**
 * A Secret API call the API server answered with an error (`status`; undefined: no answer). Only
 * the status is kept: an error body about a Secret write is not something to risk in a log line.
 */
export class SecretApiError extends Error {
  readonly status: number | undefined;
  constructor(what: string, status: number | undefined) {
    super(`${what} failed with status ${status ?? 'unknown'}`);
    this.status = status;
  }
}

/** Access to token Secrets (the real API, or an in-memory fake in tests); failures throw SecretApiError. */
export interface SecretStore {
  read(namespace: string, name: string): Promise<SecretView | undefined>;
  /** false when it already exists (409). */
  create(namespace: string, body: Record<string, unknown>): Promise<boolean>;
  /** Merge patch; false on a resourceVersion conflict (409). */
  patch(namespace: string, name: string, body: Record<string, unknown>): Promise<boolean>;
}

/** What ensureToken did; `fingerprint` is the only form of a token that ever leaves this module. */
export type MintOutcome =
  | { readonly kind: 'minted'; readonly fingerprint: string; readonly created: boolean }
  /** The key's own Secret (minted for it) had lost the label the informer selects on: labelled again. */
  | { readonly kind: 'labelled' }
  | { readonly kind: 'present' }
  /** Asked to replace a stale or revoked token in a Secret the operator did not mint: left alone. */
  | { readonly kind: 'not-managed' }
  /**
   * Asked to replace the token of a Secret owned by another VaultKey, gone, of another name: left
   * alone (sixteenth round). `owner` is its controlling ownerReference.
   */
  | { readonly kind: 'inherited'; readonly owner: OwnerReference & { readonly uid: string } }
  /**
   * A Secret of that name exists and was not created for this key: left alone. `unlabelled`: it
   * lacks `keybrake.dev/secret` (so the informer, and the compiler, cannot see it); otherwise it
   * lacks the token field.
   */
  | { readonly kind: 'not-ours'; readonly unlabelled: boolean }
  /** The key's own Secret needs a token written into it, and it is immutable: only deleting it helps. */
  | { readonly kind: 'immutable' }
  | { readonly kind: 'conflict' };

/**
 * Makes sure the VaultKey's tokenSecretRef holds a token (DESIGN.md §2: minted if absent). Writes
 * only into a Secret the operator creates, owned by the VaultKey (deleted with it by the garbage
 * collector), or one it created for this key before (`createdFor`). A Secret of that name it did
 * not create is used as it is when it carries the label and the token field (a token you brought),
 * and otherwise left alone (`not-ours`): labelling it, or writing a field into it, would have the
 * operator serve, or hand out, whatever an unrelated Secret holds. With `replace` (the compiler
 * found the Secret owned by a deleted VaultKey, or its token revoked), a Secret a VaultKey owns gets
 * a fresh token and the new key as its owner when that VaultKey is this key or had its name
 * (`inherited` otherwise); a user's Secret is left alone (its status tells the user). Every write is conditional on the resourceVersion read, so two operators (or a user)
 * racing cannot overwrite a token. A Secret made immutable is never written a token (the API server
 * refuses it for good): `immutable`.
 */
export async function ensureToken(
  store: SecretStore,
  key: VaultKey,
  opts: { random?: RandomBytes; replace?: boolean } = {},
): Promise<MintOutcome> {
  const namespace = key.metadata.namespace!;
  const ref = key.spec.tokenSecretRef;
  const mint = () => {
    const token = newToken(key.spec.vendor, {
      ...(key.spec.tokenPrefix !== undefined && { prefix: key.spec.tokenPrefix }),
      ...(opts.random !== undefined && { random: opts.random }),
    });
    return { encoded: Buffer.from(token, 'utf8').toString('base64'), fingerprint: fingerprint(token) };
  };

  const owner =
    key.metadata.uid === undefined
      ? {}
      : {
          ownerReferences: [
            {
              apiVersion: API_VERSION,
              kind: 'VaultKey',
              name: key.metadata.name,
              uid: key.metadata.uid,
              controller: true,
            },
          ],
        };
  const managed = { [SECRET_LABEL_KEY]: SECRET_LABEL_VALUE, [MANAGED_BY_LABEL_KEY]: MANAGED_BY_LABEL_VALUE };

  const existing = await store.read(namespace, ref.name);
  if (!existing) {
    const t = mint();
    const created = await store.create(namespace, {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: {
        name: ref.name,
        namespace,
        labels: managed,
        annotations: { [FINGERPRINT_ANNOTATION]: t.fingerprint },
        ...owner,
      },
      data: { [ref.key]: t.encoded },
    });
    return created ? { kind: 'minted', fingerprint: t.fingerprint, created: true } : { kind: 'conflict' };
  }

  const value = existing.data?.[ref.key];
  const present = value !== undefined && Buffer.from(value, 'base64').toString('utf8').trim() !== '';
  const labelled = existing.labels?.[SECRET_LABEL_KEY] === SECRET_LABEL_VALUE;
  const precondition =
    existing.resourceVersion === undefined ? {} : { resourceVersion: existing.resourceVersion };
  /**
   * Writes a token into the Secret. One made immutable after it was read answers 422 (as for any
   * other invalid patch): read again, that is told apart, so the key says what to do at once.
   */
  const writeToken = async (body: Record<string, unknown>): Promise<boolean | 'immutable'> => {
    try {
      return await store.patch(namespace, ref.name, body);
    } catch (err) {
      if (!(err instanceof SecretApiError && err.status === 422)) throw err;
      if ((await store.read(namespace, ref.name))?.immutable === true) return 'immutable';
      throw err;
    }
  };
  const written = (ok: boolean | 'immutable', t: { fingerprint: string }): MintOutcome =>
    ok === 'immutable'
      ? { kind: 'immutable' }
      : ok
        ? { kind: 'minted', fingerprint: t.fingerprint, created: false }
        : { kind: 'conflict' };
  if (opts.replace) {
    // Owned by a deleted key (TokenSecretStale) or by this one: a Secret the operator minted.
    const previous = owningVaultKey(existing.ownerReferences);
    if (previous === undefined) return { kind: 'not-managed' };
    // Handed over only to a key of the deleted owner's name, i.e. that key applied again (a GitOps
    // sync, a GC-less cluster's leftover): a name is free again only once its key is gone. Any other
    // key (a copied manifest that kept tokenSecretRef) would re-arm the Secret the revoked key's
    // agent reads, under its own policy (sixteenth round).
    if (previous.uid !== key.metadata.uid && previous.name !== key.metadata.name)
      return { kind: 'inherited', owner: previous as OwnerReference & { uid: string } };
    if (existing.immutable === true) return { kind: 'immutable' };
    // A merge patch replaces the whole ownerReferences list: the deleted key's reference goes.
    const t = mint();
    const ok = await writeToken({
      metadata: {
        ...precondition,
        labels: managed,
        annotations: { [FINGERPRINT_ANNOTATION]: t.fingerprint },
        ...owner,
      },
      data: { [ref.key]: t.encoded },
    });
    return written(ok, t);
  }
  if (!createdFor(existing, key.metadata.uid)) {
    if (!labelled) return { kind: 'not-ours', unlabelled: true };
    return present ? { kind: 'present' } : { kind: 'not-ours', unlabelled: false };
  }
  if (present) {
    if (labelled) return { kind: 'present' };
    // Labels of an immutable Secret may still change: only its data may not.
    const ok = await store.patch(namespace, ref.name, { metadata: { ...precondition, labels: managed } });
    return ok ? { kind: 'labelled' } : { kind: 'conflict' };
  }
  if (existing.immutable === true) return { kind: 'immutable' };
  const t = mint();
  const ok = await writeToken({
    metadata: {
      ...precondition,
      labels: managed,
      annotations: { [FINGERPRINT_ANNOTATION]: t.fingerprint },
    },
    data: { [ref.key]: t.encoded },
  });
  return written(ok, t);
}

/** SecretStore over CoreV1Api. Errors are rethrown as SecretApiError, with the status code only. */
export function kubernetesSecretStore(kc: KubeConfig): SecretStore {
  const api = kc.makeApiClient(CoreV1Api);
  const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  const code = (err: unknown) => (err as { code?: number }).code;
  const fail = (what: string, err: unknown): never => {
    throw new SecretApiError(what, code(err));
  };
  return {
    async read(namespace, name) {
      try {
        const s = await api.readNamespacedSecret({ namespace, name });
        return {
          ...(s.metadata?.resourceVersion !== undefined && { resourceVersion: s.metadata.resourceVersion }),
          ...(s.metadata?.labels !== undefined && { labels: s.metadata.labels }),
          ...(s.metadata?.ownerReferences !== undefined && { ownerReferences: s.metadata.ownerReferences }),
          ...(s.data !== undefined && { data: s.data }),
          ...(s.immutable === true && { immutable: true }),
        };
      } catch (err) {
        if (code(err) === 404) return undefined;
        return fail(`reading Secret ${namespace}/${name}`, err);
      }
    },
    async create(namespace, body) {
      try {
        await api.createNamespacedSecret({ namespace, body });
        return true;
      } catch (err) {
        if (code(err) === 409) return false;
        return fail(`creating a Secret in ${namespace}`, err);
      }
    },
    async patch(namespace, name, body) {
      try {
        await api.patchNamespacedSecret({ namespace, name, body }, merge);
        return true;
      } catch (err) {
        if (code(err) === 409) return false;
        return fail(`patching Secret ${namespace}/${name}`, err);
      }
    },
  };
}
