// `keybrake serve` applies a suspension that reached the disk by a link or a folder moving, not by a
// write in a folder it watched (eighth round, HIGH): a release link flipped (`ln -sfn releases/v2
// current.tmp && mv -T current.tmp current`), a link in the middle of a chain re-pointed, the
// manifests' parent moved away and written anew. fs.watch stays on the inode it was armed on, so each
// was forwarded with the real key until a restart. Within the bound the docs state: 401
// key_suspended, nothing forwarded to the recording upstream. The same with `--manifests` relative,
// serve started in the release link or the folder later moved (ninth round): the kernel resolved it
// against the working directory serve started in, whatever the link or the folder became. And a
// `--manifests ../m` started in a release link (ninth round): the kernel read `current/../m` beside
// the release, the loader's `join` read it lexically, so serve listed one folder and read the same
// names in a decoy, whose caps were applied and where a suspension never arrived.
import { mkdir, mkdtemp, realpath, rename, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type StripeEmulator, startStripeEmulator } from '../../src/emulators/stripe.ts';
import { type KeybrakeProcess, serveArgs, startKeybrake } from '../env/keybrake.ts';
import { keyManifests, mintKeys, UPSTREAM_KEY, UPSTREAM_SECRET } from './fixtures/replicas.ts';

/** The docs' bound when no watcher sees a change (~1–2 s), with slack for a shared two-core box. */
const BOUND_MS = 5_000;

/** Keys of the serve started with absolute paths in beforeAll. */
const absolute = ['flip', 'chain', 'files', 'folder'];
const specs = [...absolute, 'relflip', 'relfolder', 'dotdot'].map((name) => ({
  name,
  limits: { perDayUsd: '10', requestsPerMinute: 1000 },
}));
const { keys } = mintKeys(specs);
const spec = (name: string) => specs.find((s) => s.name === name)!;
const tokenOf = (name: string) => keys[name as keyof typeof keys]!.token;
const live = (name: string) => keyManifests(spec(name), tokenOf(name));
const suspend = (manifests: string) => manifests.replace('  policyRef:', '  suspended: true\n  policyRef:');
const suspended = (name: string) => suspend(live(name));

/** One read with `name`'s token on the Stripe listener: its status and Keybrake's reason. */
async function call(base: string, name: string): Promise<{ status: number; reason: string | undefined }> {
  const res = await request(`${base}/v1/customers?limit=1`, {
    headers: { authorization: `Bearer ${tokenOf(name)}` },
  });
  await res.body.dump();
  const header = String(res.headers['keybrake-decision'] ?? '');
  return { status: res.statusCode, reason: /reason=([a-z_]+)/.exec(header)?.[1] };
}

let root: string;
let emulator: StripeEmulator;
let kb: KeybrakeProcess;

/**
 * Calls with `name`'s key until it is refused (allowed calls are forwarded meanwhile), within
 * BOUND_MS: the refusal must be key_suspended, and neither it nor one more call reaches the upstream.
 */
async function expectSuspendedWithinBound(name: string, by: KeybrakeProcess = kb): Promise<void> {
  const base = by.urls['stripe']!;
  const deadline = Date.now() + BOUND_MS;
  for (;;) {
    const before = emulator.requests.length;
    const r = await call(base, name);
    if (r.status !== 200) {
      expect(r).toEqual({ status: 401, reason: 'key_suspended' });
      expect(emulator.requests.length).toBe(before);
      break;
    }
    if (Date.now() > deadline) throw new Error(`${name}: still forwarded ${BOUND_MS} ms after the change`);
    await new Promise((resolve) => setTimeout(resolve, 50)); // polling pace, not synchronisation
  }
  const forwarded = emulator.requests.length;
  expect(await call(base, name)).toEqual({ status: 401, reason: 'key_suspended' });
  expect(emulator.requests.length).toBe(forwarded);
}

/** Writes each file (relative to root) and dates it a minute back, as a release is. */
async function writeReleased(files: Record<string, string>): Promise<void> {
  const past = new Date(Date.now() - 60_000);
  for (const [file, text] of Object.entries(files)) {
    await mkdir(dirname(join(root, file)), { recursive: true });
    await writeFile(join(root, file), text);
    await utimes(join(root, file), past, past);
  }
}

/**
 * `serve --manifests <path>` started in `dir` as a shell starts it there (`cd dir`: its PWD says
 * `dir`, the kernel's working directory is where `dir` leads), serving `name`'s key; it must log
 * `reads` as the folder it reads.
 */
async function serveIn(dir: string, name: string, path = 'm', reads = `${dir}/m`): Promise<KeybrakeProcess> {
  const args = [...serveArgs(join(root, 'upstream.yaml'), { stripe: emulator.url }), '--manifests', path];
  const started = await startKeybrake(args, { cwd: dir, env: { PWD: dir } });
  const reading = await started.waitForLog((l) => l.msg === 'reading manifests');
  expect(reading.manifests).toEqual([join(root, 'upstream.yaml'), reads]);
  expect((await call(started.urls['stripe']!, name)).status).toBe(200);
  return started;
}

/** Points `link` at `target` as release tools do: a new link renamed over the old one. */
async function relink(target: string, link: string): Promise<void> {
  await symlink(target, `${link}.tmp`);
  await rename(`${link}.tmp`, link);
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'keybrake-moves-'));
  emulator = await startStripeEmulator({ validKeys: [UPSTREAM_KEY] });
  // Written long ago, as a release is: serve then has no file to read again once it settles (a
  // reload of everything that would read the changes below, whoever saw them).
  await writeReleased({
    'upstream.yaml': UPSTREAM_SECRET,
    // 1. Releases and a `current` link; serve reads current/m.
    'cap/releases/v1/m/flip.yaml': live('flip'),
    'cap/releases/v2/m/flip.yaml': suspended('flip'),
    // 2. d/chain.yaml -> ../hop/chain.yaml -> ../rel/v1/chain.yaml
    'rel/v1/chain.yaml': live('chain'),
    'rel/v2/chain.yaml': suspended('chain'),
    // 3. Files given by name in g6/kb, and a folder g5/kb/m.
    'g6/kb/files.yaml': live('files'),
    'g6/kb/other.yaml': '',
    'g5/kb/m/folder.yaml': live('folder'),
  });
  await symlink('releases/v1', join(root, 'cap', 'current'));
  await mkdir(join(root, 'hop'));
  await mkdir(join(root, 'd'));
  await symlink('../rel/v1/chain.yaml', join(root, 'hop', 'chain.yaml'));
  await symlink('../hop/chain.yaml', join(root, 'd', 'chain.yaml'));

  const args = serveArgs(join(root, 'upstream.yaml'), { stripe: emulator.url });
  for (const path of [
    join(root, 'cap', 'current', 'm'),
    join(root, 'd'),
    join(root, 'g6', 'kb', 'files.yaml'),
    join(root, 'g6', 'kb', 'other.yaml'),
    join(root, 'g5', 'kb', 'm'),
  ])
    args.push('--manifests', path);
  kb = await startKeybrake(args);
  for (const name of absolute) expect((await call(kb.urls['stripe']!, name)).status).toBe(200);
});

afterAll(async () => {
  await kb?.stop();
  await emulator?.close();
  if (root) await rm(root, { recursive: true, force: true });
});

describe('serve applies a suspension that arrived by a link or a folder moving', () => {
  it('a release link flipped to a release with the key suspended', async () => {
    await relink('releases/v2', join(root, 'cap', 'current'));
    await expectSuspendedWithinBound('flip');
  });

  it('the middle link of a chain pointed at a copy with the key suspended', async () => {
    await relink('../rel/v2/chain.yaml', join(root, 'hop', 'chain.yaml'));
    await expectSuspendedWithinBound('chain');
  });

  it('the parent of the files given moved away and written anew', async () => {
    await rename(join(root, 'g6', 'kb'), join(root, 'g6', 'kb.old'));
    await mkdir(join(root, 'g6', 'kb'));
    await writeFile(join(root, 'g6', 'kb', 'other.yaml'), '');
    await writeFile(join(root, 'g6', 'kb', 'files.yaml'), suspended('files'));
    await expectSuspendedWithinBound('files');
  });

  it('the parent of the folder given moved away and written anew', async () => {
    await rename(join(root, 'g5', 'kb'), join(root, 'g5', 'kb.old'));
    await mkdir(join(root, 'g5', 'kb', 'm'), { recursive: true });
    await writeFile(join(root, 'g5', 'kb', 'm', 'folder.yaml'), suspended('folder'));
    await expectSuspendedWithinBound('folder');
  });
});

describe('serve given a relative --manifests follows what the shell’s working directory names', () => {
  it('started in a release link, the link then flipped to a release with the key suspended', async () => {
    await writeReleased({
      'rcap/releases/v1/m/relflip.yaml': live('relflip'),
      'rcap/releases/v2/m/relflip.yaml': suspended('relflip'),
    });
    await symlink('releases/v1', join(root, 'rcap', 'current'));
    const started = await serveIn(join(root, 'rcap', 'current'), 'relflip');
    try {
      await relink('releases/v2', join(root, 'rcap', 'current'));
      await expectSuspendedWithinBound('relflip', started);
    } finally {
      await started.stop();
    }
  });

  it('started in a folder then moved away, and a new one written with the key suspended', async () => {
    await writeReleased({ 'rsrv/kb/m/relfolder.yaml': live('relfolder') });
    const started = await serveIn(join(root, 'rsrv', 'kb'), 'relfolder');
    try {
      await rename(join(root, 'rsrv', 'kb'), join(root, 'rsrv', 'kb.old'));
      await mkdir(join(root, 'rsrv', 'kb', 'm'), { recursive: true });
      await writeFile(join(root, 'rsrv', 'kb', 'm', 'relfolder.yaml'), suspended('relfolder'));
      await expectSuspendedWithinBound('relfolder', started);
    } finally {
      await started.stop();
    }
  });
});

describe('serve given a --manifests with .. reads the folder the kernel names by it', () => {
  it('started in a release link with ../m: the caps and the suspension of the m beside the release apply', async () => {
    // dd/app/current -> ../releases/r1: `current/../m` is dd/releases/m for the kernel; dd/app/m is
    // where it is read lexically, a decoy whose same-named file has a cap 100 000 times higher.
    const capped = {
      ...spec('dotdot'),
      limits: { perCallUsd: '1', perDayUsd: '10', requestsPerMinute: 1000 },
    };
    const decoy = { ...capped, limits: { ...capped.limits, perCallUsd: '100000', perDayUsd: '100000' } };
    await writeReleased({
      'dd/releases/m/stripe.yaml': keyManifests(capped, tokenOf('dotdot')),
      'dd/app/m/stripe.yaml': keyManifests(decoy, tokenOf('dotdot')),
    });
    await mkdir(join(root, 'dd', 'releases', 'r1'));
    await symlink('../releases/r1', join(root, 'dd', 'app', 'current'));
    const dir = join(root, 'dd', 'app', 'current');
    const beside = join(await realpath(join(root, 'dd', 'releases')), 'm');
    const started = await serveIn(dir, 'dotdot', '../m', beside);
    try {
      const before = emulator.requests.length;
      const charge = await request(`${started.urls['stripe']!}/v1/charges`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${tokenOf('dotdot')}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: 'amount=5000&currency=usd&source=tok_visa',
      });
      await charge.body.dump();
      expect(charge.statusCode).toBe(403);
      expect(String(charge.headers['keybrake-decision'])).toContain('reason=per_call_limit_exceeded');
      expect(emulator.requests.slice(before).filter((r) => r.method === 'POST')).toEqual([]);

      await writeFile(
        join(root, 'dd', 'releases', 'm', 'stripe.yaml'),
        suspend(keyManifests(capped, tokenOf('dotdot'))),
      );
      await expectSuspendedWithinBound('dotdot', started);
    } finally {
      await started.stop();
    }
  });
});
