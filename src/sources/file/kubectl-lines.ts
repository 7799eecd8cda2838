/**
 * Where kubectl would cut a manifest file into lines or documents elsewhere than the reference reader
 * (`yaml`, YAML 1.2) does. Such a file means one thing to `kubectl apply` and another to `serve`, so
 * it is refused (parse-yaml.ts), never read one way or the other.
 *
 * kubectl splits a file with k8s.io/apimachinery's YAMLReader (lines end at LF, a CRLF's CR dropped;
 * a document ends at every line starting with `---`, which only spaces and a `#` comment may follow,
 * else the file is refused), then reads each piece with go-yaml v2, a port of libyaml:
 * - CR, NEL (U+0085), LINE SEPARATOR (U+2028) and PARAGRAPH SEPARATOR (U+2029) end a line for it and
 *   not for YAML 1.2: `# paused by ops<CR>  suspended: true` is a comment here, a field to kubectl;
 * - a byte order mark after the first character: each reads it its own way;
 * - `---#c` is a separator to kubectl and a scalar here, `--- x` refuses the file there;
 * - it reads nothing of a piece after `...` (`a: 1\n...\nb: 2` is `{a: 1}`), and refuses `---` then
 *   `...`; here `...` ends a document and another may follow;
 * - a directive (`%YAML 1.1`) stays in the piece before the `---` it precedes, which go-yaml refuses.
 * Without these each piece holds at most one document for both readers, and the documents start at
 * the same lines (kubectl-reading.test.ts holds this against the real splitter). The plain reader's
 * subset excludes them all, so it never reads such a file: refusing on the reference path suffices.
 */

/** Where a file is refused, and why (1-based line and column). */
export interface LineProblem {
  readonly line: number;
  readonly column: number;
  readonly message: string;
}

/**
 * The first place in `text` (a file's text after its leading byte order mark, if any: go-yaml reads
 * from there) that kubectl would cut differently; undefined when there is none.
 */
export function kubectlLineProblem(text: string): LineProblem | undefined {
  const odd = MISREAD.exec(text);
  // The lines before an odd character are checked first: the problem reported is the file's first.
  const lines = (odd ? text.slice(0, odd.index) : text).split('\n');
  const whole = odd ? lines.length - 1 : lines.length;
  for (let i = 0; i < whole; i++) {
    const line = lines[i]!;
    const message = markerProblem(line.endsWith('\r') ? line.slice(0, -1) : line);
    if (message) return { line: i + 1, column: 1, message };
  }
  if (!odd) return undefined;
  return { line: lines.length, column: lines.at(-1)!.length + 1, message: MISREAD_WHY[odd[0]]! };
}

/** Characters that kubectl and YAML 1.2 do not read alike, anywhere (after the leading BOM). */
const MISREAD = /\r(?!\n)|[\x85\u2028\u2029\ufeff]/;

const ENDINGS = 'save the file with LF or CRLF line endings';
const MISREAD_WHY: Record<string, string> = {
  '\r': `a carriage return (U+000D) not followed by a line feed ends a line for kubectl, not for YAML 1.2: ${ENDINGS}`,
  '\x85': `NEL (U+0085) ends a line for kubectl, not for YAML 1.2: ${ENDINGS} (in a double-quoted string, write \\N)`,
  '\u2028': `LINE SEPARATOR (U+2028) ends a line for kubectl, not for YAML 1.2: ${ENDINGS} (in a double-quoted string, write \\L)`,
  '\u2029': `PARAGRAPH SEPARATOR (U+2029) ends a line for kubectl, not for YAML 1.2: ${ENDINGS} (in a double-quoted string, write \\P)`,
  '\ufeff':
    'a byte order mark (U+FEFF) after the start of the file, which kubectl does not read as YAML does: remove it',
};

/** `---`, then nothing, or spaces and perhaps a comment: a separator to kubectl and to YAML alike. */
const SEPARATOR = /^---(?:[ \t]+(?:#.*)?)?$/;
/** A document end marker (YAML 1.2 and go-yaml alike). */
const END_MARKER = /^\.\.\.(?:[ \t]|$)/;

function markerProblem(line: string): string | undefined {
  if (line.startsWith('---') && !SEPARATOR.test(line))
    return '`---` with more than spaces and a ` # comment` after it on its line, which kubectl does not read as YAML does: put `---` on a line of its own';
  if (END_MARKER.test(line))
    return 'a `...` document end marker, which kubectl does not read as YAML does (it ignores what follows, up to the next `---`): remove it, and separate documents with `---`';
  if (line.startsWith('%'))
    return 'a YAML directive (a line starting with `%`), which kubectl refuses: remove it';
  return undefined;
}
