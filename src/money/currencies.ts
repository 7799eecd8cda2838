/**
 * Minor-unit exponents of the currencies Keybrake can price: how many decimal places an API amount
 * carries (`amount=1000` is $10.00 in USD, ¥1000 in JPY, 1.000 KWD in KWD). Read by the pricing stage
 * through `minorUnitExponent`; a currency missing here cannot be priced, so money-moving calls in it
 * are denied (fail closed).
 *
 * Source: Stripe, "Supported currencies" (https://docs.stripe.com/currencies), sections "Zero-decimal",
 * "Three-decimal" and "Special cases", checked 2026-11-26 against a stored copy of the page. Exponents
 * follow Stripe's API conventions, which differ from ISO 4217 where Stripe keeps a legacy scale:
 *   - ISK: zero-decimal in ISO, but Stripe keeps the two-decimal representation for backwards
 *     compatibility (5 ISK is `amount=500`, always a multiple of 100). Exponent 2.
 *   - HUF, TWD: two-decimal for charges; only payouts must be whole units (multiples of 100). Exponent 2.
 *   - UGX: in Stripe's zero-decimal list. Exponent 0. Of the two scales Stripe has used for UGX this is
 *     also the conservative one: a smaller exponent values the same integer amount higher.
 * Every other listed currency is two-decimal (Stripe: "unless otherwise noted, currencies are
 * two-decimal"). The set of known codes is Stripe's presentment-currency list.
 */

/** Stripe's zero-decimal currencies: the amount is in whole units. */
export const ZERO_DECIMAL: ReadonlySet<string> = new Set([
  'bif',
  'clp',
  'djf',
  'gnf',
  'jpy',
  'kmf',
  'krw',
  'mga',
  'pyg',
  'rwf',
  'ugx',
  'vnd',
  'vuv',
  'xaf',
  'xof',
  'xpf',
]);

/** Stripe's three-decimal currencies (Stripe additionally requires the last digit to be 0). */
export const THREE_DECIMAL: ReadonlySet<string> = new Set(['bhd', 'jod', 'kwd', 'omr', 'tnd']);

// Stripe's presentment currencies (two-decimal unless listed above).
const KNOWN: ReadonlySet<string> = new Set([
  ...ZERO_DECIMAL,
  ...THREE_DECIMAL,
  ...`usd aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bmd bnd bob brl bsd bwp byn bzd cad cdf chf
cny cop crc cve czk dkk dop dzd egp etb eur fjd fkp gbp gel gip gmd gtq gyd hkd hnl htg huf idr ils inr isk jmd
kes kgs khr kyd kzt lak lbp lkr lrd lsl mad mdl mkd mmk mnt mop mur mvr mwk mxn myr mzn nad ngn nio nok npr nzd
pab pen pgk php pkr pln qar ron rsd rub sar sbd scr sek sgd shp sle sos srd std stn szl thb tjs top try ttd twd
tzs uah uyu uzs wst xcd yer zar zmw`.split(/\s+/),
]);

const CODE = /^[A-Za-z]{3}$/;

/**
 * Decimal places of an API amount in `currency` (any case); undefined for a currency Keybrake does
 * not know, so the caller can refuse to price it.
 */
export function minorUnitExponent(currency: string): number | undefined {
  if (!CODE.test(currency)) return undefined;
  const code = currency.toLowerCase();
  if (!KNOWN.has(code)) return undefined;
  if (ZERO_DECIMAL.has(code)) return 0;
  if (THREE_DECIMAL.has(code)) return 3;
  return 2;
}
