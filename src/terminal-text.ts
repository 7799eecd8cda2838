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

/** The most of one name written by someone else (a field's, a key's) that a message quotes. */
export const SHOWN_NAME_CHARS = 64;

/**
 * A name someone else chose, as a message quotes it: its first SHOWN_NAME_CHARS characters, then `…`
 * when there were more, escaped (escapeForTerminal). A spec may hold a field name of any length
 * (the API server keeps unknown fields: 700 KB of one name went whole into each log line and status
 * message about it, sixteenth round), and messages are read on terminals.
 */
export function shownName(name: string): string {
  if (name.length <= SHOWN_NAME_CHARS) return escapeForTerminal(name);
  // Never half a surrogate pair: a cut one would read back as a lone surrogate.
  const end = /[\ud800-\udbff]/.test(name.charAt(SHOWN_NAME_CHARS - 1))
    ? SHOWN_NAME_CHARS - 1
    : SHOWN_NAME_CHARS;
  return `${escapeForTerminal(name.slice(0, end))}…`;
}
