/**
 * The text of a YAML syntax error as the reference reader (parse-yaml.ts) reports it: the `yaml`
 * package's first line, and, where serve refuses what kubectl reads, what to write instead.
 */
export function syntaxErrorText(code: string, message: string): string {
  let first = message.split('\n')[0] ?? message;
  for (const [quoting, plain] of QUOTING) first = first.replace(quoting, plain);
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

/**
 * The `yaml` package's messages that quote the file's text, and what is said instead: the quoted
 * text may be a Secret's value, written unquoted (`apiKey: |<token>`, `apiKey: !!<token>`), and
 * serve's log and policy-check never show one (tenth round: an alias's name was the secret). The
 * line and column say where.
 */
const QUOTING: readonly (readonly [RegExp, string])[] = [
  [
    /^Block scalar header includes extra characters: .*/s,
    'Block scalar header includes extra characters (quote a value that starts with | or >)',
  ],
  [/^(Could not resolve tag|Unresolved tag|Not a valid tag): .*/s, '$1 (quote a value that starts with !)'],
  [/^The .* tag has no suffix$/s, 'A tag has no suffix (quote a value that starts with !)'],
  [
    /^Verbatim tags aren't resolved, so .* is invalid\.$/s,
    "Verbatim tags aren't resolved (quote a value that starts with !)",
  ],
  [/^Invalid escape sequence .*/s, 'Invalid escape sequence'],
];
