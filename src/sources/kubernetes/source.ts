import { CoreV1Api, CustomObjectsApi, type KubeConfig, Watch } from '@kubernetes/client-node';
import type {
  DocumentError,
  RawDocument,
  RejectedObject,
  ResourceSetUpdate,
} from '../../api/resource-set.ts';
import { GROUP, VERSION } from '../../api/v1alpha1/index.ts';
import { createValidationCache, validate } from '../../api/validate.ts';
import type { BackoffOptions } from '../../backoff.ts';
import type { Log } from '../../telemetry/logger.ts';
import { compileSignature, slim, toRawDocument, unreadable, type WatchedKind } from './documents.ts';
import { PLURALS, SECRET_SELECTOR } from './labels.ts';
import {
  createReflector,
  type KubeObject,
  type ListResult,
  type Reflector,
  type ReflectorHealth,
  type WatchFn,
} from './reflector.ts';

/** A VaultKey or SpendPolicy that disappeared: the operator reports revocations from these. */
export interface DeletedObject {
  readonly kind: 'VaultKey' | 'SpendPolicy';
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string;
}

/**
 * What the Kubernetes source emits after the first full list and after every relevant change: the
 * validated resources for the compile runner (DESIGN.md §3), as the file source feeds `serve`, plus
 * what was deleted (the operator reports revocations from it).
 */
export interface KubernetesSourceUpdate extends ResourceSetUpdate {
  /** Deleted since the previous update. */
  readonly deleted: readonly DeletedObject[];
}

/** How the source talks to the API server; replaced by fakes in unit tests. */
export interface KubernetesApi {
  list(kind: WatchedKind, namespace: string | undefined): Promise<ListResult>;
  readonly watch: WatchFn;
}

export interface KubernetesSourceOptions {
  readonly log: Log;
  /** Namespaces to watch; empty or absent: all namespaces. */
  readonly namespaces?: readonly string[];
  /**
   * Changes arriving within this window are folded into one update. Kept tiny: a revocation must
   * reach every proxy in well under 200 ms, and a compile takes about a millisecond.
   */
  readonly coalesceMs?: number;
  readonly backoff?: BackoffOptions;
  readonly watchdogMs?: number;
  readonly clock?: () => number;
}

export interface KubernetesSource {
  /** Starts the informers; resolves with the first update once every informer has listed. */
  start(): Promise<KubernetesSourceUpdate>;
  onUpdate(listener: (update: KubernetesSourceUpdate) => void): () => void;
  /**
   * Hears each deleted VaultKey or SpendPolicy as the watch reports it, before the coalesced update
   * that carries it in `deleted` (the revocation fast path: ADR 0014).
   */
  onDelete(listener: (deleted: DeletedObject) => void): () => void;
  readonly current: KubernetesSourceUpdate | undefined;
  /** The object as last seen (with its status and resourceVersion), for status diffs. */
  get(kind: WatchedKind, namespace: string, name: string): KubeObject | undefined;
  /**
   * The VaultKeys or SpendPolicies marked for deletion that a finalizer still holds: in no update
   * (gone from the moment they are marked), seen only so their status can say they are being deleted.
   */
  terminating(kind: 'VaultKey' | 'SpendPolicy'): KubeObject[];
  /** One of those (with its status and resourceVersion), for status diffs. */
  getTerminating(kind: 'VaultKey' | 'SpendPolicy', namespace: string, name: string): KubeObject | undefined;
  /**
   * Ends every informer's watch and relists, each known current only up to its watch's last sign of
   * life: for when the API server has stopped answering on the connections the watches may share.
   */
  rewatch(): void;
  close(): Promise<void>;
}

/** How current the source's informers are: what the operator vouches for to proxies and readiness. */
export interface InformerHealth {
  /**
   * Up to when every informer is known to have seen every change (now while all their watches are
   * established): what a table compiled from this source can be vouched fresh as of (ADR 0005,
   * eighth round). Undefined while one has never listed.
   */
  currentAt(): number | undefined;
  /** Each informer: current now, or the last moment it was and why its list or watch ended. */
  informers(): readonly InformerState[];
}

/** One informer's ReflectorHealth, by name (e.g. `VaultKey (all namespaces)`). */
export type InformerState = { readonly informer: string } & ReflectorHealth;

const KINDS: readonly WatchedKind[] = ['SpendPolicy', 'VaultKey', 'Secret'];

/** Collection path of one informer. */
export function collectionPath(kind: WatchedKind, namespace: string | undefined): string {
  const ns = namespace === undefined ? '' : `/namespaces/${namespace}`;
  return kind === 'Secret' ? `/api/v1${ns}/secrets` : `/apis/${GROUP}/${VERSION}${ns}/${PLURALS[kind]}`;
}

/** The real API: client-node list calls and its Watch. */
export function kubernetesApi(kc: KubeConfig): KubernetesApi {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);
  const watcher = new Watch(kc);
  return {
    async list(kind, namespace) {
      if (kind === 'Secret') {
        const list =
          namespace === undefined
            ? await core.listSecretForAllNamespaces({ labelSelector: SECRET_SELECTOR })
            : await core.listNamespacedSecret({ namespace, labelSelector: SECRET_SELECTOR });
        return {
          items: list.items as unknown as KubeObject[],
          resourceVersion: list.metadata?.resourceVersion ?? '',
        };
      }
      const plural = PLURALS[kind];
      const list = (
        namespace === undefined
          ? await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural })
          : await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural })
      ) as { items?: KubeObject[]; metadata?: { resourceVersion?: string } };
      return { items: list.items ?? [], resourceVersion: list.metadata?.resourceVersion ?? '' };
    },
    watch: (path, query, onEvent, onDone) => watcher.watch(path, query, onEvent, onDone),
  };
}

/**
 * The operator's source (DESIGN.md §3): informers over VaultKeys, SpendPolicies and the Secrets
 * labelled `keybrake.dev/secret=true`, in all namespaces or the given ones. Every relevant change
 * (not the operator's own status writes) yields the whole current ResourceSet, validated exactly as
 * the file source validates manifests. Invalid objects become `rejected` entries, never a crash.
 */
export function createKubernetesSource(
  api: KubernetesApi,
  opts: KubernetesSourceOptions,
): KubernetesSource & InformerHealth {
  const now = opts.clock ?? Date.now;
  const coalesceMs = opts.coalesceMs ?? 2;
  const namespaces = opts.namespaces && opts.namespaces.length > 0 ? opts.namespaces : [undefined];
  const listeners = new Set<(u: KubernetesSourceUpdate) => void>();
  const deleteListeners = new Set<(d: DeletedObject) => void>();
  const reflectors = new Map<WatchedKind, Reflector[]>();
  let current: KubernetesSourceUpdate | undefined;
  let timer: NodeJS.Timeout | undefined;
  let firstChangeAt: number | undefined;
  let deleted: DeletedObject[] = [];
  let allSynced = false;
  let closed = false;
  const closing = Promise.withResolvers<void>();
  // The informers keep an unchanged object as the same object: a change re-validates only itself.
  const validation = createValidationCache();

  // Objects `slim` could not read, as their stand-ins in the informers' caches (documents.ts `unreadable`).
  const unread = new WeakMap<KubeObject, string>();
  /**
   * One object as the cache keeps it. Whatever `slim` throws for it is this object's alone: it is
   * kept as a stand-in that carries its identity and is never served (a rejected entry, emit), so
   * the list, the watch and every other object go on, and its later change or delete still applies.
   * Thrown out of the list, one tenant's object kept every namespace's informer from syncing; thrown
   * in the watch callback, client-node swallows it and the event, a delete too, is lost (eleventh
   * round, fixes probe).
   */
  const read = (kind: WatchedKind, object: KubeObject): KubeObject => {
    try {
      return slim(kind, object);
    } catch (err) {
      const standIn = unreadable(kind, object);
      const why = err instanceof Error ? err.message : 'unknown error';
      unread.set(standIn, why);
      const m = standIn.metadata ?? {};
      opts.log.warn(
        { kind, namespace: m.namespace, name: m.name, error: why },
        'kubernetes object cannot be read; not served',
      );
      return standIn;
    }
  };

  const schedule = () => {
    firstChangeAt ??= now();
    if (!allSynced || timer || closed) return;
    timer = setTimeout(emit, coalesceMs);
  };

  const emit = () => {
    timer = undefined;
    if (closed) return;
    const docs: RawDocument[] = [];
    const unreadObjects: { kind: WatchedKind; object: KubeObject; why: string }[] = [];
    for (const kind of KINDS)
      for (const r of reflectors.get(kind) ?? [])
        for (const o of r.items()) {
          const why = unread.get(o);
          if (why === undefined) docs.push(toRawDocument(kind, o));
          else unreadObjects.push({ kind, object: o, why });
        }
    docs.sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
    const validated = validate(docs, { cache: validation });
    const { set, errors } = unreadObjects.length === 0 ? validated : withUnreadable(validated, unreadObjects);
    const update: KubernetesSourceUpdate = {
      set,
      errors,
      deleted,
      changedAt: firstChangeAt ?? now(),
    };
    deleted = [];
    firstChangeAt = undefined;
    current = update;
    for (const l of listeners) {
      try {
        l(update);
      } catch (err) {
        opts.log.error({ err }, 'kubernetes source listener failed');
      }
    }
  };

  const names = new Map<Reflector, string>();
  for (const kind of KINDS) {
    reflectors.set(
      kind,
      namespaces.map((namespace) => {
        const name = `${kind} (${namespace ?? 'all namespaces'})`;
        const reflector = createReflector({
          name,
          now,
          path: collectionPath(kind, namespace),
          ...(kind === 'Secret' && { labelSelector: SECRET_SELECTOR }),
          list: async () => {
            const listed = await api.list(kind, namespace);
            return { ...listed, items: listed.items.map((o) => read(kind, o)) };
          },
          watch: (path, query, onEvent, onDone) =>
            api.watch(path, query, (type, o) => onEvent(type, type === 'ERROR' ? o : read(kind, o)), onDone),
          onChange: (change) => {
            if (change.type === 'delete') {
              const m = change.object.metadata ?? {};
              if (kind !== 'Secret' && m.name && m.namespace) {
                const d: DeletedObject = {
                  kind,
                  namespace: m.namespace,
                  name: m.name,
                  ...(m.uid !== undefined && { uid: m.uid }),
                };
                deleted.push(d);
                for (const l of deleteListeners) {
                  try {
                    l(d);
                  } catch (err) {
                    opts.log.error({ err }, 'kubernetes source delete listener failed');
                  }
                }
              }
              schedule();
              return;
            }
            if (change.previous && compileSignature(change.previous) === compileSignature(change.object))
              return;
            schedule();
          },
          log: opts.log,
          ...(opts.backoff !== undefined && { backoff: opts.backoff }),
          ...(opts.watchdogMs !== undefined && { watchdogMs: opts.watchdogMs }),
        });
        names.set(reflector, name);
        return reflector;
      }),
    );
  }
  const all = () => [...reflectors.values()].flat();
  const informers = (): InformerState[] => all().map((r) => ({ informer: names.get(r)!, ...r.health() }));

  return {
    async start() {
      for (const r of all()) r.start();
      await Promise.race([Promise.all(all().map((r) => r.synced)), closing.promise]);
      if (closed) throw new Error('the Kubernetes source was closed before its first list');
      allSynced = true;
      clearTimeout(timer);
      emit();
      return current!;
    },
    onUpdate(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    onDelete(listener) {
      deleteListeners.add(listener);
      return () => deleteListeners.delete(listener);
    },
    get current() {
      return current;
    },
    get(kind, namespace, name) {
      for (const r of reflectors.get(kind) ?? []) {
        const o = r.get(namespace, name);
        if (o) return o;
      }
      return undefined;
    },
    terminating: (kind) => (reflectors.get(kind) ?? []).flatMap((r) => r.terminating()),
    getTerminating(kind, namespace, name) {
      for (const r of reflectors.get(kind) ?? []) {
        const o = r.getTerminating(namespace, name);
        if (o) return o;
      }
      return undefined;
    },
    currentAt() {
      let at = now();
      for (const i of informers()) {
        if (i.current) continue;
        if (i.since === undefined) return undefined;
        at = Math.min(at, i.since);
      }
      return at;
    },
    informers,
    rewatch() {
      for (const r of all()) r.restart();
    },
    async close() {
      closed = true;
      closing.resolve();
      clearTimeout(timer);
      await Promise.all(all().map((r) => r.stop()));
    },
  };
}

/**
 * The objects the source could not read, added to a validation's result as `validate` adds an invalid
 * one: an error, and for a VaultKey or SpendPolicy a rejected entry, so it is not served, its keys say
 * why (Ready=False Invalid) and a Secret it owns stays its own. An unreadable Secret is left out: the
 * keys naming it are not served either.
 */
function withUnreadable(
  validated: { set: KubernetesSourceUpdate['set']; errors: readonly DocumentError[] },
  objects: readonly { kind: WatchedKind; object: KubeObject; why: string }[],
): { set: KubernetesSourceUpdate['set']; errors: DocumentError[] } {
  const errors = [...validated.errors];
  const rejected = [...validated.set.rejected];
  for (const { kind, object, why } of objects) {
    const m = object.metadata ?? {};
    const error: DocumentError = {
      source: `kubernetes:${kind}/${m.namespace ?? ''}/${m.name ?? ''}`,
      index: 0,
      kind,
      ...(m.namespace !== undefined && { namespace: m.namespace }),
      ...(m.name !== undefined && { name: m.name }),
      path: '',
      message: `cannot be read (${why}); not served`,
    };
    errors.push(error);
    if (kind !== 'Secret' && m.namespace !== undefined && m.name !== undefined)
      rejected.push({
        kind,
        namespace: m.namespace,
        name: m.name,
        ...(m.uid !== undefined && { uid: m.uid }),
        ...(m.generation !== undefined && { generation: m.generation }),
        errors: [error],
      } satisfies RejectedObject);
  }
  return { set: { ...validated.set, rejected }, errors };
}
