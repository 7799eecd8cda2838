import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sameItems, sameJson } from './equality.ts';

describe('sameJson', () => {
  /** The reference: JSON text with every object's keys sorted. */
  const canonical = (value: unknown): string =>
    JSON.stringify(value, (_k, v: unknown) =>
      v && typeof v === 'object' && !Array.isArray(v)
        ? Object.fromEntries(
            Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)),
          )
        : v,
    );
  const shuffled = (value: unknown, seed: number): unknown => {
    if (Array.isArray(value)) return value.map((v) => shuffled(v, seed));
    if (value === null || typeof value !== 'object') return value;
    const entries = Object.entries(value);
    if (seed % 2) entries.reverse();
    return Object.fromEntries(entries.map(([k, v]) => [k, shuffled(v, seed >> 1)]));
  };
  // Small alphabets, so that generated pairs are often equal, or differ in one place.
  const leaf = fc.oneof(
    fc.constantFrom('a', 'b', ''),
    fc.constantFrom(0, 1, -1),
    fc.boolean(),
    fc.constant(null),
  );
  const json = fc.letrec((tie) => ({
    value: fc.oneof({ depthSize: 'small' }, leaf, tie('array'), tie('object')),
    array: fc.array(tie('value'), { maxLength: 3 }),
    object: fc.dictionary(fc.constantFrom('x', 'y', 'z'), fc.option(tie('value'), { nil: undefined }), {
      maxKeys: 3,
    }),
  })).value;

  it('agrees with comparing key-sorted JSON text (property)', () => {
    fc.assert(
      fc.property(json, json, fc.nat(), (a, b, seed) => {
        expect(sameJson(a, b)).toBe(canonical(a) === canonical(b));
        expect(sameJson(a, shuffled(a, seed))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('sameItems', () => {
  it('is true only for the same objects in the same order', () => {
    const a = {};
    const b = {};
    expect(sameItems([a, b], [a, b])).toBe(true);
    expect(sameItems([a, b], [b, a])).toBe(false);
    expect(sameItems([a], [a, b])).toBe(false);
    expect(sameItems([{}], [{}])).toBe(false);
    expect(sameItems([], [])).toBe(true);
  });
});
