import type { LineProblem } from './kubectl-lines.ts';

/**
 * A number a JSON manifest holds that no float64 can: such a file is refused (parse-yaml.ts).
 *
 * kubectl reads a file as a JSON stream when its first character other than Go's white space is `{`
 * (k8s.io/apimachinery's YAMLOrJSONDecoder), and sends each JSON document's numbers as written; the
 * API server refuses one that overflows a float64 (`{"perDay": 1e400}`). The reference reader reads
 * the same text as YAML 1.1, where such a number is the string "1e400" (go-yaml's ParseFloat fails),
 * so serve would have run what the cluster refuses (eighth round). Fail-closed where the readings could
 * differ: a YAML document later in such a file (after `---`) that writes one plainly is refused too,
 * though kubectl reads it as a string there; quoting it is the same to both.
 */

/** Go's unicode.IsSpace, which a byte order mark is not: the characters kubectl skips before the `{`. */
const JSON_STREAM = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*\{/;
/** A JSON number (RFC 8259), anchored where the scan is. */
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?/y;
/** What may stand before a value in JSON (or a flow collection): a number after anything else is part of a word. */
const BEFORE = /[\s:,[{]/;
/** What may follow a number: another digit, letter, `.` or `_` makes it a word, not a number. */
const AFTER = /[A-Za-z0-9._]/;
/** The longest number a message shows; longer ones are named by their length. */
const SHOWN = 32;

/** The first number of a JSON stream that overflows a float64, where it is and what to write; else undefined. */
export function jsonNumberProblem(text: string): LineProblem | undefined {
  if (!JSON_STREAM.test(text)) return undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      i = stringEnd(text, i);
      continue;
    }
    if (!(c === 0x2d || (c >= 0x30 && c <= 0x39)) || (i > 0 && !BEFORE.test(text[i - 1]!))) continue;
    NUMBER.lastIndex = i;
    const token = NUMBER.exec(text)?.[0];
    if (token === undefined) continue;
    const end = i + token.length;
    if (end < text.length && AFTER.test(text[end]!)) {
      i = end;
      continue;
    }
    if (!Number.isFinite(Number(token))) return problemAt(text, i, token);
    i = end - 1;
  }
  return undefined;
}

/** The index of the `"` closing the string that opens at `start` (the text's end when none does). */
function stringEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5c) i++;
    else if (c === 0x22) return i;
  }
  return text.length;
}

function problemAt(text: string, offset: number, token: string): LineProblem {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  const shown = token.length <= SHOWN ? `the number ${token}` : `a number of ${token.length} characters`;
  return {
    line,
    column,
    message: `${shown} is beyond what a JSON number can hold (a float64): kubectl sends it as written and the API server refuses it; write a smaller number, or quote it for a string`,
  };
}
