import { CORE_SCHEMA, loadAll } from 'js-yaml';
import { LineCounter, parseAllDocuments } from 'yaml';
import type { DocumentError, RawDocument } from '../../api/resource-set.ts';

/** One file's documents, and its YAML problems (a broken document is left out, the others kept). */
export interface ParsedFile {
  readonly documents: RawDocument[];
  readonly errors: DocumentError[];
}

/**
 * What sends a file to the reference parser. The fast reader only ever reads the plain subset on
 * which the two agree (ADR 0015; `parse-yaml.test.ts` holds them to that, over every YAML file of
 * the repository and two fuzzers). Known disagreements, each sent to the reference:
 * - directives (`%YAML 1.1` changes what `yes` means) and tags;
 * - anchors and aliases (the reference's alias limit applies);
 * - explicit `?` keys, and null or empty keys (`~:`, `: x`, `{Null}`), whose name the readers
 *   disagree on; a `null` value at the end of a line goes too;
 * - block scalars with an indentation indicator (`|1`), read differently at the top level;
 * - floats beyond a double (`1e400`: Infinity for one, a string for the other);
 * - `...` document ends and indented `---`, where the readers see different documents;
 * - tabs (one accepts a tab as indentation), control and byte order mark characters, and CR or
 *   Unicode line breaks (CRLF inside a quoted string folds differently).
 * All but the first three were found by the fuzzers. Matching is textual and errs towards the
 * reference: a `!` after a space inside a quoted string takes the slow path too, which changes
 * nothing but speed.
 */
const NEEDS_REFERENCE_PARSER =
  /(?:^|[\s[{,])(?:[%!&*?:]|(?:~|null|Null|NULL)\s*(?:[:,}\]]|$))|[|>][+-]?[1-9]|^\.\.\.|^\s+(?:---|\.\.\.)|(?:^|[\s[{,])[-+]?\.?\d[\d._]*[eE][+-]?\d{3}|\r|[\0-\t\v\f\x0e-\x1f\x7f\x85\u2028\u2029\ufeff]/m;

/**
 * YAML text → the documents it holds (file source, DESIGN.md §3). Two readers, one meaning:
 * - `yaml` (the reference) knows where every error is, which the messages need, but reads about
 *   1.5 MB/s: 26 s of a 29 s start at 100 000 keys;
 * - js-yaml (the reader @kubernetes/client-node uses) reads ten times as fast, and is taken for a
 *   file only when the file uses none of the features above and js-yaml accepts it whole. Every
 *   other file, every file with an error among them, goes to the reference parser, whose messages
 *   and alias limit are then those reported.
 */
export function parseManifestFile(text: string, source: string): ParsedFile {
  if (!NEEDS_REFERENCE_PARSER.test(text)) {
    let docs: unknown[] | undefined;
    try {
      docs = loadAll(text, { schema: CORE_SCHEMA, maxAliases: 0 });
    } catch {
      // A broken file: the reference parser finds the document and the line.
    }
    if (docs) return { documents: docs.map((doc, index) => ({ source, index, doc })), errors: [] };
  }
  return parseWithReference(text, source);
}

/** The `yaml` package: per-document errors with their line; aliases expand to at most 100 nodes. */
export function parseWithReference(text: string, source: string): ParsedFile {
  const documents: RawDocument[] = [];
  const errors: DocumentError[] = [];
  const lineCounter = new LineCounter();
  parseAllDocuments(text, { lineCounter, prettyErrors: false }).forEach((doc, index) => {
    const problem = doc.errors[0];
    if (problem) {
      const pos = lineCounter.linePos(problem.pos[0]);
      errors.push({
        source,
        index,
        path: '',
        line: pos.line,
        message: `YAML syntax error at line ${pos.line}, column ${pos.col}: ${firstLine(problem.message)}`,
      });
      return;
    }
    try {
      documents.push({ source, index, doc: doc.toJS({ maxAliasCount: 100 }) });
    } catch (err) {
      // An alias to no anchor, or one that expands past the limit: the document is refused like a
      // syntax error (it used to escape as an exception and stop `serve`).
      errors.push({ source, index, path: '', message: `YAML error: ${firstLine((err as Error).message)}` });
    }
  });
  return { documents, errors };
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}
