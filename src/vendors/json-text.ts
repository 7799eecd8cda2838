/**
 * Walking a vendor's JSON answer as text, to withhold string values in place without parsing and
 * re-serialising it (every other byte stays the vendor's): Stripe's answers.ts, Resend's sent-mail.ts
 * and webhook-endpoints.ts, Twilio's webhook-urls.ts.
 */

/** The index of the first character from `at` (walking by `step`) that is not JSON whitespace. */
export function skipSpace(text: string, at: number, step: 1 | -1): number {
  let i = at;
  while (i >= 0 && i < text.length && JSON_SPACE.has(text[i]!)) i += step;
  return i;
}

const JSON_SPACE: ReadonlySet<string> = new Set([' ', '\t', '\n', '\r']);

/** The index just past the closing quote of the string literal that opens at `start`. */
export function endOfLiteral(text: string, start: number): number {
  let i = start + 1;
  while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
  return i + 1;
}

/**
 * Valid JSON text with string values written again: `rewrite` is handed each string value as it
 * stands (`raw`, quotes and escapes included), the key it was last preceded by, and whether it is that
 * key's value (not an array's element); what it returns (a new value, serialised here) replaces it,
 * undefined keeps it. Keys are never handed over. The text itself when nothing changed.
 */
export function rewriteStringValues(
  text: string,
  rewrite: (raw: string, key: string, isKeyValue: boolean) => string | undefined,
): string {
  let out = '';
  let copied = 0;
  let key = '';
  for (let start = text.indexOf('"'); start !== -1; ) {
    const end = endOfLiteral(text, start);
    if (text[skipSpace(text, end, 1)] === ':') {
      key = JSON.parse(text.slice(start, end)) as string;
    } else {
      const kept = rewrite(text.slice(start, end), key, text[skipSpace(text, start - 1, -1)] === ':');
      if (kept !== undefined) {
        out += text.slice(copied, start) + JSON.stringify(kept);
        copied = end;
      }
    }
    start = text.indexOf('"', end);
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/**
 * The index just past the JSON value that opens at `start` in valid JSON text: a string, an object
 * or array (its brackets matched, the string literals inside skipped), or a number, `true`, `false`
 * or `null` (up to the `,`, `}`, `]` or whitespace that ends it). For withholding a value whole
 * (sent-mail.ts: an automation run step's `output`).
 */
export function endOfValue(text: string, start: number): number {
  const first = text[start];
  if (first === '"') return endOfLiteral(text, start);
  if (first !== '{' && first !== '[') {
    let i = start;
    while (i < text.length && !SCALAR_END.has(text[i]!)) i++;
    return i;
  }
  let depth = 0;
  let i = start;
  do {
    const ch = text[i]!;
    if (ch === '"') {
      i = endOfLiteral(text, i);
      continue;
    }
    if (ch === '{' || ch === '[') depth++;
    else if (ch === '}' || ch === ']') depth--;
    i++;
  } while (depth > 0 && i < text.length);
  return i;
}

const SCALAR_END: ReadonlySet<string> = new Set([',', '}', ']', ...JSON_SPACE]);
