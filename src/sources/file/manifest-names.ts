import { extname } from 'node:path';

const EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

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
