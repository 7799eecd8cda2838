import { describe, expect, it } from 'vitest';
import { smsSegments } from './segments.ts';

describe('smsSegments', () => {
  it.each([
    ['160 GSM-7 characters fit one segment', 'x'.repeat(160), 'GSM-7', 1],
    ['161 GSM-7 characters need two', 'x'.repeat(161), 'GSM-7', 2],
    ['306 GSM-7 characters fit two 153-character parts', 'x'.repeat(306), 'GSM-7', 2],
    ['307 GSM-7 characters need three', 'x'.repeat(307), 'GSM-7', 3],
    ['a check mark forces UCS-2 but stays one segment', 'Hello ✓', 'UCS-2', 1],
    ['70 UCS-2 characters fit one segment', '✓'.repeat(70), 'UCS-2', 1],
    ['71 UCS-2 characters need two', '✓'.repeat(71), 'UCS-2', 2],
    ['GSM-7 extension characters count twice', '€'.repeat(81), 'GSM-7', 2],
    ['an empty body is still one segment', '', 'GSM-7', 1],
  ])('%s', (_name, body, encoding, segments) => {
    expect(smsSegments(body)).toEqual({ encoding, segments });
  });
});
