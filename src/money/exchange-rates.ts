import { minorUnitExponent } from './currencies.ts';

/**
 * The exchange-rate table the pricing stage converts non-USD amounts with. Built once at startup by
 * `loadExchangeRates` (static table below, then configuration overrides) and handed to the vendor
 * adapters; never fetched at request time, so pricing cannot depend on a third party being up.
 *
 * Sources (static; override them with current rates through configuration):
 *   - European Central Bank, euro foreign exchange reference rates of 2024-06-28 (EUR 1 = x units),
 *     https://www.ecb.europa.eu/stats/policy_and_exchange_rates/euro_reference_exchange_rates/ — the
 *     30 quoted currencies; USD per unit of X is then (USD per EUR) / (X per EUR).
 *   - Fixed parities published by the issuing central banks (units per USD): AED 3.6725, SAR 3.75,
 *     QAR 3.64, BHD 0.376, OMR 0.3845, JOD 0.709; and per EUR: XOF/XAF 655.957 (BCEAO/BEAC).
 *   - KWD floats against an undisclosed basket and has no fixed parity: 3.35 USD is an upper bound
 *     chosen above its range of recent years (about 3.2–3.3), so KWD amounts are over-counted rather
 *     than under-counted until a current rate is configured.
 * Rates are held as exact decimal fractions; only the final conversion rounds, and it rounds up.
 */
export const RATES_SOURCE =
  'ECB euro reference rates 2024-06-28; central-bank USD/EUR parities; KWD conservative upper bound';
export const RATES_AS_OF = '2024-06-28';

/** USD value of one major unit of a currency, as an exact fraction numerator/denominator (both > 0). */
export interface UsdRate {
  readonly numerator: bigint;
  readonly denominator: bigint;
}

/** Rates keyed by lower-case ISO 4217 code; consumed by money/convert.ts on the request path. */
export interface ExchangeRates {
  readonly source: string;
  readonly asOf: string;
  readonly rates: ReadonlyMap<string, UsdRate>;
}

// ECB reference rates, 2024-06-28: units of currency per 1 EUR, copied as published.
const ECB_PER_EUR: Readonly<Record<string, string>> = {
  usd: '1.0705',
  jpy: '171.94',
  bgn: '1.9558',
  czk: '25.025',
  dkk: '7.4575',
  gbp: '0.84638',
  huf: '395.10',
  pln: '4.3090',
  ron: '4.9773',
  sek: '11.3595',
  chf: '0.9634',
  isk: '148.90',
  nok: '11.3965',
  try: '35.1868',
  aud: '1.6079',
  brl: '5.8915',
  cad: '1.4670',
  cny: '7.7748',
  hkd: '8.3594',
  idr: '17487.21',
  ils: '4.0200',
  inr: '89.2495',
  krw: '1474.86',
  mxn: '19.5654',
  myr: '5.0501',
  nzd: '1.7601',
  php: '62.560',
  sgd: '1.4513',
  thb: '39.319',
  zar: '19.4970',
  // Fixed parities to the euro (CFA francs).
  xof: '655.957',
  xaf: '655.957',
};

// Fixed parities to the US dollar: units of currency per 1 USD.
const PEGGED_PER_USD: Readonly<Record<string, string>> = {
  aed: '3.6725',
  sar: '3.75',
  qar: '3.64',
  bhd: '0.376',
  omr: '0.3845',
  jod: '0.709',
};

// USD per unit where no published table applies (see the header: conservative, override it).
const USD_PER_UNIT: Readonly<Record<string, string>> = {
  kwd: '3.35',
};

const DECIMAL = /^(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/** Parses a non-negative decimal ("1.0705", "6.7e-7") into an exact fraction; undefined otherwise. */
export function parseDecimalFraction(text: string): UsdRate | undefined {
  const m = DECIMAL.exec(text.trim());
  if (!m) return undefined;
  const frac = m[2] ?? '';
  const exp = Number(m[3] ?? '0') - frac.length;
  if (!Number.isSafeInteger(exp) || Math.abs(exp) > 30) return undefined;
  const digits = BigInt((m[1] ?? '0') + frac);
  return exp >= 0
    ? { numerator: digits * 10n ** BigInt(exp), denominator: 1n }
    : { numerator: digits, denominator: 10n ** BigInt(-exp) };
}

function divide(a: UsdRate, b: UsdRate): UsdRate {
  return { numerator: a.numerator * b.denominator, denominator: a.denominator * b.numerator };
}

const ONE: UsdRate = { numerator: 1n, denominator: 1n };

function must(text: string): UsdRate {
  const r = parseDecimalFraction(text);
  if (!r || r.numerator === 0n) throw new Error(`bad built-in exchange rate ${text}`);
  return r;
}

function builtInRates(): Map<string, UsdRate> {
  const rates = new Map<string, UsdRate>([['usd', ONE]]);
  const usdPerEur = must(ECB_PER_EUR['usd']!);
  rates.set('eur', usdPerEur);
  for (const [code, perEur] of Object.entries(ECB_PER_EUR)) {
    if (code !== 'usd') rates.set(code, divide(usdPerEur, must(perEur)));
  }
  for (const [code, perUsd] of Object.entries(PEGGED_PER_USD)) rates.set(code, divide(ONE, must(perUsd)));
  for (const [code, usd] of Object.entries(USD_PER_UNIT)) rates.set(code, must(usd));
  return rates;
}

/**
 * The static table merged with overrides from configuration: `{ "jpy": "0.0065", "TWD": 0.031 }`, each
 * value the USD price of one major unit. Throws on an override that is not a positive decimal, names a
 * currency Keybrake has no minor-unit exponent for, names one currency twice (in any letter case), or
 * tries to change USD (a zero or garbled rate would make spending free, so configuration errors stop
 * startup instead of being ignored).
 */
export function loadExchangeRates(overrides: Readonly<Record<string, string | number>> = {}): ExchangeRates {
  const rates = builtInRates();
  const changed: string[] = [];
  // The spelling each currency was given in. `JPY` and `jpy` are one currency: taken both, the later
  // silently replaced the earlier, so which rate priced a charge hung on the order of two keys
  // (eleventh round: ¥10 000 000 priced at $10 instead of $66 000). Refused, as a duplicate key is.
  const spelt = new Map<string, string>();
  for (const [rawCode, value] of Object.entries(overrides)) {
    const code = rawCode.toLowerCase();
    if (minorUnitExponent(code) === undefined)
      throw new Error(`exchange-rate override: unknown currency "${rawCode}"`);
    const earlier = spelt.get(code);
    if (earlier !== undefined)
      throw new Error(
        `exchange-rate override: currency ${code} is given twice ("${earlier}" and "${rawCode}"); currency codes are case-insensitive, keep one`,
      );
    spelt.set(code, rawCode);
    if (code === 'usd') throw new Error('exchange-rate override: the USD rate is fixed at 1');
    // A rate that is neither text nor a number (`eur: { rate: 1.08 }`, `eur:` left empty) is refused
    // by the same message; it failed the start with a bare "text.trim is not a function".
    const text =
      typeof value === 'number'
        ? Number.isFinite(value)
          ? String(value)
          : ''
        : typeof value === 'string'
          ? value
          : '';
    const rate = parseDecimalFraction(text);
    if (!rate || rate.numerator === 0n) {
      const got =
        typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
      throw new Error(
        `exchange-rate override for ${code}: expected a positive decimal USD per unit, got ${got}`,
      );
    }
    rates.set(code, rate);
    changed.push(code);
  }
  const source =
    changed.length === 0 ? RATES_SOURCE : `${RATES_SOURCE}; overridden: ${changed.sort().join(', ')}`;
  return { source, asOf: RATES_AS_OF, rates };
}
