import { setImmediate as nextTurn } from 'node:timers/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LayeredMap } from './layered-map.ts';

const sorted = (m: ReadonlyMap<string, number>) => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : 1));

/** Every way the table reads: lookups of present and absent keys, size, iteration. */
function expectSame(actual: LayeredMap<number>, expected: ReadonlyMap<string, number>, probe: string[]) {
  expect(actual.size).toBe(expected.size);
  expect(sorted(actual)).toEqual(sorted(expected));
  for (const k of probe) {
    expect(actual.get(k)).toBe(expected.get(k));
    expect(actual.has(k)).toBe(expected.has(k));
  }
}

const change = fc.record({
  upsert: fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }).map(String), fc.integer()), { maxLength: 8 }),
  remove: fc.array(fc.integer({ min: 0, max: 40 }).map(String), { maxLength: 8 }),
});
const probe = Array.from({ length: 42 }, (_, i) => String(i));

function applyTo(reference: Map<string, number>, c: { upsert: [string, number][]; remove: string[] }) {
  // A delta's upserts and removals are disjoint; model that.
  const up = new Map(c.upsert);
  const remove = c.remove.filter((k) => !up.has(k));
  const next = new Map(reference);
  for (const k of remove) next.delete(k);
  for (const [k, v] of up) next.set(k, v);
  return { next, up, remove };
}

describe('LayeredMap', () => {
  it('reads as the Map it stands for after any series of changes, and never changes a table it was derived from', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }).map(String), fc.integer())),
        fc.array(change),
        (initial, changes) => {
          let reference = new Map(initial);
          let table = LayeredMap.of(new Map(reference));
          const history: [LayeredMap<number>, Map<string, number>][] = [[table, reference]];
          for (const c of changes) {
            const { next, up, remove } = applyTo(reference, c);
            table = table.with(up, remove);
            reference = next;
            history.push([table, reference]);
          }
          for (const [t, r] of history) expectSame(t, r, probe);
        },
      ),
    );
  });

  it('folds the overlay into a new base without changing what any reader sees, with deltas arriving meanwhile', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }).map(String), fc.integer())),
        fc.array(change, { minLength: 1 }),
        fc.array(change),
        async (initial, before, during) => {
          let reference = new Map(initial);
          let table = LayeredMap.of(new Map(reference));
          for (const c of before) {
            const { next, up, remove } = applyTo(reference, c);
            table = table.with(up, remove);
            reference = next;
          }
          const from = table;
          const fromReference = reference;
          let i = 0;
          // One delta per turn the compaction gives away; every reader checks the table it holds.
          const compacted = LayeredMap.compact(
            from,
            () => table,
            async () => {
              expectSame(table, reference, probe);
              const c = during[i++];
              if (c) {
                const { next, up, remove } = applyTo(reference, c);
                table = table.with(up, remove);
                reference = next;
              }
              await nextTurn();
            },
            4,
          );
          await compacted;
          expectSame(table, reference, probe);
          expectSame(from, fromReference, probe);
          // Later deltas build on the compacted table.
          const after = table.with([['new', 1]], ['0']);
          const expected = new Map(reference);
          expected.delete('0');
          expected.set('new', 1);
          expectSame(after, expected, [...probe, 'new']);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('shrinks the overlay of the table it compacts to what changed since it started', async () => {
    const base = new Map(Array.from({ length: 1000 }, (_, i) => [String(i), i]));
    let table = LayeredMap.of(base).with(
      Array.from({ length: 300 }, (_, i): [string, number] => [String(i), -i]),
      ['999'],
    );
    expect(table.overlaySize).toBe(301);
    const start = table;
    const done = LayeredMap.compact(start, () => table, nextTurn, 100);
    table = table.with([['5000', 1]], []);
    expect(await done).toBe(true);
    expect(table.overlaySize).toBe(1);
    expect(start.overlaySize).toBe(301);
    expect(table.get('5')).toBe(-5);
    expect(table.get('999')).toBeUndefined();
    expect(table.size).toBe(1000);
  });

  it('leaves a table alone that a full table replaced while it compacted', async () => {
    const start = LayeredMap.of(new Map([['a', 1]])).with([['b', 2]], []);
    let latest: LayeredMap<number> = start;
    const done = LayeredMap.compact(start, () => latest, nextTurn, 1);
    latest = LayeredMap.of(new Map([['c', 3]]));
    expect(await done).toBe(false);
    expect(start.overlaySize).toBe(1);
    expect([...latest]).toEqual([['c', 3]]);
  });

  it('is a ReadonlyMap: keys, values, entries, forEach and its tag', () => {
    const t = LayeredMap.of(new Map([['a', 1]])).with([['b', 2]], ['a']);
    expect([...t.keys()]).toEqual(['b']);
    expect([...t.values()]).toEqual([2]);
    const seen: [string, number][] = [];
    t.forEach((v, k, m) => {
      expect(m).toBe(t);
      seen.push([k, v]);
    });
    expect(seen).toEqual([['b', 2]]);
    expect(Object.prototype.toString.call(t)).toBe('[object LayeredMap]');
    expect(LayeredMap.from(t)).toBe(t);
  });
});
