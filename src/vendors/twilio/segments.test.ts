import { describe, expect, it } from 'vitest';
import { MAX_BODY_LENGTH, MAX_SEGMENTS, maxSegments, smsSegments } from './segments.ts';

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

  // Third probe round: the bound was 24 (1600 / 67), but a part never splits a surrogate pair.
  it.each([
    ['800 emoji', '😀'.repeat(800)],
    ['one UCS-2 character before 799 emoji', `✓${'😀'.repeat(799)}`],
    ['1600 UCS-2 characters', '✓'.repeat(1600)],
    ['1600 GSM-7 extension characters', '€'.repeat(1600)],
  ])('MAX_SEGMENTS bounds %s, the longest body Twilio accepts', (_name, body) => {
    expect(body.length).toBeLessThanOrEqual(MAX_BODY_LENGTH);
    expect(smsSegments(body).segments).toBeLessThanOrEqual(MAX_SEGMENTS);
  });

  it('bounds every body by maxSegments of its length', () => {
    for (let bmp = 0; bmp < 140; bmp++) {
      const body = `${'✓'.repeat(bmp)}${'😀'.repeat(700)}`;
      expect(smsSegments(body).segments).toBeLessThanOrEqual(maxSegments(body.length));
    }
    expect(MAX_SEGMENTS).toBe(25);
  });
});
