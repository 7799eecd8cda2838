import { minorUnitExponent } from './currencies.ts';
import type { ExchangeRates } from './exchange-rates.ts';
import type { MicroUsd } from './micro-usd.ts';

const MAX = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * Converts a vendor amount in minor units (`amount=1000`, `currency=jpy`) to micro-USD for the counters.
 * USD is exact; any other currency is converted with exact fractions and rounded UP, so a cap is never
 * undercounted by rounding. Undefined (the caller denies: fail closed) for an unknown currency, a
 * currency without a rate, a negative or non-safe-integer amount, or a result beyond safe integers.
 */
export function minorToMicroUsd(
  amountMinor: number,
  currency: string,
  rates: ExchangeRates,
): MicroUsd | undefined {
  if (!Number.isSafeInteger(amountMinor) || amountMinor < 0) return undefined;
  const exponent = minorUnitExponent(currency);
  if (exponent === undefined) return undefined;
  const code = currency.toLowerCase();
  if (code === 'usd') {
    const micros = amountMinor * 10_000;
    return Number.isSafeInteger(micros) ? micros : undefined;
  }
  const rate = rates.rates.get(code);
  if (!rate) return undefined;
  const numerator = BigInt(amountMinor) * 1_000_000n * rate.numerator;
  const denominator = rate.denominator * 10n ** BigInt(exponent);
  const micros = (numerator + denominator - 1n) / denominator;
  return micros > MAX ? undefined : Number(micros);
}
