import { execFileSync } from 'node:child_process';
import { constants } from 'node:fs';
import { type FileHandle, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadPricingFile } from './pricing-file.ts';
import { readRegularFile } from './regular-file.ts';

// Tenth round (LOW): `--pricing` and `--body-file` read any path to its end. `serve --pricing <fifo>`
// never started, `--pricing /dev/zero` grew by 25 MB/s, `policy-check --explain --body-file
// /dev/zero` hung; `--manifests` already refused FIFOs and devices.

let dir: string;
/** A writer held open on the FIFO: a read of it (before the fix) waits for it, not for ever. */
let writer: FileHandle | undefined;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'regular-file-'));
});
afterEach(async () => {
  await writer?.close();
  writer = undefined;
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function fifo(name: string): Promise<string> {
  const p = path.join(dir, name);
  execFileSync('mkfifo', [p]);
  writer = await open(p, constants.O_RDWR);
  return p;
}

describe('readRegularFile', () => {
  it('reads a regular file, and an empty one as empty', async () => {
    const p = path.join(dir, 'a.yaml');
    await writeFile(p, 'twilio: {}\n');
    expect((await readRegularFile(p)).toString()).toBe('twilio: {}\n');
    await writeFile(p, '');
    expect((await readRegularFile(p)).length).toBe(0);
  });

  it('refuses a FIFO at once, naming what it is', async () => {
    await expect(readRegularFile(await fifo('f'))).rejects.toThrow(
      'not a regular file (a FIFO); give a file',
    );
  });

  it('refuses a character device', async () => {
    await expect(readRegularFile('/dev/null')).rejects.toThrow('not a regular file (a character device)');
  });

  it('refuses a directory', async () => {
    await expect(readRegularFile(dir)).rejects.toThrow('not a regular file (a directory)');
  });

  it('refuses a file larger than its bound, without reading it', async () => {
    const p = path.join(dir, 'big.yaml');
    await writeFile(p, 'x'.repeat(2048));
    await expect(readRegularFile(p, 1024)).rejects.toThrow('2048 bytes, more than the');
  });
});

describe('--pricing', () => {
  it.each([
    ['a FIFO', () => fifo('pricing'), 'a FIFO'],
    ['/dev/null', async () => '/dev/null', 'a character device'],
  ])('on %s is a usage error naming the flag', async (_, make, what) => {
    const p = await make();
    await expect(loadPricingFile(p)).rejects.toThrow(
      `--pricing ${p}: not a regular file (${what}); give a file`,
    );
  });
});
