import type { z } from 'zod';
import { ObjectMemo } from '../memo.ts';
import { shownName } from '../terminal-text.ts';
import { ByNamespace } from './by-namespace.ts';
import type { DocumentError, RawDocument, RejectedObject, ResourceSet } from './resource-set.ts';
import { typeHint } from './scalar-hint.ts';
import {
  API_VERSION,
  DEFAULT_NAMESPACE,
  GROUP,
  NamespaceName,
  ObjectName,
  type Secret,
  SecretSchema,
  type SpendPolicy,
  SpendPolicyFileSchema,
  SpendPolicySchema,
  Timestamp,
  type VaultKey,
  VaultKeyFileSchema,
  VaultKeySchema,
} from './v1alpha1/index.ts';

/** What `validate` returns: the valid resources and every problem found (a source's update is made of both). */
export interface ValidationResult {
  readonly set: ResourceSet;
  readonly errors: DocumentError[];
}

type OurKind = 'VaultKey' | 'SpendPolicy' | 'Secret';

/** Each kind's schema as the API server keeps it (a status the CRD does not declare is dropped). */
const CLUSTER_SCHEMAS: Readonly<Record<OurKind, z.ZodType>> = {
  VaultKey: VaultKeySchema,
  SpendPolicy: SpendPolicySchema,
  Secret: SecretSchema,
};
/** In manifest files (`closedStatus`): a status field the operator does not write is refused. */
const FILE_SCHEMAS: Readonly<Record<OurKind, z.ZodType>> = {
  VaultKey: VaultKeyFileSchema,
  SpendPolicy: SpendPolicyFileSchema,
  Secret: SecretSchema,
};

/**
 * The schemas' verdicts on documents already found valid, keyed by the document object itself. A source
 * whose unchanged objects keep their identity from one update to the next (the Kubernetes source's
 * informer cache) hands its cache to every `validate`, so that a change re-checks only the objects
 * that changed, and the unchanged ones come out as the very objects they were last time (which lets
 * the compiler reuse its work for them too). Entries go with their documents (ObjectMemo).
 */
export interface ValidationCache {
  /** Documents found valid: their typed resource. */
  readonly valid: ObjectMemo<object, { kind: OurKind; value: Resource }>;
}

export function createValidationCache(): ValidationCache {
  return { valid: new ObjectMemo('validated resource') };
}

type Resource = VaultKey | SpendPolicy | Secret;

/**
 * One document's verdict, which depends on no other document: a resource of ours, or its problems.
 * `assemble` puts the verdicts of every document together (in their order), which is where the
 * duplicate check, the only rule across documents, is made. A source that keeps verdicts per file
 * (the file source) need not keep the documents they came from.
 */
export type Verdict =
  | {
      readonly type: 'resource';
      readonly kind: OurKind;
      readonly value: Resource;
      readonly source: string;
      readonly index: number;
    }
  | {
      readonly type: 'invalid';
      readonly errors: DocumentError[];
      readonly rejected?: RejectedObject;
      /**
       * A Secret whose document cannot be read but names itself: what it holds is not known, so a
       * refused change in `serve` takes out the keys whose token or upstream credential it holds
       * (ManifestOrigin.unreadableSecret, revocations.ts). Fifteenth round, probe fixes15b finding 3.
       */
      readonly unreadableSecret?: { readonly namespace: string; readonly name: string };
      /** The file, when no error says it (a broken document's name is read apart: source.ts). */
      readonly source?: string;
      /**
       * Set on the one verdict of a file with YAML errors that stands for them: whether a document
       * with an error there names no object for sure (ParsedFile.unnamedError), so that what the file
       * no longer holds may be hidden by it (ManifestOrigin.hidesNothing). Sixteenth round.
       */
      readonly hides?: boolean;
      /** With `hides`: the objects its documents with errors name themselves as (any namespace). */
      readonly names?: readonly {
        readonly kind: OurKind;
        readonly namespace: string;
        readonly name: string;
      }[];
    };

/**
 * Raw documents → typed resources: the schemas' own parse, run by every source before it emits a
 * ResourceSet (DESIGN.md §3), and by `policy-check`. Documents of other
 * kinds are skipped silently (manifest directories hold Deployments too); our kinds with a wrong
 * apiVersion, unknown kinds in our API group, schema violations and duplicates are errors.
 * Messages name the field and never echo a Secret's value (Secrets pass through here).
 */
export function validate(docs: readonly RawDocument[], opts: CheckOptions = {}): ValidationResult {
  return assemble(checkDocuments(docs, opts));
}

/** How documents are checked: what their source supplies that they do not say themselves. */
export interface CheckOptions {
  /** For objects that name no namespace (manifest files); default DEFAULT_NAMESPACE. */
  readonly defaultNamespace?: string;
  readonly cache?: ValidationCache;
  /**
   * true for manifest files: `metadata.uid` is dropped, so the compiler derives it from namespace
   * and name. A uid scopes a key's counters (`{vk:<uid>}`), and one a file could choose would let a
   * key of one namespace spend another's caps and idempotency records; files copied from `kubectl
   * get -o yaml` carry the cluster's uid, so it is ignored rather than refused. The API server
   * assigns the cluster's own.
   */
  readonly ignoreUid?: boolean;
  /**
   * true for manifest files: a SpendPolicy's or VaultKey's `status` holds only the fields the operator
   * writes, so a spec field appended under the `status:` that `kubectl get -o yaml` prints last is
   * refused, not dropped (meta.ts `fileStatus`). The API server keeps only what the CRD declares.
   */
  readonly closedStatus?: boolean;
}

/**
 * `{ expiresAt }` of an invalid SpendPolicy's spec when that field alone is valid (RejectedObject.expiresAt);
 * else nothing. Fifteenth round (probe newuser finding 1): an earlier expiry written beside a mistake
 * in the policy's own document was held back with it, and its keys went on spending.
 */
function validExpiry(spec: unknown): { expiresAt?: string } {
  if (spec === null || typeof spec !== 'object') return {};
  const at = (spec as Record<string, unknown>).expiresAt;
  return Timestamp.safeParse(at).success ? { expiresAt: at as string } : {};
}

/** Each document's verdict on its own (`validate` without the duplicate check). */
export function checkDocuments(docs: readonly RawDocument[], opts: CheckOptions = {}): Verdict[] {
  const defaultNamespace = opts.defaultNamespace ?? DEFAULT_NAMESPACE;
  const verdicts: Verdict[] = [];
  const invalid = (errors: DocumentError[], rejected?: RejectedObject) =>
    verdicts.push(rejected ? { type: 'invalid', errors, rejected } : { type: 'invalid', errors });

  const visit = (raw: RawDocument, doc: unknown): void => {
    if (doc === null || doc === undefined) return; // an empty document (`---` at the end of a file)
    if (typeof doc !== 'object' || Array.isArray(doc)) {
      invalid([
        {
          source: raw.source,
          index: raw.index,
          path: '',
          message: 'is not a Kubernetes object (expected a mapping with apiVersion and kind)',
        },
      ]);
      return;
    }
    const o = doc as Record<string, unknown>;
    const kind = typeof o.kind === 'string' ? o.kind : undefined;
    const apiVersion = typeof o.apiVersion === 'string' ? o.apiVersion : undefined;
    if (kind === 'List' && Array.isArray(o.items)) {
      for (const item of o.items) visit(raw, item);
      return;
    }
    const ours = classify(kind, apiVersion);
    if (ours === 'ignore') return;
    const known = opts.cache?.valid.get(o);
    if (known && known.kind === ours) {
      verdicts.push(resourceVerdict(ours, known.value, raw));
      return;
    }
    if (ours === 'bad-version') {
      const { ident } = identify(raw, kind, o.metadata, defaultNamespace, opts.ignoreUid === true);
      invalid([
        { ...ident, path: 'apiVersion', message: `must be "${kind === 'Secret' ? 'v1' : API_VERSION}"` },
      ]);
      return;
    }
    if (ours === 'unknown-kind') {
      const { ident } = identify(raw, kind, o.metadata, defaultNamespace, opts.ignoreUid === true);
      const message =
        kind === undefined
          ? `is required: VaultKey or SpendPolicy (in ${GROUP})`
          : `unknown kind in ${GROUP}: expected VaultKey or SpendPolicy`;
      invalid([{ ...ident, path: 'kind', message }]);
      return;
    }
    const schema = (opts.closedStatus === true ? FILE_SCHEMAS : CLUSTER_SCHEMAS)[ours];
    const parsed = schema.safeParse(doc);
    if (!parsed.success) {
      const { meta, ident } = identify(raw, kind, o.metadata, defaultNamespace, opts.ignoreUid === true);
      const errs = describeIssues(parsed.error.issues, doc).map((problem) => ({ ...ident, ...problem }));
      if (ours === 'Secret' && meta.name !== undefined && meta.namespace !== undefined) {
        verdicts.push({
          type: 'invalid',
          errors: errs,
          unreadableSecret: { namespace: meta.namespace, name: meta.name },
        });
        return;
      }
      invalid(
        errs,
        ours !== 'Secret' && meta.name !== undefined && meta.namespace !== undefined
          ? {
              kind: ours,
              namespace: meta.namespace,
              name: meta.name,
              ...(meta.uid !== undefined && { uid: meta.uid }),
              ...(meta.generation !== undefined && { generation: meta.generation }),
              errors: errs,
              ...(ours === 'SpendPolicy' && validExpiry(o.spec)),
            }
          : undefined,
      );
      return;
    }
    const value = parsed.data as Resource;
    value.metadata.namespace ??= defaultNamespace;
    if (opts.ignoreUid) delete value.metadata.uid;
    opts.cache?.valid.set(o, { kind: ours, value });
    verdicts.push(resourceVerdict(ours, value, raw));
  };

  for (const raw of docs) visit(raw, raw.doc);
  return verdicts;
}

/**
 * A resource's verdict, every field written in the literal: the file source keeps one per resource
 * (200 000 at 100 000 keys), and spreading `source` and `index` in put them in a second object, a
 * property array of 38 bytes per verdict.
 */
function resourceVerdict(kind: OurKind, value: Resource, raw: RawDocument): Verdict {
  return { type: 'resource', kind, value, source: raw.source, index: raw.index };
}

/** Verdicts → the ResourceSet and every problem, in the documents' order; a repeated resource is an error. */
export function assemble(verdicts: Iterable<Verdict>): ValidationResult {
  const policies: SpendPolicy[] = [];
  const keys: VaultKey[] = [];
  const secrets: Secret[] = [];
  const rejected: RejectedObject[] = [];
  const errors: DocumentError[] = [];
  // Two resources are duplicates when kind, namespace and name are the same: looked up without
  // building a `Kind/namespace/name` string per resource (kept with the verdicts, those strings
  // were 23 MiB of serve's compile thread at 100 000 keys).
  const seen: Record<OurKind, ByNamespace<{ source: string; index: number }>> = {
    VaultKey: new ByNamespace(),
    SpendPolicy: new ByNamespace(),
    Secret: new ByNamespace(),
  };
  for (const v of verdicts) {
    if (v.type === 'invalid') {
      for (const e of v.errors) errors.push(e);
      if (v.rejected) rejected.push(v.rejected);
      continue;
    }
    const { metadata } = v.value;
    const namespace = metadata.namespace!; // checkDocuments gives every resource one
    const first = seen[v.kind].get(namespace, metadata.name);
    if (first) {
      errors.push({
        source: v.source,
        index: v.index,
        kind: v.kind,
        namespace: metadata.namespace,
        name: metadata.name,
        path: 'metadata.name',
        message: `duplicate ${v.kind}: also defined in ${first.source} document ${first.index + 1}`,
      });
      continue;
    }
    seen[v.kind].set(namespace, metadata.name, v);
    if (v.kind === 'VaultKey') keys.push(v.value as VaultKey);
    else if (v.kind === 'SpendPolicy') policies.push(v.value as SpendPolicy);
    else secrets.push(v.value as Secret);
  }
  return { set: { policies, keys, secrets, rejected }, errors };
}

function classify(
  kind: string | undefined,
  apiVersion: string | undefined,
): OurKind | 'ignore' | 'bad-version' | 'unknown-kind' {
  if (kind === 'VaultKey' || kind === 'SpendPolicy') return apiVersion === API_VERSION ? kind : 'bad-version';
  if (kind === 'Secret') return apiVersion === 'v1' ? 'Secret' : 'ignore';
  if (apiVersion?.startsWith(`${GROUP}/`)) return 'unknown-kind';
  return 'ignore';
}

/**
 * Who a document says it is, for its errors: made only for a document with errors (a valid one's
 * resource says it), not for each of the 200 000 documents of a 100 000-key directory.
 */
function identify(
  raw: RawDocument,
  kind: string | undefined,
  metadata: unknown,
  defaultNamespace: string,
  ignoreUid: boolean,
) {
  const meta = readMeta(metadata, defaultNamespace, ignoreUid);
  return {
    meta,
    ident: { source: raw.source, index: raw.index, kind, namespace: meta.namespace, name: meta.name },
  };
}

function readMeta(
  metadata: unknown,
  defaultNamespace: string,
  ignoreUid: boolean,
): { name?: string; namespace?: string; uid?: string; generation?: number } {
  if (typeof metadata !== 'object' || metadata === null) return {};
  const m = metadata as Record<string, unknown>;
  // Only a valid name and namespace name an object: a string that is not (`namespace: "agents`
  // closed lines later, `namespace: [agents]`) may hold the rest of its file, Secrets' values
  // included, and is printed in errors and rejection lines; and a namespace written but unreadable
  // is not the default one (sixteenth round, probe fixes16a findings 1-3: read so, a typo moved a
  // policy out of its namespace, and took another tenant's `default/bot` out). Absent: the default.
  const name = ObjectName.safeParse(m.name).success ? (m.name as string) : undefined;
  const namespace =
    m.namespace === undefined
      ? defaultNamespace
      : NamespaceName.safeParse(m.namespace).success
        ? (m.namespace as string)
        : undefined;
  return {
    ...(name !== undefined && namespace !== undefined && { name, namespace }),
    ...(!ignoreUid && typeof m.uid === 'string' && { uid: m.uid }),
    ...(typeof m.generation === 'number' && { generation: m.generation }),
  };
}

/**
 * Zod's issues → one problem per field and message: two checks can refuse a value for one reason
 * (a number beyond the safe integers fails both z.int()'s bound and the field's own maximum), and
 * the error, and the PolicyInvalid condition of every key quoting it, said it twice (seventh round).
 */
function describeIssues(
  issues: readonly z.core.$ZodIssue[],
  doc: unknown,
): { path: string; message: string }[] {
  const seen = new Set<string>();
  const problems: { path: string; message: string }[] = [];
  for (const issue of issues) {
    const problem = describeIssue(issue, doc);
    const key = `${problem.path}\0${problem.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    problems.push(problem);
  }
  return problems;
}

/**
 * One zod issue → field path and a message that names what is expected and, for a value of another
 * type, how YAML read it (scalar-hint.ts), never a Secret's value.
 */
function describeIssue(issue: z.core.$ZodIssue, doc: unknown): { path: string; message: string } {
  const path = formatPath(issue.path);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const several = issue.keys.length > 1;
      // Names the tenant chose, of any length and holding anything: quoted bounded and escaped.
      const names = issue.keys.map((k) => `"${shownName(k)}"`).join(', ');
      const where = formatPath([...issue.path, issue.keys[0] ?? '']);
      const fields = `unknown field${several ? 's' : ''} ${names}`;
      // At the root, in metadata (a spec field under a `metadata:` written after `spec:`) or in status
      // (one appended to an exported manifest, whose status comes last), a misplaced spec field is a
      // likelier mistake than a typo.
      const it = several ? 'them' : 'it';
      const belongs = several ? 'they belong' : 'it belongs';
      const misplaced = 'unknown fields are errors so a misplaced one cannot weaken a policy';
      const message =
        issue.path.length === 0
          ? `${fields} at the top level, beside spec (indent ${it} under spec if that is where ${belongs}: ${misplaced})`
          : path === 'metadata'
            ? `${fields} in metadata, which holds only Kubernetes' object metadata (move ${it} under spec if that is where ${belongs}: ${misplaced})`
            : path === 'status'
              ? `${fields} in status, which holds only what the operator reports and is never read (move ${it} under spec if that is where ${belongs}: ${misplaced})`
              : `${fields} (check the spelling: unknown fields are errors so a typo cannot weaken a policy)`;
      return { path: several ? path : where, message };
    }
    case 'invalid_type':
    case 'invalid_value': {
      // zod does not report the input (good: it may be a secret), so it is looked up: whether the
      // field exists, and what YAML made of it.
      const value = valueAt(doc, issue.path);
      if (value === undefined) return { path, message: 'is required' };
      if (issue.code === 'invalid_type') {
        const message = issue.message.startsWith('Invalid input')
          ? `must be ${issue.expected === 'int' ? 'a whole number' : article(issue.expected)}`
          : issue.message;
        // A field whose own message already says to write it in quotes (amounts) needs no hint.
        if (message.includes('in quotes')) return { path, message };
        return { path, message: message + typeHint(issue.expected, value, !isSecretValue(doc, issue.path)) };
      }
      return { path, message: issue.message };
    }
    default:
      return { path, message: issue.message };
  }
}

/** A Secret's data or stringData value: a credential, never shown in a message. */
function isSecretValue(doc: unknown, path: readonly PropertyKey[]): boolean {
  return (doc as { kind?: unknown }).kind === 'Secret' && (path[0] === 'data' || path[0] === 'stringData');
}

function valueAt(doc: unknown, path: readonly PropertyKey[]): unknown {
  let cur = doc;
  for (const seg of path) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[seg];
  }
  return cur;
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else {
      // A map's key or an unknown field's name is the tenant's: bounded and escaped (shownName).
      const name = shownName(String(seg));
      out += out ? `.${name}` : name;
    }
  }
  return out;
}

/** `a string`, `an object`, `an array`: a zod type name with its article. */
function article(type: string): string {
  return `${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}`;
}
