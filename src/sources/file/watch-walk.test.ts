import type * as fs from 'node:fs';
import { mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { symlinkDiamond } from '../../../test/env/symlink-diamond.ts';

/** Every directory fs.watch was armed on, by real path: the count of watchers per real folder. */
const armed = new Map<string, number>();
vi.mock('node:fs', async (original) => {
  const real = await original<typeof fs>();
  const watch = (dir: fs.PathLike, ...rest: unknown[]) => {
    const at = (() => {
      try {
        return real.realpathSync(dir);
      } catch {
        return String(dir);
      }
    })();
    armed.set(at, (armed.get(at) ?? 0) + 1);
    return (real.watch as (...args: unknown[]) => fs.FSWatcher)(dir, ...rest);
  };
  return { ...real, default: { ...real, watch }, watch };
});

const { watchManifests } = await import('./watch.ts');

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keybrake-watch-walk-'));
  armed.clear();
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('watchManifests walk', () => {
  // Eleventh round: the walk armed a folder once per path to it, 2^levels through a diamond.
  it('arms a folder reached by many links once, and sees a change in it', async () => {
    await symlinkDiamond(dir, 12);
    let wake: () => void = () => {};
    const changed = new Promise<void>((resolve) => {
      wake = resolve;
    });
    const w = watchManifests([dir], () => wake(), {
      debounceMs: 20,
      schedule: () => ({ cancel() {} }),
    });
    try {
      const deepest = await realpath(join(dir, 'tree', 'd12'));
      expect(armed.get(deepest)).toBe(1);
      expect(Math.max(...armed.values())).toBe(1);
      await writeFile(join(deepest, 'k.yaml'), 'a: 1');
      await changed;
    } finally {
      w.close();
    }
  });
});
