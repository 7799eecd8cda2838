// Untrusted text on a terminal or in a plain-text log: how every command echoes what it did not write
// (a manifest's values, the runner's variable names). Shared vocabulary, importing nothing.

/**
 * Characters that act instead of showing: C0 and C1 controls (ESC starts a colour or cursor
 * sequence, U+009B is a one-character CSI, a line break forges a line of our own), format characters
 * (a bidi override reorders what follows, a zero-width one hides), the line and paragraph separators,
 * and lone surrogates.
 */
const ACTIVE = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/gu;

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * `text` with each of those characters spelt as a visible escape (`\n`, `\x1b`, `\u{202e}`), so it
 * shows on one line, as it is, whatever it holds. Everything else is left as it is: what is escaped
 * once has nothing left to escape, so a line may go through twice.
 */
export function escapeForTerminal(text: string): string {
  return text.replace(ACTIVE, (c) => {
    const named = NAMED[c];
    if (named !== undefined) return named;
    const code = c.codePointAt(0)!;
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
  });
}
