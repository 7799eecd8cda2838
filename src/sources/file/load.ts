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
 * A reader that parses only the files whose text changed since its last load: an unchanged file's
 * documents come back as the very objects of last time, which the ValidationCache and the
 * CompileCache then recognise, so an edit to one file of a 100 000-key directory costs that file.
 * Nothing but equal text is trusted (not mtimes, which an editor or a ConfigMap swap may keep).
 */
export function createManifestReader(): ManifestReader {
  let parsed = new Map<string, { text: string; result: ParsedFile }>();
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
      const next = new Map<string, { text: string; result: ParsedFile }>();
      for (const file of [...new Set(files)]) {
        let text: string;
        try {
          text = await readFile(file, 'utf8');
        } catch (err) {
          errors.push({ source: file, index: 0, path: '', message: `cannot read: ${errorCode(err)}` });
          continue;
        }
        const last = parsed.get(file);
        const result = last?.text === text ? last.result : parseManifestFile(text, file);
        next.set(file, { text, result });
        for (const d of result.documents) documents.push(d);
        for (const e of result.errors) errors.push(e);
      }
      parsed = next;
      return { documents, errors };
    },
  };
}

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
