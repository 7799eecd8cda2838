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
 * The text of a file utf16Problem names, as far as the loader's UTF-8 reading of it keeps it: for
 * only what a file refused whole names of itself (broken-names.ts), never to read it as documents.
 * Each ASCII character of UTF-16 is its byte and a NUL, before it (big-endian) or after it
 * (little-endian), so with the byte order mark (two replacement characters) and every NUL dropped
 * the ASCII text is back, in either byte order. Other characters do not survive the UTF-8 reading
 * (they come back as replacement characters, or now and then as two ASCII ones); what is read of
 * the file, `apiVersion`, `kind`, a Kubernetes name and an RFC 3339 expiry, is all ASCII.
 */
export function utf16Text(text: string): string {
  return (text.startsWith('\uFFFD\uFFFD') ? text.slice(2) : text).replaceAll('\0', '');
}
