import { appendFile, mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { symlinkDiamond } from '../../../test/env/symlink-diamond.ts';
import { manifestFingerprint } from './fingerprint.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keybrake-fingerprint-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Two releases of one folder, the same text in each, and `current` pointing at the first. */
async function releases(): Promise<string> {
  for (const v of ['v1', 'v2']) {
    await mkdir(join(dir, 'releases', v, 'm'), { recursive: true });
    await writeFile(join(dir, 'releases', v, 'm', 'key.yaml'), 'a: 1');
  }
  await symlink('releases/v1', join(dir, 'current'));
  return join(dir, 'current', 'm');
}

describe('manifestFingerprint', () => {
  it('is the same while nothing that is read changes, a dot folder the loader skips included', async () => {
    const m = await releases();
    await mkdir(join(m, '.hidden'));
    const before = manifestFingerprint([m]);
    expect(manifestFingerprint([m])).toBe(before);
    await writeFile(join(m, '.hidden', 'key.yaml'), 'skipped by the loader');
    expect(manifestFingerprint([m])).toBe(before);
  });

  it('is the same while only files the loader never reads are written (a log, a dot file)', async () => {
    // An audit log in the watched folder changed it on every call, and every check then reloaded.
    const m = await releases();
    for (const f of ['audit.jsonl', 'notes.txt', '.heartbeat']) await writeFile(join(m, f), '');
    const before = manifestFingerprint([m]);
    for (const f of ['audit.jsonl', 'notes.txt', '.heartbeat']) await appendFile(join(m, f), 'more\n');
    expect(manifestFingerprint([m])).toBe(before);
  });

  it('changes when a folder link above the path points at another release', async () => {
    const m = await releases();
    const before = manifestFingerprint([m]);
    await symlink('releases/v2', join(dir, 'current.tmp'));
    await rename(join(dir, 'current.tmp'), join(dir, 'current'));
    expect(manifestFingerprint([m])).not.toBe(before);
  });

  it('changes when a linked file is pointed at a copy with the same text', async () => {
    await writeFile(join(dir, 'v1.yaml'), 'a: 1');
    await writeFile(join(dir, 'v2.yaml'), 'a: 1');
    await mkdir(join(dir, 'm'));
    await symlink('../v1.yaml', join(dir, 'm', 'key.yaml'));
    const before = manifestFingerprint([join(dir, 'm')]);
    await symlink('../v2.yaml', join(dir, 'm', 'key.tmp'));
    await rename(join(dir, 'm', 'key.tmp'), join(dir, 'm', 'key.yaml'));
    expect(manifestFingerprint([join(dir, 'm')])).not.toBe(before);
  });

  it('changes when the parent of the files given is moved away and written anew', async () => {
    const files = [join(dir, 'kb', 'key.yaml'), join(dir, 'kb', 'secrets.yaml')];
    await mkdir(join(dir, 'kb'));
    for (const f of files) await writeFile(f, 'a: 1');
    const before = manifestFingerprint(files);
    await rename(join(dir, 'kb'), join(dir, 'kb.old'));
    await mkdir(join(dir, 'kb'));
    for (const f of files) await writeFile(f, 'a: 1');
    expect(manifestFingerprint(files)).not.toBe(before);
  });

  it('changes when a manifest is added to a folder, and when a path comes back', async () => {
    const m = join(dir, 'm');
    const gone = manifestFingerprint([m]);
    await mkdir(m);
    const empty = manifestFingerprint([m]);
    expect(empty).not.toBe(gone);
    await writeFile(join(m, 'key.yaml'), 'a: 1');
    expect(manifestFingerprint([m])).not.toBe(empty);
  });

  // Eleventh round: the walk listed a folder once per path to it (2^levels through a diamond).
  it('lists a folder reached by many links once, as the loader reads it, and still sees it change', async () => {
    await symlinkDiamond(dir, 12);
    const k = join(dir, 'tree', 'd12', 'k.yaml');
    await writeFile(k, 'a: 1');
    const before = manifestFingerprint([dir]);
    expect(before.split('\n').filter((line) => line.includes('k.yaml'))).toHaveLength(1);
    await appendFile(k, 'b: 2\n');
    expect(manifestFingerprint([dir])).not.toBe(before);
  });
});
