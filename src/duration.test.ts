import { describe, expect, it } from 'vitest';
import { parseDuration } from './duration.ts';

describe('parseDuration', () => {
  it.each([
    ['15s', 15_000],
    ['30s', 30_000],
    ['500ms', 500],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['0.5s', 500],
    ['1.5s', 1_500],
    ['0s', 0],
    [' 45s ', 45_000],
  ])('reads %j as %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    ['3', 3],
    ['50', 50],
    ['250', 250],
    ['30000', 30_000],
  ])('reads the bare number %j as milliseconds', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', 'fast', 'soon', '-1s', '1d', '5d', '2.5', '1e3', '1 s', '99999999999999999h'])(
    'refuses %j',
    (text) => {
      expect(parseDuration(text)).toBeUndefined();
    },
  );
});
