import { describe, expect, it } from 'vitest';
import { parseDuration } from './duration.ts';

describe('parseDuration', () => {
  it.each([
    ['15s', 15_000],
    ['500ms', 500],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['0.5s', 500],
    ['3', 3_000],
    ['fast', undefined],
    ['-1s', undefined],
    ['1d', undefined],
  ])('reads %s', (text, expected) => {
    expect(parseDuration(text)).toBe(expected);
  });
});
