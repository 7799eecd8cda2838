import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assemble, type Verdict } from '../../api/validate.ts';
import { createFileAssembler } from './file-assembly.ts';

type Kind = 'VaultKey' | 'SpendPolicy' | 'Secret';

/** A verdict of a resource (only its kind and metadata matter to assembling) or of an invalid document. */
const verdict = (source: string, index: number): fc.Arbitrary<Verdict> =>
  fc.oneof(
    {
      weight: 4,
      arbitrary: fc
        .record({
          kind: fc.constantFrom<Kind>('VaultKey', 'SpendPolicy', 'Secret'),
          namespace: fc.constantFrom('a', 'b'),
          // Few names, so that the same one in two files (a duplicate) is common.
          name: fc.constantFrom('n0', 'n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7'),
        })
        .map(
          ({ kind, namespace, name }): Verdict => ({
            type: 'resource',
            kind,
            value: { metadata: { namespace, name } } as never,
            source,
            index,
          }),
        ),
    },
    {
      weight: 1,
      arbitrary: fc.boolean().map(
        (withRejected): Verdict => ({
          type: 'invalid',
          errors: [{ source, index, path: 'spec', message: 'is required' }],
          ...(withRejected && {
            rejected: { kind: 'VaultKey', namespace: 'a', name: `bad-${source}-${index}`, errors: [] },
          }),
        }),
      ),
    },
  );

/** Up to 8 files of up to 6 documents each, and up to 8 successive lists of them (repeats and all). */
const pool = fc
  .integer({ min: 1, max: 8 })
  .chain((files) =>
    fc.tuple(
      ...Array.from({ length: files }, (_, f) =>
        fc
          .integer({ min: 0, max: 6 })
          .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => verdict(`f${f}.yaml`, i)))),
      ),
    ),
  );
const scenario = pool.chain((files) =>
  fc.record({
    files: fc.constant(files as Verdict[][]),
    steps: fc.array(fc.array(fc.integer({ min: 0, max: files.length - 1 }), { maxLength: 8 }), {
      minLength: 1,
      maxLength: 8,
    }),
  }),
);

describe('createFileAssembler', () => {
  it("gives assemble's result for every list of files, one list after another", () => {
    fc.assert(
      fc.property(scenario, ({ files, steps }) => {
        const assembler = createFileAssembler();
        for (const step of steps) {
          const list = step.map((i) => files[i]!);
          const got = assembler.assemble(list);
          const want = assemble(list.flat());
          expect(got).toEqual(want);
          // The very resource objects, not copies: the compiler's caches are keyed by them.
          for (const group of ['policies', 'keys', 'secrets', 'rejected'] as const)
            expect(got.set[group].every((x, i) => x === want.set[group][i])).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('counts a file again when its verdicts come as a new array, and forgets one that went', () => {
    const key = (name: string, source: string): Verdict => ({
      type: 'resource',
      kind: 'VaultKey',
      value: { metadata: { namespace: 'a', name } } as never,
      source,
      index: 0,
    });
    const assembler = createFileAssembler();
    const one = [key('x', 'one.yaml')];
    const two = [key('x', 'two.yaml')];
    expect(assembler.assemble([one]).errors).toEqual([]);
    // x in both files: the second is the duplicate.
    expect(assembler.assemble([one, two]).errors).toMatchObject([
      { source: 'two.yaml', path: 'metadata.name' },
    ]);
    // one.yaml edited to define y: its new verdicts replace the old ones, x is no longer twice.
    const edited = [key('y', 'one.yaml')];
    const after = assembler.assemble([edited, two]);
    expect(after.errors).toEqual([]);
    expect(after.set.keys.map((k) => k.metadata.name)).toEqual(['y', 'x']);
    // two.yaml removed, then back: counted once each time.
    expect(assembler.assemble([edited]).set.keys).toHaveLength(1);
    expect(assembler.assemble([edited, two]).errors).toEqual([]);
  });
});
