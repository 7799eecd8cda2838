import { type Document, LineCounter, parseAllDocuments } from 'yaml';
import type { DocumentError, RawDocument } from '../../api/resource-set.ts';
import {
  asKubectlLines,
  type BrokenObject,
  brokenObjectsOf,
  distinctObjects,
  type Identity,
  identityOfDocument,
  objectsOfRefused,
} from './broken-names.ts';
import { jsonNumberProblem } from './json-numbers.ts';
import { KubectlRefusal, kubectlValue } from './kubectl-json.ts';
import { kubectlLineProblem, type LineProblem } from './kubectl-lines.ts';
import { isStackOverflow, readPlainYaml } from './plain-yaml.ts';
import { syntaxErrorText } from './syntax-error-text.ts';
import { utf16Problem, utf16Text } from './utf16.ts';

/** One file's documents, and its YAML problems (a broken document is left out, the others kept). */
export interface ParsedFile {
  readonly documents: RawDocument[];
  readonly errors: DocumentError[];
  /**
   * The VaultKeys, and SpendPolicies with a valid expiry, that broken documents or a file refused
   * whole still name (BrokenObject): a refused change takes the keys out and applies the expiries
   * (revocations.ts). Absent when there are none.
   */
  readonly broken?: BrokenObject[];
  /**
   * A document with an error that names no object of ours for sure (broken-names.ts `namesItself`),
   * or the file refused whole: what the file no longer holds may be hidden there, so a refused
   * change holds it back (revocations.ts). Absent: every broken document names itself.
   */
  readonly unnamedError?: true;
  /** What each document with an error that names itself is (broken-names.ts `identityOfDocument`). */
  readonly brokenIdentities?: Identity[];
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
  if (encoding) return refusedWhole(source, encoding, utf16Text(text));
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
  const encoding = utf16Problem(text);
  const cut = encoding ?? kubectlLineProblem(body) ?? jsonNumberProblem(text);
  if (cut) return refusedWhole(source, cut, encoding ? utf16Text(text) : body);
  try {
    return readWithReference(body, source);
  } catch (err) {
    // Nesting deeper than the stack (tens of thousands of levels): the file is refused with a
    // message of its own, rather than a stack overflow that the loader would call "unreadable".
    if (!isStackOverflow(err)) throw err;
    return {
      documents: [],
      errors: [{ source, index: 0, path: '', message: 'YAML error: the file is nested too deeply to read' }],
      unnamedError: true,
    };
  }
}

/** The most text of a file refused whole read for the objects it names (a few thousand keys). */
const MAX_REFUSED_TEXT = 1024 * 1024;

/**
 * A file refused whole, at the place kubectl would read otherwise than we do; `text` (UTF-16 decoded)
 * is read only for the objects it names (objectsOfRefused).
 */
function refusedWhole(source: string, at: LineProblem, text: string | undefined): ParsedFile {
  const message = `YAML error at line ${at.line}, column ${at.column}: ${at.message}`;
  const errors = [{ source, index: 0, path: '', line: at.line, message }];
  // `yaml` holds about 80 bytes of its tree per byte of text, read twice here: a 58 MiB file with
  // lone CRs ran the compile thread out of memory, restarting on the same file, so no change was
  // ever applied again (fifteenth round, probe fixes15b finding 1). A bigger file names nothing.
  if (text === undefined || text.length > MAX_REFUSED_TEXT)
    return { documents: [], errors, unnamedError: true };
  const lines = asKubectlLines(text);
  let broken: BrokenObject[];
  try {
    broken = distinctObjects(objectsOfRefused(lines === text ? [text] : [text, lines]));
  } catch (err) {
    if (!isStackOverflow(err)) throw err;
    broken = []; // Nested too deeply to read: it names nothing, and stays refused.
  }
  // Read for names only, not as documents: any of them may be hiding an object.
  return { documents: [], errors, unnamedError: true, ...(broken.length > 0 && { broken }) };
}

function readWithReference(text: string, source: string): ParsedFile {
  const documents: RawDocument[] = [];
  const errors: DocumentError[] = [];
  const broken: BrokenObject[] = [];
  let unnamed = false;
  const identities: Identity[] = [];
  /** A document with an error: what it names of itself, or that it names nothing for sure. */
  const identify = (doc: Document.Parsed) => {
    const self = identityOfDocument(doc);
    if (self) identities.push(self);
    else unnamed = true;
  };
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
      broken.push(...brokenObjectsOf(doc));
      identify(doc);
      return;
    }
    try {
      documents.push({ source, index, doc: kubectlValue(doc, text) });
    } catch (err) {
      // What kubectl refuses (`.inf`, a null key, an escape it does not read), what we refuse in its
      // stead, an alias to no anchor or past the limit: the document is refused like a syntax error,
      // at its field.
      if (!(err instanceof KubectlRefusal)) throw err;
      broken.push(...brokenObjectsOf(doc)); // Cannot be read as kubectl reads it: as a syntax error.
      identify(doc);
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
  return {
    documents,
    errors,
    ...(broken.length > 0 && { broken: distinctObjects(broken) }),
    ...(unnamed ? { unnamedError: true as const } : {}),
    ...(identities.length > 0 && { brokenIdentities: identities }),
  };
}
