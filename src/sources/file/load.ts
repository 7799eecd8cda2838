import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { LineCounter, parseAllDocuments } from 'yaml';
import type { DocumentError, RawDocument } from '../../api/resource-set.ts';

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
export async function loadManifests(paths: readonly string[]): Promise<LoadResult> {
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
  for (const file of [...new Set(files)]) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      errors.push({ source: file, index: 0, path: '', message: `cannot read: ${errorCode(err)}` });
      continue;
    }
    const lineCounter = new LineCounter();
    parseAllDocuments(text, { lineCounter, prettyErrors: false }).forEach((doc, index) => {
      const problem = doc.errors[0];
      if (problem) {
        const pos = lineCounter.linePos(problem.pos[0]);
        errors.push({
          source: file,
          index,
          path: '',
          line: pos.line,
          message: `YAML syntax error at line ${pos.line}, column ${pos.col}: ${firstLine(problem.message)}`,
        });
        return;
      }
      documents.push({ source: file, index, doc: doc.toJS({ maxAliasCount: 100 }) });
    });
  }
  return { documents, errors };
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

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}
