import {
  appendFile,
  mkdir,
  mkdtemp,
  realpath,
  rename,
  rm,
  symlink,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { linksAlong, type ManifestWatch, type WatchOptions, watchManifests } from './watch.ts';

let dir: string;
let w: ManifestWatch | undefined;
let changes: number;
let wake: (() => void) | undefined;

function changed(): Promise<void> {
  return new Promise((resolve) => {
    wake = resolve;
  });
}

/** A schedule that never runs what it is given: only the fs.watch watchers report. */
const noPoll = () => ({ cancel() {} });

function start(paths: string[], schedule: WatchOptions['schedule'] = noPoll): void {
  w = watchManifests(
    paths,
    () => {
      changes += 1;
      wake?.();
    },
    { debounceMs: 20, rearmMs: 20, schedule },
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

  it('ignores, in a watched directory, writes to files no load reads: a log, a dot file', async () => {
    // An audit log or a heartbeat written there restarted the debounce for as long as it went on.
    for (const f of ['audit.jsonl', 'notes.txt', '.heartbeat']) await writeFile(join(dir, f), '');
    start([dir]);
    for (let i = 0; i < 5; i++)
      for (const f of ['audit.jsonl', 'notes.txt', '.heartbeat']) await appendFile(join(dir, f), `${i}\n`);
    // A probe on another folder fires after the main watcher would have, had it seen those writes.
    const other = await mkdtemp(join(tmpdir(), 'keybrake-watch-probe-'));
    let probeSeen!: () => void;
    const seen = new Promise<void>((resolve) => {
      probeSeen = resolve;
    });
    const probe = watchManifests([other], () => probeSeen(), { debounceMs: 60, schedule: noPoll });
    await writeFile(join(other, 'k.yaml'), 'b: 2');
    await seen;
    probe.close();
    await rm(other, { recursive: true, force: true });
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

  describe('through symlinks, as the loader follows them', () => {
    /** A directory outside the watched one: links point into it. */
    let outside: string;
    beforeEach(async () => {
      outside = await mkdtemp(join(tmpdir(), 'keybrake-watch-outside-'));
    });
    afterEach(async () => {
      await rm(outside, { recursive: true, force: true });
    });

    /** Saves `text` to `file` as editors do: written beside it, renamed over it. */
    const save = async (file: string, text: string) => {
      await writeFile(`${file}.swp`, text);
      await rename(`${file}.swp`, file);
    };

    it('sees edits in a linked directory present at start', async () => {
      await mkdir(join(outside, 'team'));
      await writeFile(join(outside, 'team', 'k.yaml'), 'x: 0');
      await symlink(outside, join(dir, 'linked'));
      start([dir]);
      let c = changed();
      await writeFile(join(outside, 'team', 'k.yaml'), 'x: 1');
      await c;
      c = changed();
      await save(join(outside, 'k.yaml'), 'x: 2');
      await c;
    });

    it.each([
      ['written in place', (target: string) => writeFile(target, 'suspended: true')],
      ['saved by rename', (target: string) => save(target, 'suspended: true')],
      ['deleted', (target: string) => unlink(target)],
    ])('sees the target of a linked file outside the directory %s', async (_, change) => {
      const target = join(outside, 'key.yaml');
      await writeFile(target, 'suspended: false');
      await symlink(target, join(dir, 'key.yaml'));
      start([dir]);
      const c = changed();
      await change(target);
      await c;
    });

    it('sees the target of a linked file given by name', async () => {
      const target = join(outside, 'key.yaml');
      await writeFile(target, 'a: 1');
      await symlink(target, join(dir, 'key.yaml'));
      start([join(dir, 'key.yaml')]);
      const c = changed();
      await save(target, 'a: 2');
      await c;
    });

    it('follows a link pointed elsewhere, and a dangling link to its target', async () => {
      const link = join(dir, 'key.yaml');
      await symlink(join(outside, 'gone.yaml'), link);
      start([dir]);
      let c = changed();
      await writeFile(join(outside, 'gone.yaml'), 'a: 1'); // created: the link resolves now
      await c;
      await mkdir(join(outside, 'other'));
      await writeFile(join(outside, 'other', 'key.yaml'), 'a: 1');
      c = changed();
      await symlink(join(outside, 'other', 'key.yaml'), `${link}.new`);
      await rename(`${link}.new`, link);
      await c;
      c = changed();
      await save(join(outside, 'other', 'key.yaml'), 'a: 2');
      await c;
    });

    it('ends a walk at a link to a directory above', async () => {
      // Two of them: followed, every level would double the walk, 2^40 directories deep.
      await mkdir(join(dir, 'sub'));
      await symlink(dir, join(dir, 'sub', 'up'));
      await symlink('..', join(dir, 'sub', 'parent'));
      start([dir]);
      const c = changed();
      await writeFile(join(dir, 'sub', 'k.yaml'), 'x: 1');
      await c;
    });
  });

  // Eighth round: fs.watch stays on the inode it was armed on, so after these nothing watched what
  // serve reads, and a suspension written this way was never applied.
  describe('after what is read moved elsewhere', () => {
    const relink = async (target: string, link: string) => {
      await symlink(target, `${link}.tmp`);
      await rename(`${link}.tmp`, link);
    };

    it('sees a folder link above the path pointed at another release, and edits there after', async () => {
      for (const v of ['v1', 'v2']) {
        await mkdir(join(dir, 'releases', v, 'm'), { recursive: true });
        await writeFile(join(dir, 'releases', v, 'm', 'key.yaml'), `release: ${v}`);
      }
      await symlink('releases/v1', join(dir, 'current'));
      start([join(dir, 'current', 'm')]);
      let c = changed();
      await relink('releases/v2', join(dir, 'current'));
      await c;
      // Watched where it points now: an edit in place in the new release is seen.
      c = changed();
      await writeFile(join(dir, 'releases', 'v2', 'm', 'key.yaml'), 'suspended: true');
      await c;
    });

    it('sees a link in the middle of a chain of links pointed elsewhere', async () => {
      for (const v of ['v1', 'v2']) {
        await mkdir(join(dir, 'rel', v), { recursive: true });
        await writeFile(join(dir, 'rel', v, 'key.yaml'), `release: ${v}`);
      }
      await mkdir(join(dir, 'hop'));
      await mkdir(join(dir, 'd'));
      await symlink('../rel/v1/key.yaml', join(dir, 'hop', 'key.yaml'));
      await symlink('../hop/key.yaml', join(dir, 'd', 'key.yaml'));
      start([join(dir, 'd')]);
      const c = changed();
      await relink('../rel/v2/key.yaml', join(dir, 'hop', 'key.yaml'));
      await c;
    });

    it.each([
      ['files', ['key.yaml', 'secrets.yaml']],
      ['a folder', ['m']],
    ])('sees the parent of the %s given moved away and written anew', async (_, names) => {
      const kb = join(dir, 'kb');
      await mkdir(join(kb, 'm'), { recursive: true });
      for (const f of ['key.yaml', 'secrets.yaml', 'm/key.yaml']) await writeFile(join(kb, f), 'a: 1');
      start(names.map((n) => join(kb, n)));
      const c = changed();
      await rename(kb, `${kb}.old`);
      await mkdir(join(kb, 'm'), { recursive: true });
      for (const f of ['key.yaml', 'secrets.yaml', 'm/key.yaml']) await writeFile(join(kb, f), 'a: 2');
      await c;
    });

    it('sees, by its fingerprint check, a folder above the parent moved away and written anew', async () => {
      // No watcher sees this one: only the folder moved is told, and nothing watches it.
      const file = join(dir, 'g', 'kb', 'key.yaml');
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, 'a: 1');
      let checkNow: (() => void) | undefined;
      start([file], (_ms, run) => {
        checkNow = run;
        return { cancel() {} };
      });
      await rename(join(dir, 'g'), join(dir, 'g.old'));
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, 'a: 2');
      const c = changed();
      checkNow!();
      await c;
    });

    it('calls at once when a fingerprint check finds a change, whatever the debounce waits for', async () => {
      // The check went through the debounce, which a folder never quiet kept restarting.
      const file = join(dir, 'key.yaml');
      await writeFile(file, 'a: 1');
      let checkNow: (() => void) | undefined;
      w = watchManifests([file], () => changes++, {
        debounceMs: 1e6,
        maxWaitMs: 1e6,
        schedule: (_ms, run) => {
          checkNow = run;
          return { cancel() {} };
        },
      });
      await writeFile(file, 'a: 22');
      checkNow!();
      expect(changes).toBe(1);
    });

    it('does not call when a fingerprint check finds nothing changed', async () => {
      const file = join(dir, 'key.yaml');
      await writeFile(file, 'a: 1');
      let checks = 0;
      start([file], (_ms, run) => {
        if (++checks < 3) run(); // Two checks after the first, over the same file.
        return { cancel() {} };
      });
      expect(checks).toBe(3);
      // A probe on another file fires after the main watcher would have, had a check called it.
      const other = join(dir, 'other.yaml');
      await writeFile(other, 'b: 1');
      let probeSeen!: () => void;
      const seen = new Promise<void>((resolve) => {
        probeSeen = resolve;
      });
      const probe = watchManifests([other], () => probeSeen(), { debounceMs: 60, schedule: noPoll });
      await writeFile(other, 'b: 2');
      await seen;
      probe.close();
      expect(changes).toBe(0);
    });
  });

  describe('linksAlong', () => {
    it('names every link met, a folder link above and each link a link points to', async () => {
      await mkdir(join(dir, 'real', 'm'), { recursive: true });
      await writeFile(join(dir, 'real', 'm', 'k.yaml'), '');
      await symlink('real', join(dir, 'current'));
      await symlink('../current/m/k.yaml', join(dir, 'real', 'hop.yaml'));
      await symlink(join(dir, 'real', 'hop.yaml'), join(dir, 'first.yaml'));
      const real = await realpath(dir);
      expect(linksAlong(join(real, 'first.yaml'))).toEqual([
        join(real, 'first.yaml'),
        join(real, 'real', 'hop.yaml'),
        join(real, 'current'),
      ]);
      expect(linksAlong(join(real, 'real', 'm', 'k.yaml'))).toEqual([]);
    });

    it('stops at a missing component and at a loop', async () => {
      await symlink('loop-b', join(dir, 'loop-a'));
      await symlink('loop-a', join(dir, 'loop-b'));
      const real = await realpath(dir);
      expect(linksAlong(join(real, 'gone', 'k.yaml'))).toEqual([]);
      expect(linksAlong(join(real, 'loop-a')).length).toBe(40);
    });
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
