import { mkdir, mkdtemp, readFile, rm, symlink, unlink, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { saveFile } from '../../../test/env/save-file.ts';
import { makeUnlistableDir } from '../../../test/env/unlistable-dir.ts';
import { supportBotKey, supportBotPolicy, supportBotSecrets } from '../../../test/fixtures/support-bot.ts';
import type { ResourceSetUpdate } from '../../api/resource-set.ts';
import { fixedClock } from '../../clock.ts';
import { compile } from '../../compiler/compile.ts';
import { revocationsOf } from '../../compiler/revocations.ts';
import { silentLogger } from '../../telemetry/logger.ts';
import { newToken } from '../../tokens/token.ts';
import { createFileSource, type FileSource } from './source.ts';

const TOKEN = newToken('stripe', { random: (n) => new Uint8Array(n).fill(3) });

const policy = supportBotPolicy;
const key = supportBotKey;
const secrets = supportBotSecrets(TOKEN, 'sk_test_source_test');

let dir: string;
let source: FileSource | undefined;
let updates: ResourceSetUpdate[];
let waiters: { pred: (u: ResourceSetUpdate) => boolean; resolve: (u: ResourceSetUpdate) => void }[];

const put = (name: string, text: string) => saveFile(dir, name, text);

function next(pred: (u: ResourceSetUpdate) => boolean): Promise<ResourceSetUpdate> {
  const seen = updates.find(pred);
  if (seen) return Promise.resolve(seen);
  return new Promise((resolve) => waiters.push({ pred, resolve }));
}

async function startSource(): Promise<{ source: FileSource; first: ResourceSetUpdate }> {
  const s = createFileSource([dir], {
    clock: fixedClock('2026-06-01T00:00:00Z'),
    log: silentLogger(),
    debounceMs: 20,
  });
  source = s;
  s.onUpdate((u) => {
    updates.push(u);
    for (const w of [...waiters]) {
      if (w.pred(u)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(u);
      }
    }
  });
  const first = await s.start();
  updates = [];
  return { source: s, first };
}

const perDay = (u: ResourceSetUpdate) => u.set.policies[0]?.spec.limits?.perDayUsd;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'keybrake-source-'));
  updates = [];
  waiters = [];
  await put('policy.yaml', policy('200'));
  await put('key.yaml', key());
  await put('secrets.yaml', secrets);
});

afterEach(async () => {
  source?.close();
  source = undefined;
  await rm(dir, { recursive: true, force: true });
});

describe('createFileSource', () => {
  it('finds a key defined again by a new file, though the file defining it first is unchanged', async () => {
    const { source: s, first } = await startSource();
    expect(first.errors).toEqual([]);
    // copy.yaml sorts before key.yaml: key.yaml, read once and kept as it was, now holds the duplicate.
    await put('copy.yaml', key());
    const twice = await s.reload();
    expect(twice.errors).toMatchObject([
      {
        source: join(dir, 'key.yaml'),
        path: 'metadata.name',
        message: expect.stringContaining('duplicate VaultKey: also defined in'),
      },
    ]);
    expect(twice.set.keys).toHaveLength(1);
    await unlink(join(dir, 'copy.yaml'));
    const once = await s.reload();
    expect(once.errors).toEqual([]);
    expect(once.set.keys.map((k) => k.metadata.name)).toEqual(['support-bot-stripe']);
  });

  it('emits the manifests as one validated ResourceSet on start', async () => {
    const { first } = await startSource();
    expect(first.errors).toEqual([]);
    expect(perDay(first)).toBe('200');
    expect(first.set.keys.map((k) => k.metadata.name)).toEqual(['support-bot-stripe']);
    expect(first.set.secrets.map((s) => s.metadata.name).sort()).toEqual([
      'stripe-live',
      'support-bot-stripe-token',
    ]);
    expect(first.changedAt).toBe(Date.parse('2026-06-01T00:00:00Z'));
  });

  it('emits an edit as a new update', async () => {
    await startSource();
    await put('policy.yaml', policy('300'));
    await next((x) => perDay(x) === '300');
  });

  it('emits a key set to suspended as suspended', async () => {
    await startSource();
    await put('key.yaml', key('  suspended: true\n'));
    await next((x) => x.set.keys[0]?.spec.suspended === true);
  });

  it('hands back the very resources of the files an edit did not touch', async () => {
    // What the CompileCache recognises: unchanged files keep their verdicts, so their resources
    // (and then their compiled keys) are the objects of last time; the edited file's are new.
    const { source: s, first } = await startSource();
    await put('policy.yaml', policy('300'));
    const edited = await s.reload();
    expect(perDay(edited)).toBe('300');
    expect(edited.set.keys[0]).toBe(first.set.keys[0]);
    expect(edited.set.secrets).toEqual(first.set.secrets);
    for (const [i, secret] of edited.set.secrets.entries()) expect(secret).toBe(first.set.secrets[i]);
    expect(edited.set.policies[0]).not.toBe(first.set.policies[0]);
  });

  it('emits an edit of a linked key file and of a linked directory, both outside the directory', async () => {
    const outside = await mkdtemp(join(tmpdir(), 'keybrake-source-outside-'));
    try {
      const keys = join(outside, 'keys');
      const policies = join(outside, 'policies');
      await Promise.all([mkdir(keys), mkdir(policies)]);
      await unlink(join(dir, 'key.yaml'));
      await unlink(join(dir, 'policy.yaml'));
      await saveFile(keys, 'key.yaml', key());
      await symlink(join(keys, 'key.yaml'), join(dir, 'key.yaml'));
      await saveFile(policies, 'policy.yaml', policy('200'));
      await symlink(policies, join(dir, 'policies'));
      const { first } = await startSource();
      expect(first.errors).toEqual([]);
      await saveFile(policies, 'policy.yaml', policy('300'));
      await next((x) => perDay(x) === '300');
      await saveFile(keys, 'key.yaml', key('  suspended: true\n'));
      await next((x) => x.set.keys[0]?.spec.suspended === true);
      await unlink(join(keys, 'key.yaml'));
      await next((x) => x.set.keys.length === 0);
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });

  it('drops a deleted key from the set', async () => {
    await startSource();
    await unlink(join(dir, 'key.yaml'));
    const u = await next((x) => x.set.keys.length === 0);
    expect(u.errors).toEqual([]);
  });

  it('hands an invalid edit on with its document errors, naming the field', async () => {
    await startSource();
    await put('policy.yaml', policy('200', '  allow: { endpoints: ["POST v1/refunds"] }\n'));
    const u = await next((x) => x.errors.length > 0);
    expect(u.errors[0]).toMatchObject({ kind: 'SpendPolicy', path: 'spec.allow.endpoints[0]' });
    expect(u.set.rejected).toEqual([expect.objectContaining({ kind: 'SpendPolicy', name: 'support-bot' })]);
  });

  it("never takes a key's uid, its counter scope, from a file", async () => {
    // Another namespace's key: sharing its uid would share its caps and idempotency records.
    await put('key.yaml', key().replace('namespace: agents', 'namespace: agents, uid: tenant-a/key'));
    const bad = key()
      .replace('support-bot-stripe,', 'broken,')
      .replace('namespace: agents', 'namespace: agents, uid: tenant-a/key');
    await put('broken.yaml', bad.replace('vendor: stripe', 'vendor: paypal'));
    const s = createFileSource([dir], { clock: fixedClock(0), log: silentLogger(), watch: false });
    const first = await s.start();
    expect(first.set.keys[0]?.metadata.uid).toBeUndefined();
    expect(first.set.rejected).toEqual([expect.not.objectContaining({ uid: expect.anything() })]);
    const { snapshot } = compile(first.set, { version: 1, clock: fixedClock(0) });
    expect([...snapshot.keys.values()].map((k) => k.uid)).toEqual(['agents/support-bot-stripe']);
  });

  it('reports the errors of the first load with file, document and field', async () => {
    await put('policy.yaml', policy('lots'));
    const s = createFileSource([dir], { clock: fixedClock(0), log: silentLogger(), watch: false });
    const first = await s.start();
    expect(first.errors).toEqual([
      expect.objectContaining({
        source: join(dir, 'policy.yaml'),
        index: 0,
        kind: 'SpendPolicy',
        namespace: 'agents',
        name: 'support-bot',
        path: 'spec.limits.perDayUsd',
      }),
    ]);
  });

  it('reports an unreadable path as a document error, not a crash', async () => {
    const s = createFileSource([join(dir, 'nope')], {
      clock: fixedClock(0),
      log: silentLogger(),
      watch: false,
    });
    const first = await s.start();
    expect(first.errors).toEqual([
      { source: join(dir, 'nope'), index: 0, path: '', message: 'cannot read: no such file or directory' },
    ]);
  });

  // A save could reach the watcher as two events, and the second compiled, published and logged
  // the same table again under a new version ("policy reloaded" from an earlier save).
  it('refreshes with no update while no file changed, and with one when one did', async () => {
    const s = createFileSource([dir], { clock: fixedClock(0), log: silentLogger(), watch: false });
    const seen: ResourceSetUpdate[] = [];
    s.onUpdate((u) => seen.push(u));
    const first = await s.start();
    await put('policy.yaml', policy('200')); // the same text again, under a new inode
    expect(await s.refresh()).toBe(first);
    expect(seen).toEqual([first]);
    await put('policy.yaml', policy('300'));
    const changed = await s.refresh();
    expect(perDay(changed)).toBe('300');
    expect(seen).toEqual([first, changed]);
  });

  // Eleventh round (CI): a file listed by a load and deleted before its read made that load's change
  // refused (its revocations applied), and the reload the deletion queued found the same files with
  // no error and, quiet, gave no update: an edit made with the deletion stayed unapplied until the
  // next change. A folder nested too deep stands in for the vanished file: an error, then gone.
  it('gives an update on a quiet reload after a refused one, though the files are the same', async () => {
    const s = createFileSource([dir], { clock: fixedClock(0), log: silentLogger(), watch: false });
    const seen: ResourceSetUpdate[] = [];
    s.onUpdate((u) => seen.push(u));
    await s.start();
    await put('policy.yaml', policy('300'));
    await mkdir(join(dir, 'deep', ...Array.from({ length: 40 }, () => 'd')), { recursive: true });
    const refused = await s.refresh();
    expect(refused.errors).toHaveLength(1); // the compile runner refuses this update (serve, operator)
    await rm(join(dir, 'deep'), { recursive: true });
    const applied = await s.refresh();
    expect(applied.errors).toEqual([]);
    expect(perDay(applied)).toBe('300');
    expect(seen.at(-1)).toBe(applied);
    // And quiet again once an update without errors stands.
    expect(await s.refresh()).toBe(applied);
  });

  it('coalesces a refresh and a reload requested while one is running into a reload', async () => {
    const s = createFileSource([dir], { clock: fixedClock(0), log: silentLogger(), watch: false });
    const seen: ResourceSetUpdate[] = [];
    s.onUpdate((u) => seen.push(u));
    const first = await s.start();
    const [a, b, c] = await Promise.all([s.refresh(), s.refresh(), s.reload()]);
    expect(a).toBe(first); // nothing changed
    expect(b).toBe(c);
    expect(b).not.toBe(first); // the queued one is a reload: someone asked for one
    expect(seen).toEqual([first, b]);
  });

  it('coalesces reloads requested while one is running', async () => {
    const s = createFileSource([dir], { clock: fixedClock(0), log: silentLogger(), watch: false });
    const seen: ResourceSetUpdate[] = [];
    s.onUpdate((u) => seen.push(u));
    const first = await s.start();
    const [a, b, c] = await Promise.all([s.reload(), s.reload(), s.reload()]);
    expect(a).not.toBe(first);
    expect(b).not.toBe(a);
    expect(b).toBe(c);
    expect(seen).toEqual([first, a, b]);
  });
});

describe('file source: a load that does not finish', () => {
  it('is reported as a failed reload after its bound, and the reloads after it go ahead', async () => {
    // A read that never returned (/proc/kmsg, a hung mount) held every later reload behind it.
    let hang = false;
    const s = createFileSource([dir], {
      clock: fixedClock('2026-06-01T00:00:00Z'),
      log: silentLogger(),
      watch: false,
      loadTimeoutMs: 50,
      readText: (file) =>
        hang && file.endsWith('zz.yaml') ? new Promise<string>(() => {}) : readFile(file, 'utf8'),
    });
    source = s;
    const seen: ResourceSetUpdate[] = [];
    s.onUpdate((u) => seen.push(u));
    await put('zz.yaml', '');
    const first = await s.start();
    expect(first.errors).toEqual([]);
    hang = true;
    await put('zz.yaml', '# read hangs');
    const failed = await s.reload();
    expect(failed.errors).toEqual([
      {
        source: dir,
        index: 0,
        path: '',
        message:
          'cannot read: the load did not finish within 0.05 s (a read that does not return: a hung mount?)',
      },
    ]);
    expect(failed.set).toBe(first.set);
    // The read is still hung: the next reload is not queued behind it.
    hang = false;
    await put('policy.yaml', policy('300'));
    const after = await s.reload();
    expect(after.errors).toEqual([]);
    expect(perDay(after)).toBe('300');
    expect(seen.map((u) => u.errors.length)).toEqual([0, 1, 0]);
  });
});

describe('file source: a subfolder that cannot be listed', () => {
  it('fails only what is under it: a key deleted in another folder is revoked', async (ctx) => {
    // The listing error was put on the folder given, so every file under it counted as failed and
    // revocationsOf kept every deleted key served.
    await unlink(join(dir, 'key.yaml'));
    await mkdir(join(dir, 'a'));
    await saveFile(join(dir, 'a'), 'key.yaml', key());
    const { source: s, first } = await startSource();
    expect(first.set.keys).toHaveLength(1);
    if (!(await makeUnlistableDir(join(dir, 'b')))) ctx.skip();
    await unlink(join(dir, 'a', 'key.yaml'));
    const update = await s.reload();
    expect(update.errors.map((e) => e.source)).toEqual([join(dir, 'b')]);
    expect(revocationsOf(first, update)?.revoked).toEqual([
      `VaultKey ${first.set.keys[0]!.metadata.namespace}/${first.set.keys[0]!.metadata.name} deleted`,
    ]);
  });
});

describe('file source: files read racily at start', () => {
  /** A source that does not watch, and whose settle pass runs when the test says. */
  async function settlingSource() {
    const scheduled: { delayMs: number; run: () => void }[] = [];
    const s = createFileSource([dir], {
      clock: fixedClock('2026-06-01T00:00:00Z'),
      log: silentLogger(),
      watch: false,
      schedule: (delayMs, run) => {
        scheduled.push({ delayMs, run });
        return { cancel: () => {} };
      },
    });
    source = s;
    const seen: ResourceSetUpdate[] = [];
    s.onUpdate((u) => seen.push(u));
    const first = await s.start();
    return { s, first, seen, scheduled };
  }

  it('reads them again once they settle, with no update when none changed', async () => {
    const { s, first, seen, scheduled } = await settlingSource();
    // Just written: within the 2 s racy window, so a pass is scheduled for when it ends.
    expect(scheduled).toHaveLength(1);
    expect(scheduled[0]!.delayMs).toBeGreaterThan(0);
    expect(scheduled[0]!.delayMs).toBeLessThanOrEqual(2_050);
    scheduled[0]!.run();
    // The pass is a load like a reload's: a reload now waits for it, and then finds the same objects.
    const after = await s.reload();
    expect(seen).toHaveLength(2); // start's update and the reload's; none from the pass
    expect(after.set.keys[0]).toBe(first.set.keys[0]);
  });

  it('reads a file whose mtime is in the future again 2 s later, not in a loop', async () => {
    // mtime + 2 s past 2^31 ms: Node fired the timer after 1 ms, ~800 re-reads a second.
    const future = new Date('2100-01-01T00:00:00Z');
    await utimes(join(dir, 'policy.yaml'), future, future);
    const { scheduled } = await settlingSource();
    expect(scheduled).toHaveLength(1);
    expect(scheduled[0]!.delayMs).toBeLessThanOrEqual(2_050);
    expect(scheduled[0]!.delayMs).toBeGreaterThanOrEqual(2_000);
  });

  it('gives an update when a file changed and no watcher said so', async () => {
    const { s, seen, scheduled } = await settlingSource();
    await put('policy.yaml', policy('300'));
    scheduled[0]!.run();
    await s.reload(); // after the pass
    // The start's, the pass's, the reload's.
    expect(seen.map(perDay)).toEqual(['200', '300', '300']);
  });
});
