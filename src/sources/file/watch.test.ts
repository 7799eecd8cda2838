import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ManifestWatch, watchManifests } from './watch.ts';

let dir: string;
let w: ManifestWatch | undefined;
let changes: number;
let wake: (() => void) | undefined;

function changed(): Promise<void> {
  return new Promise((resolve) => {
    wake = resolve;
  });
}

function start(paths: string[]): void {
  w = watchManifests(
    paths,
    () => {
      changes += 1;
      wake?.();
    },
    { debounceMs: 20, rearmMs: 20 },
  );
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keybrake-watch-'));
  changes = 0;
});
afterEach(async () => {
  w?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('watchManifests', () => {
  it('sees an editor-style rename-replace save of a watched file', async () => {
    const file = join(dir, 'key.yaml');
    await writeFile(file, 'a: 1');
    start([file]);
    const c = changed();
    await writeFile(join(dir, '.key.yaml.swp'), 'a: 2');
    await rename(join(dir, '.key.yaml.swp'), file);
    await c;
    expect(changes).toBeGreaterThanOrEqual(1);
  });

  it('ignores siblings of a watched file', async () => {
    const file = join(dir, 'key.yaml');
    await writeFile(file, 'a: 1');
    start([file]);
    const other = join(dir, 'other.yaml');
    await writeFile(other, 'b: 1');
    // A probe on the sibling fires after the main watcher would have, had it seen the sibling.
    let probeSeen!: () => void;
    const seen = new Promise<void>((resolve) => {
      probeSeen = resolve;
    });
    const probe = watchManifests([other], () => probeSeen(), { debounceMs: 60 });
    await writeFile(other, 'b: 2');
    await seen;
    probe.close();
    expect(changes).toBe(0);
  });

  it('sees every rename-replace save in a watched directory, and plain writes after them', async () => {
    // Node's recursive watcher on Linux loses a file once a rename has replaced it.
    const file = join(dir, 'k.yaml');
    await writeFile(file, 'x: 0');
    start([dir]);
    const scratch = await mkdtemp(join(tmpdir(), 'keybrake-watch-scratch-'));
    try {
      for (let i = 1; i <= 3; i++) {
        const c = changed();
        await writeFile(join(scratch, 'k.yaml'), `x: ${i}`);
        await rename(join(scratch, 'k.yaml'), file);
        await c;
      }
      const c = changed();
      await writeFile(file, 'x: 9');
      await c;
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
    expect(changes).toBeGreaterThanOrEqual(4);
  });

  it('sees changes in a nested directory', async () => {
    await mkdir(join(dir, 'team', 'keys'), { recursive: true });
    start([dir]);
    const c = changed();
    await writeFile(join(dir, 'team', 'keys', 'k.yaml'), 'x: 1');
    await c;
    expect(changes).toBeGreaterThanOrEqual(1);
  });

  it('keeps watching a directory that is deleted and created again', async () => {
    const sub = join(dir, 'manifests');
    await mkdir(sub);
    start([sub]);
    let c = changed();
    await rm(sub, { recursive: true });
    await c;
    c = changed();
    await mkdir(sub);
    await c;
    c = changed();
    await writeFile(join(sub, 'k.yaml'), 'x: 1');
    await c;
    expect(changes).toBeGreaterThanOrEqual(3);
  });

  it('stops calling after close', async () => {
    const file = join(dir, 'key.yaml');
    await writeFile(file, 'a: 1');
    start([file]);
    w!.close();
    await writeFile(file, 'a: 2');
    // A later change seen by a fresh watcher proves the first one had its chance to fire.
    const probe = watchManifests([file], () => wake?.(), { debounceMs: 40 });
    const c = changed();
    await writeFile(file, 'a: 3');
    await c;
    probe.close();
    expect(changes).toBe(0);
  });
});
