import { describe, expect, it } from 'vitest';
import { minorToMicroUsd } from './convert.ts';
import { minorUnitExponent } from './currencies.ts';
import { loadExchangeRates, parseDecimalFraction } from './exchange-rates.ts';

const rates = loadExchangeRates();

describe('minorUnitExponent', () => {
  it.each([
    ['usd', 2],
    ['USD', 2],
    ['jpy', 0],
    ['Krw', 0],
    ['ugx', 0],
    ['kwd', 3],
    ['tnd', 3],
    ['isk', 2],
    ['huf', 2],
    ['twd', 2],
    ['eur', 2],
  ])('gives %s an exponent of %i', (code, exp) => {
    expect(minorUnitExponent(code)).toBe(exp);
  });

  it.each(['xyz', '', 'us', 'usdd', '__proto__', 'toString'])('does not know %j', (code) => {
    expect(minorUnitExponent(code)).toBeUndefined();
  });
});

describe('minorToMicroUsd', () => {
  it.each([
    ['USD cents exactly', 1999, 'usd', 19_990_000],
    ['USD in upper case', 100, 'USD', 1_000_000],
    ['zero', 0, 'usd', 0],
    // ¥1000 at 1.0705/171.94 = $6.22600907…, rounded up to the next micro-dollar.
    ['JPY as whole yen (zero-decimal)', 1000, 'jpy', 6_226_010],
    // 1.000 KWD at the conservative 3.35 USD.
    ['KWD in thousandths (three-decimal)', 1000, 'kwd', 3_350_000],
    // €10.00 at 1.0705.
    ['EUR exactly when the rate divides', 1000, 'eur', 10_705_000],
    // 1.000 BHD at the 0.376 parity = 2.659574468… USD.
    ['BHD through its USD parity', 1000, 'bhd', 2_659_575],
  ])('converts %s', (_name, amount, currency, micros) => {
    expect(minorToMicroUsd(amount, currency, rates)).toBe(micros);
  });

  it('never rounds a non-USD amount down', () => {
    // 1 yen is worth 6226.009… micro-dollars.
    expect(minorToMicroUsd(1, 'jpy', rates)).toBe(6227);
  });

  it.each([
    ['an unknown currency', 100, 'xyz'],
    ['a known currency without a rate', 100, 'twd'],
    ['a negative amount', -1, 'usd'],
    ['a fractional amount', 1.5, 'usd'],
    ['an unsafe integer', 2 ** 53, 'usd'],
    ['NaN', Number.NaN, 'usd'],
    ['a result beyond safe integers', Number.MAX_SAFE_INTEGER, 'eur'],
  ])('refuses %s', (_name, amount, currency) => {
    expect(minorToMicroUsd(amount, currency, rates)).toBeUndefined();
  });
});

describe('loadExchangeRates', () => {
  it('states its source and date', () => {
    expect(rates.asOf).toBe('2024-06-28');
    expect(rates.source).toMatch(/ECB/);
  });

  it('lets configuration add and replace rates in either case', () => {
    const custom = loadExchangeRates({ TWD: '0.031', jpy: 0.01 });
    expect(minorToMicroUsd(100, 'twd', custom)).toBe(31_000);
    expect(minorToMicroUsd(100, 'jpy', custom)).toBe(1_000_000);
    expect(custom.source).toMatch(/overridden: jpy, twd/);
    expect(minorToMicroUsd(100, 'jpy', rates)).toBe(622_601);
  });

  it.each([
    ['a zero rate', { jpy: '0' }],
    ['a negative rate', { jpy: -1 }],
    ['garbage', { jpy: 'cheap' }],
    ['infinity', { jpy: Number.POSITIVE_INFINITY }],
    ['an unknown currency', { xyz: '1' }],
    ['a USD rate', { usd: '2' }],
    ['one currency in two letter cases', { JPY: '0.0066', jpy: '0.000001' }],
    ['one currency in two letter cases, the other order', { jpy: '0.000001', JPY: '0.0066' }],
    ['one currency in two mixed cases', { Jpy: '0.0066', jPY: '0.0066' }],
  ])('rejects %s', (_name, overrides) => {
    expect(() => loadExchangeRates(overrides)).toThrow(/exchange-rate override/);
  });

  // Sixteenth round: a rate that is neither text nor a number stopped the start with a bare
  // "text.trim is not a function", naming neither the currency nor what was wrong.
  it.each([
    ['a mapping', { eur: { rate: '1.08' } }, /override for eur: .*got \{"rate":"1.08"\}/],
    ['nothing', { eur: null }, /override for eur: expected a positive decimal USD per unit, got null/],
    ['a boolean', { eur: true }, /override for eur: .*got true/],
  ])('refuses a rate that is %s, naming the currency', (_name, overrides, message) => {
    expect(() => loadExchangeRates(overrides as unknown as Record<string, string>)).toThrow(message);
  });

  it('names both spellings of a currency given twice', () => {
    expect(() => loadExchangeRates({ JPY: '0.0066', jpy: '0.000001' })).toThrow(
      /currency jpy is given twice \("JPY" and "jpy"\)/,
    );
  });

  it.each([
    ['1.0705', 10705n, 10000n],
    ['200', 200n, 1n],
    ['6.7e-7', 67n, 100000000n],
    ['1.5E2', 150n, 1n],
  ])('parses %s exactly', (text, n, d) => {
    expect(parseDecimalFraction(text)).toEqual({ numerator: n, denominator: d });
  });
});
