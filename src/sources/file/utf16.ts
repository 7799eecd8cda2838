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
