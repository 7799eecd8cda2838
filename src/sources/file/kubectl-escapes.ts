/**
 * Escapes of double-quoted YAML strings that kubectl refuses and the reference reader (`yaml`, YAML
 * 1.2) reads. go-yaml v2 (kubectl's reader, kubectl-json.ts) refuses the document holding one, so
 * `serve` refuses it too (parse-yaml.ts), rather than read a value kubectl never sends:
 * - `\uD800`…`\uDFFF`, as `\u` or `\U` (a UTF-16 surrogate, not a character): go-yaml refuses
 *   each, and a pair too (`"\uD83D\uDE00"`), where `yaml` joins a pair into its character and keeps
 *   a lone one in the string;
 * - `\/`, a YAML 1.2 escape that YAML 1.1 does not have.
 * Every other escape either reads the same in both or is refused by both (an unknown one, a code
 * point above U+10FFFF). The plain reader reads no escapes (plain-yaml.ts).
 */

/** Where in the scalar's text an escape kubectl refuses starts, and what to write instead. */
export interface EscapeProblem {
  readonly at: number;
  readonly message: string;
}

const HEX_DIGITS: Record<string, number> = { x: 2, u: 4, U: 8 };
const HEX = /^[0-9a-fA-F]+$/;

/** The first escape kubectl refuses in `source`, a double-quoted scalar's text with its quotes. */
export function kubectlEscapeProblem(source: string): EscapeProblem | undefined {
  for (let i = source.indexOf('\\'); i >= 0; i = source.indexOf('\\', i + 2)) {
    const kind = source[i + 1];
    if (kind === '/')
      return { at: i, message: 'the escape \\/ in a double-quoted string, which kubectl refuses: write /' };
    const digits = kind === undefined ? undefined : HEX_DIGITS[kind];
    if (digits === undefined) continue;
    const hex = source.slice(i + 2, i + 2 + digits);
    if (!HEX.test(hex) || hex.length !== digits) continue; // `yaml` refuses it as well
    const code = Number.parseInt(hex, 16);
    if (code >= 0xd800 && code <= 0xdfff)
      return {
        at: i,
        message: `the escape \\${kind}${hex} in a double-quoted string is a UTF-16 surrogate, not a character, which kubectl refuses: write the character itself, or \\U and its code point (\\U0001F600 for 😀)`,
      };
  }
  return undefined;
}
