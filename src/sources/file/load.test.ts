import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import {
  type FileHandle,
  mkdir,
  mkdtemp,
  readFile,
  rename,
  rm,
  symlink,
  truncate,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { symlinkDiamond } from '../../../test/env/symlink-diamond.ts';
import { makeUnlistableDir } from '../../../test/env/unlistable-dir.ts';
import { createFileReader, listManifests, loadManifests, loadThrough } from './load.ts';
import { MAX_FOLDERS } from './manifest-names.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keybrake-load-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('loadManifests', () => {
  it('reads every document of a multi-document file, with its index', async () => {
    await writeFile(join(dir, 'a.yaml'), 'kind: A\n---\nkind: B\n---\n');
    const { documents, errors } = await loadManifests([join(dir, 'a.yaml')]);
    expect(errors).toEqual([]);
    expect(documents.map((d) => [d.index, d.doc])).toEqual([
      [0, { kind: 'A' }],
      [1, { kind: 'B' }],
      [2, null],
    ]);
  });

  it('walks directories recursively in sorted order, keeping yaml, yml and json only', async () => {
    await mkdir(join(dir, 'sub'));
    await writeFile(join(dir, 'b.yml'), 'kind: B');
    await writeFile(join(dir, 'a.yaml'), 'kind: A');
    await writeFile(join(dir, 'sub', 'c.json'), '{"kind": "C"}');
    await writeFile(join(dir, 'README.md'), '# not a manifest: {');
    const { documents, errors } = await loadManifests([dir]);
    expect(errors).toEqual([]);
    expect(documents.map((d) => (d.doc as { kind: string }).kind)).toEqual(['A', 'B', 'C']);
  });

  it('skips dot entries such as the ..data links of a ConfigMap volume', async () => {
    await mkdir(join(dir, '..2026_06_01'));
    await writeFile(join(dir, '..2026_06_01', 'a.yaml'), 'kind: A');
    await symlink('..2026_06_01', join(dir, '..data'));
    await symlink(join('..data', 'a.yaml'), join(dir, 'a.yaml'));
    const { documents } = await loadManifests([dir]);
    expect(documents).toHaveLength(1);
  });

  it('ends a walk at a link to a directory above, and reads a linked directory elsewhere', async () => {
    // Two links up: followed, every level would double the walk, 40 links deep.
    await mkdir(join(dir, 'sub'));
    await writeFile(join(dir, 'sub', 'a.yaml'), 'kind: A');
    await symlink(dir, join(dir, 'sub', 'up'));
    await symlink('..', join(dir, 'sub', 'parent'));
    const team = await mkdtemp(join(tmpdir(), 'keybrake-load-team-'));
    try {
      await writeFile(join(team, 'b.yaml'), 'kind: B');
      await symlink(team, join(dir, 'sub', 'team'));
      const { documents, errors } = await loadManifests([dir]);
      expect(errors).toEqual([]);
      expect(documents.map((d) => (d.doc as { kind: string }).kind)).toEqual(['A', 'B']);
    } finally {
      await rm(team, { recursive: true, force: true });
    }
  });

  // Eleventh round: every level cost each walk a resolution of its whole path, so a chain of 1 000
  // empty folders took `serve` 30 s to start and a `suspended: true` 23 s to apply.
  it('reads folders 32 deep, and reports the first folder deeper as an error, reading nothing below it', async () => {
    const at = (depth: number) => join(dir, ...Array.from({ length: depth }, () => 'a'));
    await mkdir(at(200), { recursive: true });
    await writeFile(join(dir, 'top.yaml'), 'kind: Top');
    await writeFile(join(at(32), 'deepest.yaml'), 'kind: Deepest');
    await writeFile(join(at(33), 'below.yaml'), 'kind: Below');
    await writeFile(join(at(200), 'bottom.yaml'), 'kind: Bottom');
    const { documents, errors } = await loadManifests([dir]);
    expect(documents.map((d) => (d.doc as { kind: string }).kind)).toEqual(['Deepest', 'Top']);
    expect(errors).toEqual([
      {
        source: at(33),
        index: 0,
        path: '',
        message: `cannot read: more than 32 folders below ${dir} (a manifests folder nests at most 32 deep; move its files up)`,
      },
    ]);
  });

  // Eleventh round: the walk listed a folder once per PATH to it, so fifteen folders each holding two
  // links to the next made 2^15 listings a load (serve 38 s to listen, a suspension 24 s to apply).
  it('lists a folder reached by many links once: a symlink diamond', async () => {
    await symlinkDiamond(dir, 12);
    await writeFile(join(dir, 'tree', 'd12', 'k.yaml'), 'kind: K');
    const listed = await listManifests(dir);
    expect(listed.files).toEqual([
      join(dir, 'tree', 'd0', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a', 'k.yaml'),
    ]);
    const { documents, errors } = await loadManifests([dir]);
    expect(errors).toEqual([]);
    expect(documents.map((d) => (d.doc as { kind: string }).kind)).toEqual(['K']);
  });

  it('lists at most MAX_FOLDERS folders a walk; each folder past them is an error, nothing in it read', async () => {
    for (const f of ['a', 'b', 'c', 'd']) {
      await mkdir(join(dir, f));
      await writeFile(join(dir, f, `${f}.yaml`), `kind: ${f}`);
    }
    const listed = await listManifests(dir, 3); // dir, a and b
    expect(listed.files).toEqual([join(dir, 'a', 'a.yaml'), join(dir, 'b', 'b.yaml')]);
    expect(listed.tooMany).toEqual([join(dir, 'c'), join(dir, 'd')]);
  });

  it('refuses a folder past MAX_FOLDERS as an error of its own, not as deleted', async () => {
    await Promise.all(
      Array.from({ length: MAX_FOLDERS - 1 }, (_, i) => mkdir(join(dir, `f${String(i).padStart(5, '0')}`))),
    );
    await mkdir(join(dir, 'zz')); // The folder given counts: zz is the one past the bound.
    await writeFile(join(dir, 'zz', 'late.yaml'), 'kind: Late');
    await writeFile(join(dir, 'top.yaml'), 'kind: Top');
    const { documents, errors } = await loadManifests([dir]);
    expect(documents.map((d) => (d.doc as { kind: string }).kind)).toEqual(['Top']);
    expect(errors).toEqual([
      {
        source: join(dir, 'zz'),
        index: 0,
        path: '',
        message: `cannot read: more than ${MAX_FOLDERS} folders under ${dir} (a manifests folder holds at most ${MAX_FOLDERS} folders; merge files into fewer folders)`,
      },
    ]);
  }, 60_000);

  it('reports a YAML syntax error with file and line, and still loads the other files', async () => {
    await writeFile(join(dir, 'bad.yaml'), 'kind: A\n---\nspec:\n  endpoints: [1, 2\n  other: x\n');
    await writeFile(join(dir, 'good.yaml'), 'kind: G');
    const { documents, errors } = await loadManifests([dir]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ source: join(dir, 'bad.yaml'), index: 1, line: 5 });
    expect(errors[0]!.message).toMatch(/^YAML syntax error at line 5, column \d+: /);
    expect(documents.map((d) => (d.doc as { kind: string }).kind)).toEqual(['A', 'G']);
  });

  it('treats a duplicate mapping key as an error, not a silent override', async () => {
    await writeFile(join(dir, 'dup.yaml'), 'limits:\n  perDayUsd: "1"\n  perDayUsd: "1000"\n');
    const { errors } = await loadManifests([dir]);
    expect(errors[0]?.message).toMatch(/line 3/);
  });

  it('never quotes file content in a syntax error', async () => {
    await writeFile(join(dir, 's.yaml'), 'stringData:\n  apiKey: "sk_live_SECRETVALUE\n');
    const { errors } = await loadManifests([dir]);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).not.toContain('SECRETVALUE');
  });

  it('reports a subfolder that cannot be listed against that subfolder, and loads every other file', async (ctx) => {
    // It was reported against the folder given, and every file under that then counted as failed.
    await mkdir(join(dir, 'a'));
    await writeFile(join(dir, 'a', 'k1.yaml'), 'kind: A');
    if (!(await makeUnlistableDir(join(dir, 'b')))) ctx.skip();
    await mkdir(join(dir, 'c'));
    await writeFile(join(dir, 'c', 'k3.yaml'), 'kind: C');
    const r = await loadManifests([dir]);
    expect(r.documents.map((d) => d.source)).toEqual([join(dir, 'a', 'k1.yaml'), join(dir, 'c', 'k3.yaml')]);
    expect(r.errors).toEqual([
      { source: join(dir, 'b'), index: 0, path: '', message: expect.stringMatching(/^cannot read: E/) },
    ]);
  });

  it('reports a missing path as an error', async () => {
    const { errors } = await loadManifests([join(dir, 'nope')]);
    expect(errors).toEqual([
      { source: join(dir, 'nope'), index: 0, path: '', message: 'cannot read: no such file or directory' },
    ]);
  });

  // Eighth round: reading a FIFO waits for a writer, and every later reload waited behind it.
  it('refuses a FIFO or a device given by name, without reading it, and loads the other files', async () => {
    const fifo = join(dir, 'pipe.yaml');
    execFileSync('mkfifo', [fifo]);
    await writeFile(join(dir, 'a.yaml'), 'kind: A');
    const { documents, errors } = await loadManifests([fifo, '/dev/null', join(dir, 'a.yaml')]);
    expect(documents.map((d) => d.doc)).toEqual([{ kind: 'A' }]);
    expect(errors.map((e) => [e.source, e.message])).toEqual([
      [fifo, expect.stringMatching(/^cannot read: a FIFO, not a regular file or directory/)],
      [
        '/dev/null',
        expect.stringMatching(/^cannot read: a character device, not a regular file or directory/),
      ],
    ]);
  });

  it('refuses an alias to no anchor, or one past the limit, as a document error instead of throwing', async () => {
    await writeFile(join(dir, 'a.yaml'), 'kind: A\n---\nspec: *nowhere\n');
    const laughs = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (const n of 'bcdefg')
      laughs.push(
        `${n}: &${n} [${Array(10)
          .fill(`*${String.fromCharCode(n.charCodeAt(0) - 1)}`)
          .join(', ')}]`,
      );
    await writeFile(join(dir, 'b.yaml'), `${laughs.join('\n')}\n`);
    const { documents, errors } = await loadManifests([dir]);
    expect(documents.map((d) => d.doc)).toEqual([{ kind: 'A' }]);
    expect(errors).toMatchObject([
      { source: join(dir, 'a.yaml'), index: 1, message: expect.stringMatching(/^YAML error: /) },
      { source: join(dir, 'b.yaml'), index: 0, message: expect.stringMatching(/^YAML error: /) },
    ]);
  });
});

describe('createFileReader', () => {
  // Files written by a test are seconds old at most: a reader whose clock runs 10 s ahead trusts their stat.
  const later = () => Date.now() + 10_000;
  // The reader keeping each file's parsed documents, flattened as loadManifests gives them.
  const createManifestReader = (
    opts: { now?: () => number; readText?: (file: string, handle: FileHandle) => Promise<string> } = {},
  ) => {
    const reader = createFileReader({ ...opts, digest: (parsed) => parsed });
    return { load: (paths: string[]) => loadThrough(reader, paths) };
  };

  describe('refuses, without reading it, a file a read could hang on or that is too large', () => {
    /** Every file read, by path: a refused one must never be. */
    const readsOf = () => {
      const reads: string[] = [];
      const reader = createManifestReader({
        readText: async (file) => {
          reads.push(file);
          return readFile(file, 'utf8');
        },
      });
      return { reads, reader };
    };

    it('a link into /proc or /sys (a /proc/kmsg read blocks for ever; /dev is refused alike)', async () => {
      await writeFile(join(dir, 'a.yaml'), 'kind: A\n');
      await symlink('/proc/self/status', join(dir, 'p.yaml'));
      await symlink('/sys/kernel/mm/transparent_hugepage/enabled', join(dir, 's.yaml'));
      const { reads, reader } = readsOf();
      const r = await reader.load([dir]);
      expect(r.documents.map((d) => d.doc)).toEqual([{ kind: 'A' }]);
      expect(reads).toEqual([join(dir, 'a.yaml')]);
      expect(r.errors.map((e) => [e.source, e.message.slice(0, 27)])).toEqual([
        [join(dir, 'p.yaml'), 'cannot read: it is under /p'],
        ...(existsSync('/sys/kernel/mm/transparent_hugepage/enabled')
          ? [[join(dir, 's.yaml'), 'cannot read: it is under /s']]
          : []),
      ]);
    });

    it('a file that really lives in /dev/shm (a tmpfs tools render into) is read', async () => {
      if (!existsSync('/dev/shm')) return expect(existsSync('/dev/shm')).toBe(false);
      const shm = await mkdtemp('/dev/shm/keybrake-load-');
      try {
        await writeFile(join(shm, 'k.yaml'), 'kind: A\n');
        await symlink(join(shm, 'k.yaml'), join(dir, 'k.yaml'));
        const r = await readsOf().reader.load([dir]);
        expect(r.errors).toEqual([]);
        expect(r.documents.map((d) => d.doc)).toEqual([{ kind: 'A' }]);
      } finally {
        await rm(shm, { recursive: true, force: true });
      }
    });

    it('an empty file is empty without a read; one past 64 MiB by its stat is refused', async () => {
      await writeFile(join(dir, 'empty.yaml'), '');
      await writeFile(join(dir, 'huge.yaml'), '');
      await truncate(join(dir, 'huge.yaml'), 64 * 2 ** 20 + 1); // sparse: no disk used
      const { reads, reader } = readsOf();
      const r = await reader.load([dir]);
      expect(reads).toEqual([]);
      expect(r.documents).toEqual([]);
      expect(r.errors).toEqual([
        {
          source: join(dir, 'huge.yaml'),
          index: 0,
          path: '',
          message: 'cannot read: 67108865 bytes, more than the 64 MiB a manifest file may hold',
        },
      ]);
    });
  });

  it('hands back the very documents of an unchanged file and parses only the files that changed', async () => {
    await writeFile(join(dir, 'a.yaml'), 'kind: A\n---\nkind: A2\n');
    await writeFile(join(dir, 'b.yaml'), 'kind: B\n');
    const reader = createManifestReader({ now: later });
    const first = await reader.load([dir]);
    await writeFile(join(dir, 'b.yaml'), 'kind: B\nspec: {changed: true}\n');
    const second = await reader.load([dir]);
    expect(second.documents[0]!.doc).toBe(first.documents[0]!.doc);
    expect(second.documents[1]!.doc).toBe(first.documents[1]!.doc);
    expect(second.documents[2]!.doc).not.toBe(first.documents[2]!.doc);
    expect(second.documents[2]!.doc).toEqual({ kind: 'B', spec: { changed: true } });
  });

  it('sees a rewrite of the same size whose mtime was put back (cp -p, rsync -t): ctime moved', async () => {
    const file = join(dir, 'a.yaml');
    await writeFile(file, 'kind: A\n');
    const old = new Date('2026-01-01T00:00:00Z');
    await utimes(file, old, old);
    const reader = createManifestReader({ now: later });
    await reader.load([dir]);
    await writeFile(file, 'kind: B\n');
    await utimes(file, old, old);
    expect((await reader.load([dir])).documents[0]!.doc).toEqual({ kind: 'B' });
  });

  it('reads a file modified within the last 2 s again, whatever its stat (two writes in one tick)', async () => {
    const file = join(dir, 'a.yaml');
    await writeFile(file, 'kind: A\n');
    const tick = new Date();
    await utimes(file, tick, tick);
    const reader = createManifestReader();
    const first = await reader.load([dir]);
    // The same size and mtime, as a second write within one timestamp tick leaves it (ctime aside).
    await writeFile(file, 'kind: B\n');
    await utimes(file, tick, tick);
    const second = await reader.load([dir]);
    expect(second.documents[0]!.doc).toEqual({ kind: 'B' });
    // Read again but unchanged: its documents are those of last time (its text's digest says so).
    const third = await reader.load([dir]);
    expect(third.documents[0]!.doc).toBe(second.documents[0]!.doc);
    expect(first.documents[0]!.doc).toEqual({ kind: 'A' });
  });

  it('says when the files it read racily leave the racy window, and nothing once a load found them out of it', async () => {
    const file = join(dir, 'a.yaml');
    await writeFile(file, 'kind: A\n');
    const mtime = new Date('2026-06-01T00:00:00Z');
    await utimes(file, mtime, mtime);
    let now = mtime.getTime() + 500;
    const reader = createFileReader({ now: () => now, digest: (parsed) => parsed });
    await reader.load([dir]);
    expect(reader.settlesAt()).toBe(mtime.getTime() + 2_000);
    now = mtime.getTime() + 2_000;
    const settled = await reader.load([dir]);
    expect(reader.settlesAt()).toBeUndefined();
    // Its stat is recorded now: the next load hands back the same value without reading it.
    const next = await reader.load([dir]);
    expect(next[0]).toEqual(settled[0]);
    expect('file' in next[0]! && 'file' in settled[0]! && next[0].file === settled[0].file).toBe(true);
  });

  it('forgets a removed file, and reads a file put back as new', async () => {
    await writeFile(join(dir, 'a.yaml'), 'kind: A\n');
    const reader = createManifestReader({ now: later });
    const first = await reader.load([dir]);
    await rm(join(dir, 'a.yaml'));
    expect((await reader.load([dir])).documents).toEqual([]);
    await writeFile(join(dir, 'a.yaml'), 'kind: A\n');
    const back = await reader.load([dir]);
    expect(back.documents[0]!.doc).toEqual({ kind: 'A' });
    expect(back.documents[0]!.doc).not.toBe(first.documents[0]!.doc);
  });

  it('keeps reporting the errors of an unchanged broken file', async () => {
    await writeFile(join(dir, 'bad.yaml'), 'a: [1\n');
    const reader = createManifestReader({ now: later });
    expect((await reader.load([dir])).errors).toHaveLength(1);
    expect((await reader.load([dir])).errors).toHaveLength(1);
  });
});

describe('createFileReader: a link re-pointed while a file is read', () => {
  // Eighth round: the reader took a link's stat, then read the path: a release link flipped between
  // the two had it keep v1's stat with v2's text; flipped back to v1, later loads took the file as
  // unchanged and served v2's text (a suspension, or its undoing) for as long as v1 stayed unchanged.
  it('keeps the stat and the text of one file, so a link flipped back is read as what it points to', async () => {
    await mkdir(join(dir, 'rel'));
    await mkdir(join(dir, 'm'));
    for (const v of ['v1', 'v2']) {
      await writeFile(join(dir, 'rel', `${v}.yaml`), `kind: ${v}\n`);
      await utimes(join(dir, 'rel', `${v}.yaml`), 1_700_000_000, 1_700_000_000); // out of the racy window
    }
    const link = join(dir, 'm', 'key.yaml');
    const point = async (v: string) => {
      await symlink(`../rel/${v}.yaml`, `${link}.tmp`);
      await rename(`${link}.tmp`, link);
    };
    await point('v1');
    let flipDuringRead = true;
    const reader = createFileReader({
      digest: (parsed) => parsed,
      // The flip lands after the file was opened (its stat taken), before its text is read.
      readText: async (file, handle) => {
        if (flipDuringRead) await point('v2');
        return handle ? handle.readFile('utf8') : readFile(file, 'utf8');
      },
    });
    const docs = async () => (await loadThrough(reader, [join(dir, 'm')])).documents.map((d) => d.doc);
    expect(await docs()).toEqual([{ kind: 'v1' }]); // what was opened, whatever the link says now
    flipDuringRead = false;
    expect(await docs()).toEqual([{ kind: 'v2' }]); // the link's new target, read anew
    await point('v1');
    expect(await docs()).toEqual([{ kind: 'v1' }]);
  });
});
