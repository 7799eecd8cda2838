/**
 * Walking a vendor's JSON answer as text, to withhold string values in place without parsing and
 * re-serialising it (every other byte stays the vendor's): Stripe's answers.ts and Resend's
 * sent-mail.ts.
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
