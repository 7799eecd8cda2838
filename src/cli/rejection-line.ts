import type { CompileSummary } from './compile-thread.ts';

/** How many revoked or held-back resources a rejection line names (a directory that cannot be listed holds them all). */
export const SHOWN = 20;

/**
 * The log record of a refused manifest change (serve): its errors, what it revokes all the same, and
 * what files with errors hold back (tenth round: without it, a deletion or rotation not applied
 * looked like one applied). Each list names SHOWN at most, then how many more: since the fifteenth
 * round an unreadable upstream Secret shared by every key of a namespace revokes each of them, and
 * the line named them all (held back ones were capped already).
 */
export function rejectionLine(o: Pick<CompileSummary, 'errors' | 'version' | 'revoked' | 'held'>): {
  readonly fields: Record<string, unknown>;
  readonly msg: string;
} {
  const revoked = o.revoked.slice(0, SHOWN);
  const held = o.held.slice(0, SHOWN);
  const more = (all: readonly string[], shown: readonly string[]) =>
    all.length > shown.length ? ` and ${all.length - shown.length} more` : '';
  const revokes =
    revoked.length === 0 ? '' : `, except what it revokes: ${revoked.join(', ')}${more(o.revoked, revoked)}`;
  const holds =
    held.length === 0
      ? ''
      : `; held back until the files with errors are fixed (deleted, unreadable or credentials replaced there): ${held.join(', ')}${more(o.held, held)}`;
  return {
    fields: {
      errors: o.errors,
      version: o.version,
      ...(revoked.length > 0 && { revoked }),
      ...(revoked.length < o.revoked.length && { revokedCount: o.revoked.length }),
      ...(held.length > 0 && { held }),
    },
    msg: `manifest change rejected: keeping the last good policy${revokes}${holds}`,
  };
}
