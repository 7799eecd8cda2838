import { normalize, sep } from 'node:path';
import { ByNamespace } from '../../api/by-namespace.ts';
import type { DocumentError, ManifestOrigin } from '../../api/resource-set.ts';
import type { Verdict } from '../../api/validate.ts';

type Kind = 'VaultKey' | 'SpendPolicy' | 'Secret';

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
  let failed: Set<string> | undefined;
  return {
    fileOf(kind, namespace, name) {
      if (!where) {
        where = { VaultKey: new ByNamespace(), SpendPolicy: new ByNamespace(), Secret: new ByNamespace() };
        for (const file of files)
          for (const v of file) {
            if (v.type !== 'resource') continue;
            const { metadata } = v.value;
            const names = where[v.kind];
            // The first definition is the one the set holds (assemble).
            if (names.get(metadata.namespace!, metadata.name) === undefined)
              names.set(metadata.namespace!, metadata.name, v.source);
          }
      }
      return where[kind].get(namespace, name);
    },
    failed(file) {
      failed ??= new Set(errors.filter((e) => !missing.has(e.source)).map((e) => normalize(e.source)));
      const path = normalize(file);
      if (failed.has(path)) return true;
      // A directory that could not be listed: every file under it.
      for (const source of failed)
        if (path.startsWith(source.endsWith(sep) ? source : source + sep)) return true;
      return false;
    },
  };
}
