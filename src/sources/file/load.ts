import { hash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import type { DocumentError, RawDocument } from '../../api/resource-set.ts';
import { type ParsedFile, parseManifestFile } from './parse-yaml.ts';

/** What `loadManifests` read: every document, and every file or YAML problem met on the way. */
export interface LoadResult {
  readonly documents: RawDocument[];
  readonly errors: DocumentError[];
}

const EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/**
 * Reads manifest files and directories (recursively, *.yaml/*.yml/*.json, sorted) into raw documents
 * for `validate` (file source, DESIGN.md §3). A file named explicitly is read whatever its extension.
 * Entries starting with `.` are skipped: a ConfigMap volume's `..data` links would load every file twice.
 * A YAML error in one file becomes a DocumentError with its line; the other files still load.
 */
export function loadManifests(paths: readonly string[]): Promise<LoadResult> {
  return createManifestReader().load(paths);
}

/** `loadManifests` with a memory: what a watcher calls on every change. */
export interface ManifestReader {
  load(paths: readonly string[]): Promise<LoadResult>;
}

/**
 * A reader that reads and parses only the files that changed since its last load: an unchanged
 * file's documents come back as the very objects of last time, which the ValidationCache and the
 * CompileCache then recognise, so an edit to one file of a 100 000-key directory costs that file.
 *
 * "Unchanged" is the file's identity and stat: device, inode, size, mtime and ctime, to the
 * nanosecond. The kernel sets ctime on every write and no one can set it back, so a copy that keeps
 * mtimes (`cp -p`, `rsync -t`) still shows. Timestamps are coarse, though (a clock tick), so a file
 * written twice within one tick could keep its stat across the second write: as git does with its
 * index, a file modified less than RACY_MS before it was read is read again next time whatever its
 * stat says. A file read again whose text is what it was (its SHA-256) keeps its documents too: a
 * file read racily is most often one written just before `serve` started, and unchanged since.
 */
export function createManifestReader(opts: { now?: () => number } = {}): ManifestReader {
  const now = opts.now ?? Date.now;
  let parsed = new Map<string, ReadFile>();
  return {
    async load(paths) {
      const documents: RawDocument[] = [];
      const errors: DocumentError[] = [];
      const files: string[] = [];
      for (const path of paths) {
        try {
          const s = await stat(path);
          if (s.isDirectory()) files.push(...(await listManifests(path)));
          else files.push(path);
        } catch (err) {
          errors.push({ source: path, index: 0, path: '', message: `cannot read: ${errorCode(err)}` });
        }
      }
      const next = new Map<string, ReadFile>();
      for (const file of [...new Set(files)]) {
        let read: ReadFile;
        try {
          // Taken before the read: a write after it changes the stat, and the next load reads again.
          const s = await stat(file, { bigint: true });
          const racy = now() - Number(s.mtimeMs) < RACY_MS;
          const seen = racy ? undefined : `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
          const last = parsed.get(file);
          if (seen !== undefined && last?.stat === seen) read = last;
          else {
            const text = await readFile(file, 'utf8');
            const digest = hash('sha256', text, 'base64');
            const result = last?.digest === digest ? last.result : parseManifestFile(text, file);
            read = { stat: seen, digest, result };
          }
        } catch (err) {
          errors.push({ source: file, index: 0, path: '', message: `cannot read: ${errorCode(err)}` });
          continue;
        }
        next.set(file, read);
        for (const d of read.result.documents) documents.push(d);
        for (const e of read.result.errors) errors.push(e);
      }
      parsed = next;
      return { documents, errors };
    },
  };
}

/** What a reader remembers of a file: its stat (unless racy), its text's digest, its documents. */
interface ReadFile {
  readonly stat: string | undefined;
  readonly digest: string;
  readonly result: ParsedFile;
}

/** A file modified this recently (ms) may be written again within the same timestamp tick. */
const RACY_MS = 2_000;

/** The manifest files under a directory, sorted, skipping dot entries. */
export async function listManifests(dir: string): Promise<string[]> {
  const out: string[] = [];
  const entries = (await readdir(dir, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const full = join(dir, e.name);
    let isDir = e.isDirectory();
    let isFile = e.isFile();
    if (e.isSymbolicLink()) {
      const s = await stat(full).catch(() => undefined);
      isDir = s?.isDirectory() ?? false;
      isFile = s?.isFile() ?? false;
    }
    if (isDir) out.push(...(await listManifests(full)));
    else if (isFile && EXTENSIONS.has(extname(basename(full)).toLowerCase())) out.push(full);
  }
  return out;
}

function errorCode(err: unknown): string {
  const code = (err as { code?: string }).code;
  return code === 'ENOENT' ? 'no such file or directory' : (code ?? 'unreadable');
}
