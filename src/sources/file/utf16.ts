import type { LineProblem } from './kubectl-lines.ts';

/**
 * A manifest saved as UTF-16 (Windows Notepad's "Unicode"), as its text reads once decoded as UTF-8:
 * its byte order mark (FF FE or FE FF) two replacement characters, and a NUL byte beside every
 * ASCII letter. Read on, the file was refused for a carriage return or as "not a Kubernetes
 * object", never for its encoding (fifteenth round, probe newuser finding 2): this names it. Only
 * the file's start is looked at; NUL is never in a YAML or JSON manifest, so nothing readable is
 * refused by it.
 */
export function utf16Problem(text: string): LineProblem | undefined {
  const start = text.startsWith('\uFFFD\uFFFD') ? 2 : 0;
  const nulAt = (i: number) => text.charCodeAt(start + i) === 0;
  const le = nulAt(1) && nulAt(3) && !nulAt(0) && !nulAt(2);
  const be = nulAt(0) && nulAt(2) && !nulAt(1) && !nulAt(3);
  if ((!le && !be) || text.length < start + 4) return undefined;
  return {
    line: 1,
    column: 1,
    message: 'the file is saved as UTF-16 (a NUL byte beside every letter): save it as UTF-8',
  };
}

/**
 * The text of a file utf16Problem names, when every character of it is ASCII: for only what a file
 * refused whole names of itself (broken-names.ts), never to read it as documents. Each ASCII
 * character of UTF-16 is its byte and a NUL, before it (big-endian) or after it (little-endian), so
 * with the byte order mark (two replacement characters) and the NULs dropped the text is back, in
 * either byte order. Undefined when any character is not so: the loader's UTF-8 reading of other
 * characters is not theirs, and not even always a replacement character (`上`, 0x4E0A, comes back
 * as a line break and an `N`), so a comment in Japanese made the reading name another namespace's
 * key, and missed the one meant (fifteenth round, probe fixes15b finding 2). Such a file names
 * nothing, and is held back as before.
 */
export function utf16Text(text: string): string | undefined {
  const body = text.startsWith('\uFFFD\uFFFD') ? text.slice(2) : text;
  if (body.length % 2 !== 0) return undefined;
  // The NUL of each character: after it (little-endian) or before it, as the file's start says.
  const nulFirst = body.charCodeAt(0) === 0;
  let out = '';
  for (let i = 0; i < body.length; i += 2) {
    const [nul, char] = nulFirst
      ? [body.charCodeAt(i), body.charCodeAt(i + 1)]
      : [body.charCodeAt(i + 1), body.charCodeAt(i)];
    if (nul !== 0 || char === 0 || char > 0x7f) return undefined;
    out += String.fromCharCode(char);
  }
  return out;
}
