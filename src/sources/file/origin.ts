import { normalize, sep } from 'node:path';
import { ByNamespace } from '../../api/by-namespace.ts';
import type { Defined, DocumentError, ManifestOrigin } from '../../api/resource-set.ts';
import type { Verdict } from '../../api/validate.ts';

type Kind = 'VaultKey' | 'SpendPolicy' | 'Secret';
type Resource = Defined[Kind];

/**
 * The ManifestOrigin of one file source update: its files' verdicts, its errors, and the paths it
 * found missing. Nothing is computed until asked, and then once: only a refused change asks (the
 * runner, for the update in force and the refused one), so an accepted reload costs nothing more.
 */
export function manifestOrigin(
  files: readonly (readonly Verdict[])[],
  errors: readonly DocumentError[],
  missing: ReadonlySet<string>,
): ManifestOrigin {
  let where: Record<Kind, ByNamespace<string>> | undefined;
  /** The second and later definitions of each name defined more than once. */
  let duplicates: { [K in Kind]: ByNamespace<Defined[K][]> } | undefined;
  let failed: Set<string> | undefined;
  let unreadable: ByNamespace<true> | undefined;
  let named: Map<string, string[]> | undefined;
  let errorsNamed: Map<string, boolean> | undefined;
  /** One pass over the verdicts, when a refusal first asks. */
  const locate = () => {
    where = { VaultKey: new ByNamespace(), SpendPolicy: new ByNamespace(), Secret: new ByNamespace() };
    duplicates = { VaultKey: new ByNamespace(), SpendPolicy: new ByNamespace(), Secret: new ByNamespace() };
    for (const file of files)
      for (const v of file) {
        if (v.type !== 'resource') continue;
        const { metadata } = v.value;
        const namespace = metadata.namespace!;
        // The first definition is the one the set holds (assemble); the others are kept aside.
        if (where[v.kind].get(namespace, metadata.name) === undefined)
          where[v.kind].set(namespace, metadata.name, v.source);
        else {
          const names: ByNamespace<Resource[]> = duplicates[v.kind];
          const others = names.get(namespace, metadata.name);
          if (others) others.push(v.value);
          else names.set(namespace, metadata.name, [v.value]);
        }
      }
    return { where, duplicates };
  };
  return {
    fileOf(kind, namespace, name) {
      return (where ?? locate().where)[kind].get(namespace, name);
    },
    duplicatesOf<K extends keyof Defined>(kind: K, namespace: string, name: string) {
      return (duplicates ?? locate().duplicates)[kind].get(namespace, name) ?? [];
    },
    failed(file) {
      failed ??= filesWithErrors(files, errors, missing);
      const path = normalize(file);
      if (failed.has(path)) return true;
      // A directory that could not be listed: every file under it.
      for (const source of failed)
        if (path.startsWith(source.endsWith(sep) ? source : source + sep)) return true;
      return false;
    },
    unreadableSecret(namespace, name) {
      unreadable ??= unreadableSecrets(files);
      return unreadable.get(namespace, name) === true;
    },
    namespacesIn(kind, file, name) {
      named ??= namesByFile(files);
      return named.get(nameInFile(kind, file, name)) ?? [];
    },
    hidesNothing(file) {
      errorsNamed ??= namedErrorsByFile(files);
      return errorsNamed.get(normalize(file)) === true;
    },
  };
}

/** Per file with an invalid verdict, whether each names its object (ManifestOrigin.hidesNothing). */
function namedErrorsByFile(files: readonly (readonly Verdict[])[]): Map<string, boolean> {
  const out = new Map<string, boolean>();
  for (const file of files)
    for (const v of file) {
      if (v.type !== 'invalid') continue;
      const source = v.source ?? v.errors[0]?.source ?? v.rejected?.errors[0]?.source;
      // No file to put it to: nothing can be said of any file (fail closed: held, as before).
      if (source === undefined) return new Map();
      const path = normalize(source);
      const names =
        v.hides !== undefined ? !v.hides : v.rejected !== undefined || v.unreadableSecret !== undefined;
      out.set(path, (out.get(path) ?? true) && names);
    }
  return out;
}

const nameInFile = (kind: Kind, file: string, name: string) => `${kind}\0${normalize(file)}\0${name}`;

/**
 * Per file, kind and name, the namespaces its documents name: valid resources, invalid ones
 * (RejectedObject, an unreadable Secret) and broken ones that name themselves (ManifestOrigin.namespacesIn).
 */
function namesByFile(files: readonly (readonly Verdict[])[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const add = (kind: Kind, file: string | undefined, namespace: string, name: string) => {
    if (file === undefined) return;
    const at = nameInFile(kind, file, name);
    const list = out.get(at);
    if (!list) out.set(at, [namespace]);
    else if (!list.includes(namespace)) list.push(namespace);
  };
  for (const file of files)
    for (const v of file) {
      if (v.type === 'resource') add(v.kind, v.source, v.value.metadata.namespace!, v.value.metadata.name);
      else {
        const source = v.source ?? v.errors[0]?.source ?? v.rejected?.errors[0]?.source;
        if (v.rejected) add(v.rejected.kind, source, v.rejected.namespace, v.rejected.name);
        if (v.unreadableSecret) add('Secret', source, v.unreadableSecret.namespace, v.unreadableSecret.name);
        for (const n of v.names ?? []) add(n.kind, source, n.namespace, n.name);
      }
    }
  return out;
}

/** The Secrets the files hold a document of that cannot be read (Verdict.unreadableSecret). */
function unreadableSecrets(files: readonly (readonly Verdict[])[]): ByNamespace<true> {
  const out = new ByNamespace<true>();
  for (const file of files)
    for (const v of file)
      if (v.type === 'invalid' && v.unreadableSecret)
        out.set(v.unreadableSecret.namespace, v.unreadableSecret.name, true);
  return out;
}

/**
 * The files (or directories) read with an error of their own: one that could not be read, a YAML
 * error, a document the schema refuses. Not the `duplicate` error `assemble` files under the later
 * of two definitions of a name: that file read well, and holding it at its last good version let
 * anyone who added an earlier-sorting file reusing a name of it (a copied SpendPolicy `caps`) keep
 * a key deleted from it served, and its replaced token or upstream key working (tenth round). The
 * duplicated name itself fails closed in revocationsOf: the set holds the first definition, and
 * what any other one revokes applies (duplicatesOf).
 *
 * A duplicate error is the one at a document read as a valid resource of the same kind, namespace
 * and name, on `metadata.name`: a document is either valid or not, so no error of its own is there.
 */
function filesWithErrors(
  files: readonly (readonly Verdict[])[],
  errors: readonly DocumentError[],
  missing: ReadonlySet<string>,
): Set<string> {
  const own = errors.filter((e) => !missing.has(e.source));
  const named = own.filter((e) => e.path === 'metadata.name' && e.name !== undefined);
  const duplicates = new Set<DocumentError>();
  if (named.length > 0) {
    const at = new Map<string, DocumentError[]>();
    for (const e of named) {
      const where = `${e.index} ${e.source}`;
      const list = at.get(where);
      if (list) list.push(e);
      else at.set(where, [e]);
    }
    for (const file of files)
      for (const v of file) {
        if (v.type !== 'resource') continue;
        const candidates = at.get(`${v.index} ${v.source}`);
        if (!candidates) continue;
        const { namespace, name } = v.value.metadata;
        for (const e of candidates)
          if (
            e.kind === v.kind &&
            e.namespace === namespace &&
            e.name === name &&
            e.message.startsWith('duplicate ')
          )
            duplicates.add(e);
      }
  }
  return new Set(own.filter((e) => !duplicates.has(e)).map((e) => normalize(e.source)));
}
