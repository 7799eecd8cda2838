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

/** A Secret the operator minted (and may therefore mint into again): labelled so, or owned by a VaultKey. */
export function isOperatorManaged(secret: SecretView): boolean {
  return (
    secret.labels?.[MANAGED_BY_LABEL_KEY] === MANAGED_BY_LABEL_VALUE ||
    owningVaultKey(secret.ownerReferences) !== undefined
  );
}

/** Access to token Secrets (the real API, or an in-memory fake in tests). */
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
  /** A user-provided token Secret lacked the label the informer selects on: labelled, token kept. */
  | { readonly kind: 'labelled' }
  | { readonly kind: 'present' }
  /** Asked to replace a stale or revoked token in a Secret the operator did not mint: left alone. */
  | { readonly kind: 'not-managed' }
  | { readonly kind: 'conflict' };

const labels = { [SECRET_LABEL_KEY]: SECRET_LABEL_VALUE };

/**
 * Makes sure the VaultKey's tokenSecretRef holds a token (DESIGN.md §2: minted if absent). A token
 * already there is kept as it is: users may bring their own. A Secret the operator creates is owned
 * by the VaultKey (deleted with it by the garbage collector); a user's Secret only gains the key.
 * With `replace` (the compiler found the Secret owned by a deleted VaultKey, or its token revoked),
 * a Secret the operator minted gets a fresh token and the new key as its owner; a user's Secret is
 * left alone (its status tells the user). Every write is conditional on the resourceVersion read, so
 * two operators (or a user) racing cannot overwrite a token.
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
  const managed = { ...labels, [MANAGED_BY_LABEL_KEY]: MANAGED_BY_LABEL_VALUE };

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
  if (opts.replace) {
    if (!isOperatorManaged(existing)) return { kind: 'not-managed' };
    // A merge patch replaces the whole ownerReferences list: the deleted key's reference goes.
    const t = mint();
    const ok = await store.patch(namespace, ref.name, {
      metadata: {
        ...precondition,
        labels: managed,
        annotations: { [FINGERPRINT_ANNOTATION]: t.fingerprint },
        ...owner,
      },
      data: { [ref.key]: t.encoded },
    });
    return ok ? { kind: 'minted', fingerprint: t.fingerprint, created: false } : { kind: 'conflict' };
  }
  if (present) {
    if (labelled) return { kind: 'present' };
    const ok = await store.patch(namespace, ref.name, { metadata: { ...precondition, labels } });
    return ok ? { kind: 'labelled' } : { kind: 'conflict' };
  }
  const t = mint();
  const ok = await store.patch(namespace, ref.name, {
    metadata: { ...precondition, labels, annotations: { [FINGERPRINT_ANNOTATION]: t.fingerprint } },
    data: { [ref.key]: t.encoded },
  });
  return ok ? { kind: 'minted', fingerprint: t.fingerprint, created: false } : { kind: 'conflict' };
}

/**
 * SecretStore over CoreV1Api. Errors are rethrown with the status code only: an API error body
 * about a Secret write is not something to risk in a log line.
 */
export function kubernetesSecretStore(kc: KubeConfig): SecretStore {
  const api = kc.makeApiClient(CoreV1Api);
  const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  const code = (err: unknown) => (err as { code?: number }).code;
  const fail = (what: string, err: unknown): never => {
    throw new Error(`${what} failed with status ${code(err) ?? 'unknown'}`);
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
