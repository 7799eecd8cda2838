import { afterEach, describe, expect, it, vi } from 'vitest';
import { AFTER_BACKSLASH, ALONE, BEFORE_HEX, Candidates } from './candidates.ts';

const ESCAPES = [
  [0x25, BEFORE_HEX],
  [0x75, AFTER_BACKSLASH],
  [0x0a, ALONE],
] as const;

function all(text: string): number[] {
  const candidates = new Candidates(Buffer.from(text, 'latin1'), ESCAPES);
  const found: number[] = [];
  for (let at = candidates.from(0); at !== -1; at = candidates.from(at + 1)) found.push(at);
  return found;
}

afterEach(() => vi.restoreAllMocks());

describe('Candidates', () => {
  it('finds the bytes that begin something, near and far apart', () => {
    expect(all('%4%41 \\u0041 u %% %g %F\n')).toEqual([0, 2, 7, 21, 23]);
    const far = `${'x'.repeat(1000)}%41${'y'.repeat(1000)}\\u${'z'.repeat(100)}\n`;
    expect(all(far)).toEqual([1000, 2004, far.length - 1]);
    expect(all('%')).toEqual([]);
  });

  // Ninth round: the escape walk looked at every byte from the first `%` or `\` in JavaScript, and a
  // native call per candidate would cost more still where an agent packs them.
  it.each([
    ['%', '%'],
    ['\\', '\\'],
    ['u', 'u'],
    ['%g', '%g'],
  ])('walks 1 MB of %s with one native search per 64 bytes at most, finding nothing', (_name, unit) => {
    const bytes = Buffer.from(unit.repeat(1_000_000 / unit.length));
    const indexOf = vi.spyOn(Buffer.prototype, 'indexOf');
    const candidates = new Candidates(bytes, ESCAPES);
    expect(candidates.from(0)).toBe(-1);
    expect(indexOf.mock.calls.length).toBeLessThanOrEqual(bytes.length / 64 + ESCAPES.length);
  });
});
