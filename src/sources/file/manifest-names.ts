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

/**
 * How many folders one walk of a manifests folder lists at most (the loader, the watcher and its
 * fingerprint alike); a folder met past it is an error of its own, never listed. The depth bound
 * alone let a walk list one folder once per PATH to it: fifteen folders, each with two links to the
 * next (a symlink "diamond"), made 2^15 listings of each load, and `serve` took 38 s to listen and a
 * `suspended: true` 24 s to apply (eleventh round). Each real folder is now listed once per walk
 * (FolderWalk), and this bounds what is left: a layout by cluster, team and vendor is hundreds of
 * folders; 10 000 is ~0.5 s of a load.
 */
export const MAX_FOLDERS = 10_000;

/**
 * One walk's memory of the folders it listed, by real path: a folder reached again (through a
 * second link to it, or a link to a folder above) is not listed again, its files were found the
 * first time, and a walk lists at most MAX_FOLDERS. The three walks take it in the same order
 * (entries sorted by name, depth first), so that they agree on which path a folder is read under.
 */
export interface FolderWalk {
  /**
   * A folder reached at its real path `real`: `list` it (counted), skip it as `seen` (listed
   * already in this walk), or `over` (past MAX_FOLDERS: not listed, an error for the loader).
   */
  enter(real: string): 'list' | 'seen' | 'over';
}

export function createFolderWalk(maxFolders = MAX_FOLDERS): FolderWalk {
  const listed = new Set<string>();
  return {
    enter(real) {
      if (listed.has(real)) return 'seen';
      if (listed.size >= maxFolders) return 'over';
      listed.add(real);
      return 'list';
    },
  };
}
