/**
 * The one way a duration is written, for every flag, environment variable and chart value: a number
 * with a unit (`500ms`, `30s`, `2m`, `1h`; a fraction is fine with a unit, `1.5s`), or a bare whole
 * number of milliseconds (`50`, as the documented `--redis-timeout 50`). A leaf: the CLIs read flags
 * with it, nothing else of the project is needed.
 */
export const DURATION_SYNTAX = '<n>ms|s|m|h, a bare number is milliseconds';

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;

/** Milliseconds, or undefined for anything that is not a duration (a negative one, `1d`, `2.5`). */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) return undefined;
  const [, amount, unit] = m as unknown as [string, string, keyof typeof UNIT_MS | undefined];
  // Milliseconds are the smallest unit: a bare fraction would be a typo, not a duration.
  if (unit === undefined && amount.includes('.')) return undefined;
  const ms = Math.round(Number(amount) * UNIT_MS[unit ?? 'ms']);
  return Number.isSafeInteger(ms) ? ms : undefined;
}
