import { extname } from 'node:path';

const EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/**
 * How many folders deep a walk of a manifests folder goes below the folder given (the loader, the
 * watcher and its fingerprint alike); a folder deeper is an error of its own, never read. Each level
 * costs every walk a resolution of its whole path, so a chain of 1 000 empty folders made every load
 * ~cubic: `serve` took 30 s to listen and a `suspended: true` 23 s to apply (eleventh round). A
 * layout by cluster, team and vendor is a handful of levels.
 */
export const MAX_FOLDER_DEPTH = 32;

/**
 * Whether a directory walk reads an entry of this name (listManifests' rule, which the watcher and
 * its fingerprint share, so that what no load reads never triggers one): never a dot entry (a
 * ConfigMap volume's `..data` links would load every file twice, and editors' swap files are dot
 * files); a folder, walked; a file only as *.yaml, *.yml or *.json. A file named explicitly is read
 * whatever its name: this is about what is found in a folder.
 */
export function walkReads(name: string, isDirectory: boolean): boolean {
  return !name.startsWith('.') && (isDirectory || EXTENSIONS.has(extname(name).toLowerCase()));
}
