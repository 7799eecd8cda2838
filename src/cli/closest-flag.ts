/**
 * The flag a mistyped one most likely meant, for the usage error of an unknown option: `serve
 * --manifest` said only "Unknown option '--manifest'" (eighth round) where `--manifests` was meant.
 * A flag the typed name starts, or that starts with it, else one at most two edits away (and fewer
 * than half its length, so `--x` suggests nothing); undefined when none is, or when two fit equally.
 * A mistyped command is matched the same way (`keybrake polcy-check`, ninth round).
 */
export function closestFlag(typed: string, flags: readonly string[]): string | undefined {
  const name = typed.replace(/^--/, '').split('=')[0]!.toLowerCase();
  if (name.length < 3) return undefined;
  const prefixed = flags.filter((f) => f.startsWith(name) || name.startsWith(f));
  if (prefixed.length > 0) return prefixed.length === 1 ? prefixed[0] : undefined;
  const limit = Math.min(2, Math.ceil(name.length / 2) - 1);
  let best: string | undefined;
  let bestDistance = limit + 1;
  let tied = false;
  for (const flag of flags) {
    const d = editDistance(name, flag);
    if (d < bestDistance) [best, bestDistance, tied] = [flag, d, false];
    else if (d === bestDistance) tied = true;
  }
  return tied ? undefined : best;
}

/** Levenshtein distance, one transposition counting as one edit (`--mnaifests`). */
export function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = rows[i]!;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(rows[i - 1]![j]! + 1, row[j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        row[j] = Math.min(row[j]!, rows[i - 2]![j - 2]! + 1);
      }
    }
  }
  return rows[a.length]![b.length]!;
}
