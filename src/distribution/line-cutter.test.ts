import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LineCutter } from './line-cutter.ts';

/** `text`'s bytes cut at `cuts` (byte offsets), through one cutter: every line, and what is held. */
function cutAll(text: string, cuts: readonly number[]) {
  const bytes = Buffer.from(text, 'utf8');
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const cutter = new LineCutter();
  const lines: string[] = [];
  let from = 0;
  for (const to of [...at, bytes.length]) {
    // A chunk of its own, as a socket gives: the cutter may hold on to it.
    lines.push(...cutter.push(Buffer.from(bytes.subarray(from, to))));
    from = to;
  }
  return { lines, held: cutter.held };
}

describe('LineCutter', () => {
  it('reads lines across chunks, multi-byte characters cut between them too', () => {
    const text = '{"a":"é€😀"}\n\n{"b":1}\npartial ü';
    const all = Buffer.byteLength(text);
    for (let cut = 0; cut <= all; cut++)
      expect(cutAll(text, [cut, cut + 1])).toEqual({
        lines: ['{"a":"é€😀"}', '', '{"b":1}'],
        held: Buffer.byteLength('partial ü'),
      });
  });

  it('gives the lines of any text however its bytes are cut, as decoding the whole text would', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.string({ unit: 'binary' }), fc.constant('\n')), { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        (pieces, cuts) => {
          const text = pieces.join('');
          const whole = Buffer.from(text, 'utf8').toString('utf8').split('\n');
          const rest = whole.pop()!;
          expect(cutAll(text, cuts)).toEqual({ lines: whole, held: Buffer.byteLength(rest) });
        },
      ),
    );
  });
});
