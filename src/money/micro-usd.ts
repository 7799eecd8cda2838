/**
 * Money is integer micro-dollars (1 USD = 1_000_000 µUSD) held in safe JavaScript integers: exact,
 * JSON-friendly and fast on the request path. $9 billion fits; anything larger is refused.
 */
export type MicroUsd = number;

export const MICROS_PER_USD = 1_000_000;

const DECIMAL = /^(\d{1,10})(?:\.(\d{1,6}))?$/;
/** DECIMAL in words, for the messages that refuse an amount. */
export const USD_AMOUNT_RULE = 'at most 10 digits before the decimal point and 6 after it';

/** Parses a decimal USD string ("12.5", "200") exactly; undefined when it is not one. */
export function parseUsd(text: string): MicroUsd | undefined {
  const m = DECIMAL.exec(text.trim());
  if (!m) return undefined;
  const whole = Number(m[1]);
  const frac = Number((m[2] ?? '').padEnd(6, '0'));
  const micros = whole * MICROS_PER_USD + frac;
  return Number.isSafeInteger(micros) ? micros : undefined;
}

/** Formats micro-dollars as a decimal USD string with at least two decimals ("12.40", "0.0075"). */
export function formatUsd(micros: MicroUsd): string {
  const sign = micros < 0 ? '-' : '';
  const abs = Math.abs(micros);
  const whole = Math.floor(abs / MICROS_PER_USD);
  let frac = String(abs % MICROS_PER_USD).padStart(6, '0');
  frac = frac.replace(/0+$/, '');
  if (frac.length < 2) frac = frac.padEnd(2, '0');
  return `${sign}${whole}.${frac}`;
}
