import { type Document, isMap, isScalar, isSeq, parseAllDocuments, type YAMLMap } from 'yaml';
import { API_VERSION } from '../../api/v1alpha1/index.ts';
import { NamespaceName, ObjectName, Timestamp } from '../../api/v1alpha1/meta.ts';
import { isStackOverflow } from './plain-yaml.ts';

/**
 * A VaultKey or SpendPolicy of a document that cannot be read, as far as it names itself. What the
 * document says is not known, so a refused change takes the key out (fail closed) and applies the
 * policy's earliest expiry written in it (revocations.ts; the file source makes these rejected
 * objects). Fifteenth round: a `suspended: true` line added under the key's `suspended: false` (a
 * mapping key written twice) was held at the version in force and the key went on spending (probe
 * newuser finding 1, variant D); and likewise a key of a file refused whole (saved as UTF-16 by
 * PowerShell's `>`, with lone CR line endings, a `...` marker, a BOM mid-file), a key inside a
 * broken `kind: List`, and a policy's earlier `expiresAt` written as a second line under the first
 * (probe fixes15 findings 1 and 3).
 */
export interface BrokenObject {
  /** A Secret: what it holds is not known, so the keys whose credentials it holds are taken out. */
  readonly kind: 'VaultKey' | 'SpendPolicy' | 'Secret';
  readonly name: string;
  /** Absent: the file source's default namespace. */
  readonly namespace?: string;
  /**
   * SpendPolicy: the earliest `spec.expiresAt` the parser recovered that is a valid Timestamp. A
   * broken policy without one names nothing: a typo in it must not take all its keys down.
   */
  readonly expiresAt?: string;
}

/**
 * What a document with a YAML error names of itself: the VaultKey or SpendPolicy it is, or those of
 * its items if it is a `kind: List` (as checkDocuments reads a List). Only `apiVersion`, `kind`,
 * `metadata.name`, `metadata.namespace` and (a policy's) `spec.expiresAt` are read, each as the plain
 * scalar text `yaml` recovered.
 *
 * An object names itself only when each of `apiVersion`, `kind`, `metadata` and `metadata.name` is
 * written once in its mapping (and `metadata.namespace` at most once): a second key appended to a
 * file without a `---` line made one document naming two keys, and the first, untouched one (in
 * production) was taken out where `kubectl apply` would apply the second and leave the first as it
 * is (probe fixes15 finding 6). A document naming more than one object names none: it is held back
 * as any broken file is.
 */
export function brokenObjectsOf(doc: Document.Parsed): BrokenObject[] {
  const out: BrokenObject[] = [];
  try {
    if (isMap(doc.contents)) visit(doc.contents, out);
  } catch (err) {
    // A List nested deeper than the stack names nothing (its file is refused all the same).
    if (!isStackOverflow(err)) throw err;
  }
  return out;
}

/**
 * The objects a file refused whole names (parse-yaml.ts `refusedWhole`: kubectl would cut it into
 * lines or documents otherwise than `yaml` does, or it holds a number no float64 can, or it is saved
 * as UTF-16): every VaultKey and every SpendPolicy with a valid expiry that a document or List item
 * of it names as above, whether that document reads without error or not. What the file says cannot
 * be read as kubectl reads it, so it is never read as documents (its errors and policy-check stay as
 * they are): only names. `readings` are the file's text as `yaml` would read it and as kubectl would
 * cut its lines (a lone CR ends a line for kubectl, not for `yaml`): an object named by either counts.
 */
export function objectsOfRefused(readings: readonly string[]): BrokenObject[] {
  const out: BrokenObject[] = [];
  for (const text of readings)
    for (const doc of parseAllDocuments(text, { prettyErrors: false, schema: 'failsafe' }))
      out.push(...brokenObjectsOf(doc));
  return out;
}

/**
 * A refused file's text with its lines ended where kubectl ends them (kubectl-lines.ts): CR, NEL,
 * LINE SEPARATOR and PARAGRAPH SEPARATOR end a line, and a byte order mark after the start is
 * dropped (one at a document's start, as a file concatenated from two saved with one, is read by
 * neither as part of `apiVersion`).
 */
export function asKubectlLines(text: string): string {
  return text.replace(/\r(?!\n)|[\x85\u2028\u2029]/g, '\n').replace(/\ufeff/g, '');
}

/**
 * One object per kind, namespace and name, with the earliest expiry any of its documents writes
 * (a refused file read two ways names most of its objects twice).
 */
export function distinctObjects(objects: readonly BrokenObject[]): BrokenObject[] {
  const seen = new Map<string, BrokenObject>();
  for (const o of objects) {
    const id = JSON.stringify([o.kind, o.namespace ?? null, o.name]);
    const was = seen.get(id);
    if (!was || (o.expiresAt !== undefined && Date.parse(o.expiresAt) < Date.parse(was.expiresAt!)))
      seen.set(id, o);
  }
  return [...seen.values()];
}

function visit(map: YAMLMap, out: BrokenObject[]): void {
  // A merge key (`<<: *base`) can give the object its metadata or namespace, which this reading
  // does not follow: the namespace it read was not the one kubectl and serve read, so another
  // tenant's key was taken out and the one meant kept forwarding (fifteenth round, probe fixes15b
  // finding 2). Such an object names nothing.
  if (hasMergeKey(map)) return;
  const kind = text(once(map, 'kind'));
  if (kind === 'List') {
    const items = once(map, 'items');
    if (isSeq(items)) for (const item of items.items) if (isMap(item)) visit(item, out);
    return;
  }
  const self = identityOf(map, kind);
  if (self === undefined) return;
  const at = self.kind === 'SpendPolicy' ? earliestExpiry(map) : undefined;
  if (self.kind === 'SpendPolicy' && at === undefined) return;
  out.push({ ...self, ...(at !== undefined && { expiresAt: at }) });
}

/** The kind, name and namespace (absent: the file source's default) an object names itself by. */
export type Identity = Omit<BrokenObject, 'expiresAt'>;

/**
 * What a document with an error is, when it is one object of ours that names itself as above (a
 * SpendPolicy whatever its expiry; not a List): then it is that object and hides no other of its
 * file. One that is not may be a VaultKey, SpendPolicy or Secret written with a mistake past
 * naming, so what its file no longer holds is held back (revocations.ts; sixteenth round).
 */
export function identityOfDocument(doc: Document.Parsed): Identity | undefined {
  const map = doc.contents;
  if (!isMap(map) || hasMergeKey(map)) return undefined;
  const kind = text(once(map, 'kind'));
  return kind === 'List' ? undefined : identityOf(map, kind);
}

/** The kind, name and namespace a mapping names itself by, when it does unambiguously. */
function identityOf(map: YAMLMap, kind: string | undefined): Identity | undefined {
  const apiVersion = text(once(map, 'apiVersion'));
  const ours = (kind === 'VaultKey' || kind === 'SpendPolicy') && apiVersion === API_VERSION;
  if (!ours && !(kind === 'Secret' && apiVersion === 'v1')) return undefined;
  const metadata = once(map, 'metadata');
  if (!isMap(metadata) || hasMergeKey(metadata)) return undefined;
  // Only a valid name and namespace name an object (validate.ts readMeta): an unclosed quote's
  // scalar runs on through the file, Secrets' values included, and a namespace written but
  // unreadable is not the default one (sixteenth round, probe fixes16a findings 1-3).
  const name = text(once(metadata, 'name'));
  if (name === undefined || !ObjectName.safeParse(name).success) return undefined;
  const namespaces = metadata.items.filter((p) => keyIs(p.key, 'namespace'));
  if (namespaces.length > 1) return undefined;
  const namespace = namespaces.length === 1 ? text(namespaces[0]!.value) : undefined;
  if (namespaces.length === 1 && (namespace === undefined || !NamespaceName.safeParse(namespace).success))
    return undefined;
  return { kind: kind as BrokenObject['kind'], name, ...(namespace !== undefined && { namespace }) };
}

/**
 * The earliest valid Timestamp among every `expiresAt` of every `spec` the parser recovered: an
 * expiry written twice (the second line an earlier one) is a YAML error, and the earlier of the two
 * can only refuse more.
 */
function earliestExpiry(policy: YAMLMap): string | undefined {
  let earliest: string | undefined;
  for (const spec of policy.items) {
    if (!keyIs(spec.key, 'spec') || !isMap(spec.value)) continue;
    for (const field of spec.value.items) {
      const at = keyIs(field.key, 'expiresAt') ? text(field.value) : undefined;
      if (at === undefined || !Timestamp.safeParse(at).success) continue;
      if (earliest === undefined || Date.parse(at) < Date.parse(earliest)) earliest = at;
    }
  }
  return earliest;
}

function hasMergeKey(map: YAMLMap): boolean {
  return map.items.some((p) => keyIs(p.key, '<<'));
}

/** The value of `key` in `map` when it is written there exactly once; else undefined. */
function once(map: YAMLMap, key: string): unknown {
  const found = map.items.filter((p) => keyIs(p.key, key));
  return found.length === 1 ? found[0]!.value : undefined;
}

function keyIs(node: unknown, key: string): boolean {
  return isScalar(node) && node.value === key;
}

/** A scalar's non-empty text (the failsafe schema leaves every scalar a string). */
function text(node: unknown): string | undefined {
  return isScalar(node) && typeof node.value === 'string' && node.value !== '' ? node.value : undefined;
}
