import { type Document, LineCounter, parseAllDocuments } from 'yaml';
import type { DocumentError, RawDocument } from '../../api/resource-set.ts';
import { API_VERSION } from '../../api/v1alpha1/index.ts';
import { jsonNumberProblem } from './json-numbers.ts';
import { KubectlRefusal, kubectlValue } from './kubectl-json.ts';
import { kubectlLineProblem, type LineProblem } from './kubectl-lines.ts';
import { isStackOverflow, readPlainYaml } from './plain-yaml.ts';
import { syntaxErrorText } from './syntax-error-text.ts';
import { utf16Problem } from './utf16.ts';

/** One file's documents, and its YAML problems (a broken document is left out, the others kept). */
export interface ParsedFile {
  readonly documents: RawDocument[];
  readonly errors: DocumentError[];
  /**
   * The VaultKeys among the broken documents whose name could still be read (BrokenKey): a
   * refused change takes them out (revocations.ts). Absent when there are none.
   */
  readonly brokenKeys?: BrokenKey[];
}

/**
 * A VaultKey document with a YAML error, as far as it names itself: fifteenth round (probe newuser,
 * finding 1, variant D), a `suspended: true` line added under the key's `suspended: false` made a
 * duplicate mapping key, the file was refused, and the key kept its version in force and went on
 * spending. What the document says cannot be read, so the key fails closed, as one whose document
 * is invalid does. Only `apiVersion`, `kind`, `metadata.name` and `metadata.namespace` are read,
 * each as the plain scalar text `yaml` recovered; a document that does not give all it needs of
 * them names nothing.
 */
export interface BrokenKey {
  readonly index: number;
  readonly name: string;
  /** Absent: the file source's default namespace. */
  readonly namespace?: string;
}

/**
 * YAML text → the documents it holds (file source, DESIGN.md §3), each the value kubectl would send
 * the API server for it (sigs.k8s.io/yaml: YAML 1.1 scalars, `yes` is true and `017` is 15; README
 * `serve`). Two readers, one meaning:
 * - the reference: `yaml`'s parser, which knows where every error is (the messages need it), with
 *   every scalar left as its text, then `kubectlValue` (kubectl-json.ts); it reads about 1.5 MB/s:
 *   26 s of a 29 s start at 100 000 keys;
 * - `readPlainYaml` reads the plain subset that manifests are written in, exactly as the reference
 *   reads it, and gives up on anything else. Every file it gives up on, every file with an error
 *   among them, goes to the reference, whose messages and alias limit are then those reported.
 */
export function parseManifestFile(text: string, source: string): ParsedFile {
  const encoding = utf16Problem(text);
  if (encoding) return refusedWhole(source, encoding);
  // Refused by the reference, which reports a line kubectl would cut first, as it must be here too.
  if (jsonNumberProblem(text)) return parseWithReference(text, source);
  const docs = readPlainYaml(text);
  if (docs) return { documents: docs.map((doc, index) => ({ source, index, doc })), errors: [] };
  return parseWithReference(text, source);
}

/**
 * The reference reading: per-document errors with their line; aliases expand to at most 10 000 nodes.
 * A file that kubectl would cut into lines or documents otherwise (kubectl-lines.ts), or a JSON one
 * holding a number no float64 can (json-numbers.ts), is refused whole.
 */
export function parseWithReference(text: string, source: string): ParsedFile {
  // go-yaml reads a file from after its byte order mark, and so must `yaml`, which reads
  // `<BOM>  a: 1\nb: 2` as one mapping where go-yaml ends the document at `b` (kubectl: `{a: 1}`).
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const cut = utf16Problem(text) ?? kubectlLineProblem(body) ?? jsonNumberProblem(text);
  if (cut) return refusedWhole(source, cut);
  try {
    return readWithReference(body, source);
  } catch (err) {
    // Nesting deeper than the stack (tens of thousands of levels): the file is refused with a
    // message of its own, rather than a stack overflow that the loader would call "unreadable".
    if (!isStackOverflow(err)) throw err;
    return {
      documents: [],
      errors: [{ source, index: 0, path: '', message: 'YAML error: the file is nested too deeply to read' }],
    };
  }
}

/** A file refused whole, at the place kubectl would read otherwise than we do. */
function refusedWhole(source: string, at: LineProblem): ParsedFile {
  const message = `YAML error at line ${at.line}, column ${at.column}: ${at.message}`;
  return { documents: [], errors: [{ source, index: 0, path: '', line: at.line, message }] };
}

function readWithReference(text: string, source: string): ParsedFile {
  const documents: RawDocument[] = [];
  const errors: DocumentError[] = [];
  const brokenKeys: BrokenKey[] = [];
  const lineCounter = new LineCounter();
  // The failsafe schema leaves every scalar its text, for kubectlValue to resolve as kubectl does.
  parseAllDocuments(text, { lineCounter, prettyErrors: false, schema: 'failsafe' }).forEach((doc, index) => {
    const problem = doc.errors[0];
    if (problem) {
      const pos = lineCounter.linePos(problem.pos[0]);
      errors.push({
        source,
        index,
        path: '',
        line: pos.line,
        message: `YAML syntax error at line ${pos.line}, column ${pos.col}: ${syntaxErrorText(problem.code, problem.message)}`,
      });
      const broken = brokenKey(doc, index);
      if (broken) brokenKeys.push(broken);
      return;
    }
    try {
      documents.push({ source, index, doc: kubectlValue(doc, text) });
    } catch (err) {
      // What kubectl refuses (`.inf`, a null key, an escape it does not read), what we refuse in its
      // stead, an alias to no anchor or past the limit: the document is refused like a syntax error,
      // at its field.
      if (!(err instanceof KubectlRefusal)) throw err;
      const line = err.offset === undefined ? undefined : lineCounter.linePos(err.offset).line;
      errors.push({
        source,
        index,
        path: err.path,
        ...(line ? { line } : {}),
        message: `YAML error: ${err.message}`,
      });
    }
  });
  return brokenKeys.length > 0 ? { documents, errors, brokenKeys } : { documents, errors };
}

/** What a broken document says of itself, if it is a VaultKey that names itself (BrokenKey). */
function brokenKey(doc: Document.Parsed, index: number): BrokenKey | undefined {
  const text = (path: readonly string[]) => {
    try {
      const v = doc.getIn(path);
      return typeof v === 'string' && v !== '' ? v : undefined;
    } catch {
      return undefined; // Not a mapping where the path goes.
    }
  };
  if (text(['apiVersion']) !== API_VERSION || text(['kind']) !== 'VaultKey') return undefined;
  const name = text(['metadata', 'name']);
  if (name === undefined) return undefined;
  const namespace = text(['metadata', 'namespace']);
  return namespace === undefined ? { index, name } : { index, name, namespace };
}
