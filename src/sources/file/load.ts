import { hash } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { constants } from 'node:fs';
import { type FileHandle, open, readdir, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { DocumentError, RawDocument } from '../../api/resource-set.ts';
import { type KindOfFile, kindOfFile } from './file-kind.ts';
import {
  createFolderWalk,
  type FolderWalk,
  MAX_FOLDER_DEPTH,
  MAX_FOLDERS,
  walkReads,
} from './manifest-names.ts';
import { type ParsedFile, parseManifestFile } from './parse-yaml.ts';
import { refusalOf } from './read-guard.ts';

/** What `loadManifests` read: every document, and every file or YAML problem met on the way. */
export interface LoadResult {
  readonly documents: RawDocument[];
  readonly errors: DocumentError[];
}

/**
 * Reads manifest files and directories (recursively, *.yaml/*.yml/*.json, sorted) into raw documents
 * for `validate` (file source, DESIGN.md §3). A file named explicitly is read whatever its extension.
 * Entries starting with `.` are skipped: a ConfigMap volume's `..data` links would load every file twice.
 * A YAML error in one file becomes a DocumentError with its line; the other files still load.
 */
export function loadManifests(paths: readonly string[]): Promise<LoadResult> {
  return loadThrough(createFileReader({ digest: (parsed) => parsed }), paths);
}

/** One load through a reader that keeps each file's parse: every document and every error, in order. */
export async function loadThrough(
  reader: { load(paths: readonly string[]): Promise<FileEntry<ParsedFile>[]> },
  paths: readonly string[],
): Promise<LoadResult> {
  const { items: documents, errors } = flattenEntries(await reader.load(paths), (f) => f.documents);
  return { documents, errors };
}

/** File entries → every file's items, and the errors (unreadable files, each file's own), in order. */
export function flattenEntries<T extends { readonly errors: readonly DocumentError[] }, I>(
  entries: readonly FileEntry<T>[],
  itemsOf: (file: T) => readonly I[],
): { items: I[]; errors: DocumentError[] } {
  const items: I[] = [];
  const errors: DocumentError[] = [];
  for (const entry of entries) {
    if ('error' in entry) errors.push(entry.error);
    else {
      for (const e of entry.file.errors) errors.push(e);
      for (const item of itemsOf(entry.file)) items.push(item);
    }
  }
  return { items, errors };
}

/**
 * What a file reader read: per path given or file found, in order, its digest or why it could not
 * (`missing`: because it is not there, as opposed to unreadable).
 */
export type FileEntry<T> =
  | { readonly file: T }
  | { readonly error: DocumentError; readonly missing: boolean };

/**
 * Reads manifest files and hands each through `digest` (its parsed documents → whatever the caller
 * keeps of them), only for the files that changed since its last load: an unchanged file's entry is
 * the very value of last time, which the caller's caches then recognise, so an edit to one file of a
 * 100 000-key directory costs that file. The file source keeps each file's verdicts (`validate`'s
 * first half), not its documents.
 *
 * "Unchanged" is the file's identity and stat: device, inode, size, mtime and ctime, to the
 * nanosecond. The kernel sets ctime on every write and no one can set it back, so a copy that keeps
 * mtimes (`cp -p`, `rsync -t`) still shows. Timestamps are coarse, though (a clock tick), so a file
 * written twice within one tick could keep its stat across the second write: as git does with its
 * index, a file modified less than RACY_MS before it was read is read again next time whatever its
 * stat says. A file read again whose text is what it was (its SHA-256) keeps its value too: a file
 * read racily is most often one written just before `serve` started, and unchanged since.
 */
export function createFileReader<T>(opts: {
  now?: () => number;
  /** Reads a file's text from its opened handle (tests: to see that a file is not read). */
  readText?: (file: string, handle: FileHandle) => Promise<string>;
  /** `text` and `file` for a caller that reads more than the documents (policy-check's octal warnings). */
  digest: (parsed: ParsedFile, text: string, file: string) => T;
}): {
  load(paths: readonly string[]): Promise<FileEntry<T>[]>;
  /**
   * When every file the last load read racily is out of the racy window (epoch ms, by `now`):
   * a load from then on records their stat, so later loads need not read them again. Undefined
   * when none was racy.
   */
  settlesAt(): number | undefined;
} {
  const now = opts.now ?? Date.now;
  const readText = opts.readText ?? ((_file: string, handle: FileHandle) => handle.readFile('utf8'));
  let known = new Map<string, ReadFile<T>>();
  let settlesAt: number | undefined;
  return {
    settlesAt: () => settlesAt,
    async load(paths) {
      let racyUntil: number | undefined;
      const entries: FileEntry<T>[] = [];
      const files: string[] = [];
      for (const path of paths) {
        try {
          const s = await stat(path);
          if (s.isDirectory()) {
            const listed = await listManifests(path);
            files.push(...listed.files);
            // Only what is under a folder that cannot be listed fails: a deletion elsewhere applies.
            for (const u of listed.unlistable) entries.push(unreadable(u.dir, u.err));
            for (const dir of listed.tooDeep) entries.push(tooDeep(dir, path));
            for (const dir of listed.tooMany) entries.push(tooMany(dir, path));
          } else if (s.isFile()) files.push(path);
          else entries.push(notAFile(path, s));
        } catch (err) {
          entries.push(unreadable(path, err));
        }
      }
      const next = new Map<string, ReadFile<T>>();
      for (const file of [...new Set(files)]) {
        let read: ReadFile<T>;
        // The stat and the text come from one opened file, never from the path twice: a link
        // re-pointed between a stat and a read of the path had the cache keep one target's stat with
        // the other's text, which later loads then took as unchanged (eighth round: a suspension
        // flipped in by a release link stayed unapplied). O_NONBLOCK: a FIFO put in the file's place
        // opens at once (and is refused below) instead of blocking the load.
        let handle: FileHandle | undefined;
        try {
          handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
          // Taken before the read: a write after it changes the stat, and the next load reads again.
          const s = await handle.stat({ bigint: true });
          if (!s.isFile()) {
            entries.push(notAFile(file, s)); // Replaced since it was listed.
            continue;
          }
          const racy = now() - Number(s.mtimeMs) < RACY_MS;
          if (racy) racyUntil = Math.max(racyUntil ?? 0, Number(s.mtimeMs) + RACY_MS);
          const seen = racy ? undefined : `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
          const last = known.get(file);
          if (seen !== undefined && last?.stat === seen) read = last;
          else {
            const refusal = refusalOf(await realPathOf(handle, file), s.size);
            if (refusal !== undefined) {
              entries.push({ error: { source: file, index: 0, path: '', message: refusal }, missing: false });
              continue;
            }
            // Nothing to read, and /proc files say 0 whatever a read would block on.
            const text = s.size === 0n ? '' : await readText(file, handle);
            const textDigest = hash('sha256', text, 'base64');
            const value =
              last?.textDigest === textDigest
                ? last.value
                : opts.digest(parseManifestFile(text, file), text, file);
            read = { stat: seen, textDigest, value };
          }
        } catch (err) {
          entries.push(unreadable(file, err));
          continue;
        } finally {
          await handle?.close();
        }
        next.set(file, read);
        entries.push({ file: read.value });
      }
      known = next;
      settlesAt = racyUntil;
      return entries;
    },
  };
}

/** Where the opened file really is (Linux: its descriptor's link), else where its path resolves now. */
async function realPathOf(handle: FileHandle, file: string): Promise<string> {
  try {
    return await realpath(`/proc/self/fd/${handle.fd}`);
  } catch {
    return realpath(file);
  }
}

/** What a reader remembers of a file: its stat (unless racy), its text's SHA-256, what it made of it. */
interface ReadFile<T> {
  readonly stat: string | undefined;
  readonly textDigest: string;
  readonly value: T;
}

/** A file modified this recently (ms) may be written again within the same timestamp tick. */
const RACY_MS = 2_000;

/**
 * The manifest files under a directory, sorted, skipping dot entries, following symlinks, and every
 * folder met that could not be listed (`dir` itself included) with why: one unlistable subfolder
 * does not hide the files of the others. Each real folder is listed once (FolderWalk: a second link
 * to it is skipped, its files were found through the first). `tooDeep`: the folders more than
 * MAX_FOLDER_DEPTH below `dir`; `tooMany`: the folders met once MAX_FOLDERS were listed; neither
 * listed.
 */
export async function listManifests(dir: string, maxFolders = MAX_FOLDERS): Promise<Listing> {
  const found: Listing = { files: [], unlistable: [], tooDeep: [], tooMany: [] };
  await walkFolder(dir, 0, createFolderWalk(maxFolders), found);
  return found;
}

interface Listing {
  files: string[];
  unlistable: { dir: string; err: unknown }[];
  tooDeep: string[];
  tooMany: string[];
}

/** `depth`: folders below the path given. */
async function walkFolder(dir: string, depth: number, walk: FolderWalk, found: Listing): Promise<void> {
  const { files, unlistable } = found;
  if (depth > MAX_FOLDER_DEPTH) {
    found.tooDeep.push(dir);
    return;
  }
  let entries: Dirent[];
  try {
    const seen = walk.enter(await realpath(dir));
    if (seen === 'seen') return;
    if (seen === 'over') {
      found.tooMany.push(dir);
      return;
    }
    entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
  } catch (err) {
    unlistable.push({ dir, err });
    return;
  }
  for (const e of entries) {
    const full = join(dir, e.name);
    let isDir = e.isDirectory();
    let isFile = e.isFile();
    if (e.isSymbolicLink()) {
      const s = await stat(full).catch(() => undefined);
      isDir = s?.isDirectory() ?? false;
      isFile = s?.isFile() ?? false;
    }
    if (!walkReads(e.name, isDir)) continue;
    if (isDir) await walkFolder(full, depth + 1, walk, found);
    else if (isFile) files.push(full);
  }
}

/**
 * A FIFO, a socket or a device given as a manifest: refused, never read. Reading a FIFO blocks until
 * something writes to it, and every later reload, revocations included, would queue behind it.
 */
function notAFile(source: string, s: KindOfFile): { error: DocumentError; missing: boolean } {
  const message = `cannot read: ${kindOfFile(s)}, not a regular file or directory (manifests are files or directories of files)`;
  return { error: { source, index: 0, path: '', message }, missing: false };
}

/** A folder below the walk's bound: an error, so what it holds is not taken as deleted. */
function tooDeep(dir: string, root: string): { error: DocumentError; missing: boolean } {
  const message = `cannot read: more than ${MAX_FOLDER_DEPTH} folders below ${root} (a manifests folder nests at most ${MAX_FOLDER_DEPTH} deep; move its files up)`;
  return { error: { source: dir, index: 0, path: '', message }, missing: false };
}

/** A folder met once the walk listed MAX_FOLDERS: an error, so what it holds is not taken as deleted. */
function tooMany(dir: string, root: string): { error: DocumentError; missing: boolean } {
  const message = `cannot read: more than ${MAX_FOLDERS} folders under ${root} (a manifests folder holds at most ${MAX_FOLDERS} folders; merge files into fewer folders)`;
  return { error: { source: dir, index: 0, path: '', message }, missing: false };
}

function unreadable(source: string, err: unknown): { error: DocumentError; missing: boolean } {
  const code = (err as { code?: string }).code;
  const missing = code === 'ENOENT';
  const why = missing ? 'no such file or directory' : (code ?? 'unreadable');
  return { error: { source, index: 0, path: '', message: `cannot read: ${why}` }, missing };
}
