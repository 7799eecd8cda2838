import type { RawDocument } from '../../api/resource-set.ts';
import { ObjectMemo } from '../../memo.ts';
import { LAST_APPLIED, withAppliedNulls } from './applied-nulls.ts';
import type { KubeObject } from './reflector.ts';

/** Which of our three informers an object came from. */
export type WatchedKind = 'VaultKey' | 'SpendPolicy' | 'Secret';

/**
 * Informer object → the RawDocument `validate()` reads, named so a validation message points at
 * the object (`kubernetes:VaultKey/agents/support-bot-stripe: …`). Made once per object: every
 * update lists every object, and an unchanged one stays the same object in the informer's cache
 * (at 100 000 keys, 200 000 new names per update, each compared as the update is sorted).
 */
export function toRawDocument(kind: WatchedKind, object: KubeObject): RawDocument {
  const known = documents.get(object);
  if (known?.kind === kind) return known.document;
  const m = object.metadata ?? {};
  const document = {
    source: `kubernetes:${kind}/${m.namespace ?? ''}/${m.name ?? ''}`,
    index: 0,
    doc: object,
  };
  documents.set(object, { kind, document });
  return document;
}

const documents = new ObjectMemo<KubeObject, { kind: WatchedKind; document: RawDocument }>('raw document');

/**
 * What the cache keeps of an object: the fields the compiler reads plus, for our kinds, `status`
 * (the operator compares against it before writing). managedFields and the like are dropped so a
 * large cluster does not cost memory for nothing. List items arrive without apiVersion/kind.
 */
export function slim(kind: WatchedKind, object: KubeObject): KubeObject {
  const m = object.metadata ?? {};
  const metadata = {
    name: m.name,
    namespace: m.namespace,
    uid: m.uid,
    resourceVersion: m.resourceVersion,
    ...(m.generation !== undefined && { generation: m.generation }),
    ...(m.labels !== undefined && { labels: m.labels }),
    ...(m.annotations !== undefined && { annotations: withoutLastApplied(m.annotations) }),
    ...(m.ownerReferences !== undefined && { ownerReferences: m.ownerReferences }),
    // The reflector drops an object being deleted (reflector.ts `terminating`).
    ...(m.deletionTimestamp !== undefined && { deletionTimestamp: m.deletionTimestamp }),
    // Of keys naming one unowned token Secret, the earliest created holds its token (revoke-on-delete.ts).
    ...(kind === 'VaultKey' &&
      m.creationTimestamp !== undefined && { creationTimestamp: m.creationTimestamp }),
  };
  if (kind === 'Secret') {
    return {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata,
      ...(object.type !== undefined && { type: object.type }),
      ...(object.data !== undefined && object.data !== null && { data: object.data }),
    };
  }
  const slimmed = {
    apiVersion: object.apiVersion ?? 'keybrake.dev/v1alpha1',
    kind,
    metadata,
    // With the fields the applied manifest left empty: kubectl dropped them (applied-nulls.ts).
    spec: withAppliedNulls(kind, object.spec, m.annotations),
    ...(object.status !== undefined && { status: object.status }),
  };
  // A closed spec object keeps unknown fields (crd.ts), so a tenant can store one nested up to the
  // API server's 10 000 levels, and what reads the object next (compileSignature's JSON.stringify,
  // the schema, a status message) recurses; JSON.stringify overflows the stack at about 4 500 levels, and
  // a throw here was the whole list's or, in the watch, lost the event (eleventh round, fixes probe).
  if (!nestedWithin(slimmed.spec, MAX_SPEC_DEPTH))
    throw new UnreadableObjectError(`spec is nested deeper than ${MAX_SPEC_DEPTH} levels`);
  return slimmed;
}

/** Far deeper than any spec the schemas accept (two object levels); far below any stack limit. */
export const MAX_SPEC_DEPTH = 32;

/** An object the source cannot read safely: it is rejected alone (source.ts `read`). */
export class UnreadableObjectError extends Error {
  override readonly name = 'UnreadableObjectError';
}

/** Whether `value` nests at most `max` objects or lists deep; iterative, so any depth is safe to ask. */
export function nestedWithin(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const [v, depth] = top;
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= max) return false;
    for (const child of Object.values(v))
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
  }
  return true;
}

/**
 * What the cache keeps of an object `slim` could not read: its identity only, no spec, so it is never
 * served (the source makes it a rejected entry) and a later change or delete of it is still applied.
 * Only string metadata is taken, and nothing else of the object is touched.
 */
export function unreadable(kind: WatchedKind, object: KubeObject): KubeObject {
  const m = (isRecord(object) && isRecord(object.metadata) ? object.metadata : {}) as Record<string, unknown>;
  const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const metadata: Record<string, unknown> = {};
  for (const f of ['name', 'namespace', 'uid', 'resourceVersion', 'deletionTimestamp', 'creationTimestamp']) {
    const v = text(m[f]);
    if (v !== undefined) metadata[f] = v;
  }
  if (typeof m.generation === 'number') metadata.generation = m.generation;
  return {
    apiVersion: kind === 'Secret' ? 'v1' : 'keybrake.dev/v1alpha1',
    kind,
    metadata: metadata as KubeObject['metadata'],
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null;
}

/**
 * What a recompile depends on. A status write by the operator itself changes resourceVersion and
 * status but not this, so it does not start another compile and another snapshot version.
 */
export function compileSignature(object: KubeObject): string {
  const m = object.metadata ?? {};
  return JSON.stringify([
    object.apiVersion,
    object.kind,
    m.name,
    m.namespace,
    m.uid,
    m.generation,
    m.labels,
    object.spec,
    object.type,
    object.data,
  ]);
}

// kubectl's copy of the whole manifest: for a Secret it would be a second copy of the credential.
function withoutLastApplied(annotations: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries((annotations ?? {}) as Record<string, string>)) {
    if (k !== LAST_APPLIED) out[k] = v;
  }
  return out;
}
