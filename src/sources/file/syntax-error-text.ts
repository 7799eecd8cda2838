/**
 * The text of a YAML syntax error as the reference reader (parse-yaml.ts) reports it: the `yaml`
 * package's first line, and, where serve refuses what kubectl reads, what to write instead.
 */
export function syntaxErrorText(code: string, message: string): string {
  const first = message.split('\n')[0] ?? message;
  const instead = INSTEAD[code];
  return instead === undefined ? first : `${first}: ${instead}`;
}

/**
 * kubectl lets the last of two equal keys win, silently; serve refuses the document (ADR 0016), since
 * which one was meant is a guess (a pasted block, a field edited in one place and not the other).
 */
const INSTEAD: Readonly<Record<string, string>> = {
  DUPLICATE_KEY: 'remove one of the two (kubectl would silently take the last; serve does not guess)',
};
