import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Denial, isDenial } from '../decision/reasons.ts';
import { parseJson } from './json.ts';
import { foldName, isMethodOverride } from './names.ts';

/**
 * Properties of the JSON reader (ADR 0007 §2): nothing escapes as an exception; every text is a value
 * or a named Denial; a document with a key repeated in one object — exactly, ignoring case, or
 * spelt with escapes — is always refused; any other document reads exactly as JSON.parse reads it.
 */

const limits = { maxBytes: 1 << 20, maxDepth: 64, maxParams: 100_000 };
const RUNS = { numRuns: 500 };

/** Keys refused wherever they stand: readers that merge into plain objects, or repair lone surrogates, read them otherwise. */
const FORBIDDEN_KEY = (k: string) =>
  k === '__proto__' || k === 'constructor' || k === 'prototype' || !k.isWellFormed();

/** Whether some object in the value has two keys equal ignoring case, a forbidden key, or a top-level `_method`. */
function ambiguous(value: unknown, top = true): boolean {
  if (Array.isArray(value)) return value.some((v) => ambiguous(v, false));
  if (typeof value !== 'object' || value === null) return false;
  const keys = Object.keys(value);
  if (top && keys.some(isMethodOverride)) return true;
  if (keys.some(FORBIDDEN_KEY)) return true;
  if (new Set(keys.map(foldName)).size !== keys.length) return true;
  return Object.values(value).some((v) => ambiguous(v, false));
}

/** A JSON string literal of `s` with some characters written as `\uXXXX` (hex case at random). */
function escaped(s: string, mask: readonly boolean[]): string {
  let out = '"';
  [...s].forEach((ch, i) => {
    const code = ch.codePointAt(0)!;
    if (mask[i % mask.length] || ch === '"' || ch === '\\' || code < 0x20) {
      for (const unit of ch.length === 2 ? [ch.charCodeAt(0), ch.charCodeAt(1)] : [code]) {
        const hex = unit.toString(16).padStart(4, '0');
        out += `\\u${i % 2 ? hex.toUpperCase() : hex}`;
      }
    } else out += ch;
  });
  return `${out}"`;
}

const keyChar = fc.constantFrom(...'abcABCtToO_-é€😀"\\ \n'.match(/./gsu)!);
const key = fc.string({ unit: keyChar, minLength: 1, maxLength: 6 });
const mask = fc.array(fc.boolean(), { minLength: 1, maxLength: 6 });

describe('parseJson properties', () => {
  it('never throws: any text is a value or a named Denial', () => {
    const jsonish = fc.string({ unit: fc.constantFrom(...'{}[]",:\\u0aA1 tn'.match(/./gu)!), maxLength: 40 });
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 60 }), jsonish), (text) => {
        const r = parseJson(text, limits);
        if (isDenial(r)) {
          expect(r).toBeInstanceOf(Denial);
          expect(r.reason).toBe('body_invalid');
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('reads any document without repeated keys as JSON.parse does, and refuses the others', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), (value) => {
        const text = JSON.stringify(value);
        const r = parseJson(text, limits);
        if (ambiguous(value)) expect(isDenial(r) && r.reason).toBe('body_invalid');
        else expect(r).toEqual(JSON.parse(text));
      }),
      RUNS,
    );
  });

  it('refuses a key repeated in one object, whatever its case, escapes, depth or position', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.tuple(key, fc.jsonValue({ maxDepth: 2 })), {
          selector: ([k]) => foldName(k),
          minLength: 1,
          maxLength: 6,
        }),
        fc.nat(),
        fc.nat(),
        fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
        mask,
        mask,
        fc.array(fc.constantFrom('object', 'array'), { maxLength: 3 }),
        (members, pick, at, flips, maskA, maskB, wrappers) => {
          const [k] = members[pick % members.length]!;
          // The copy: the same key with some letters' case flipped, escaped differently.
          const copy = [...k].map((c, i) => (flips[i % 8] ? c.toUpperCase() : c)).join('');
          const parts = members.map(([name, v]) => `${escaped(name, maskA)}:${JSON.stringify(v)}`);
          parts.splice(at % (parts.length + 1), 0, `${escaped(copy, maskB)}:1`);
          let text = `{${parts.join(',')}}`;
          for (const w of wrappers) text = w === 'object' ? `{"outer":${text}}` : `[0,${text}]`;
          expect(parseJson(text, limits)).toMatchObject({ reason: 'body_invalid' });
        },
      ),
      RUNS,
    );
  });

  it('decodes escaped keys before comparing: a document whose keys differ reads as JSON.parse', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(key, { selector: foldName, minLength: 1, maxLength: 6 }),
        mask,
        (keys, m) => {
          const text = `{${keys.map((k, i) => `${escaped(k, m)}:${i}`).join(',')}}`;
          const parsed = JSON.parse(text);
          const r = parseJson(text, limits);
          if (ambiguous(parsed)) expect(r).toMatchObject({ reason: 'body_invalid' });
          else expect(r).toEqual(parsed);
        },
      ),
      RUNS,
    );
  });
});
