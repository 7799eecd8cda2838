import { constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { kindOfFile } from '../sources/file/file-kind.ts';

/** The most a file named by a CLI flag (`--pricing`, `--body-file`) may hold: both are small. */
export const MAX_FLAG_FILE_BYTES = 16 * 2 ** 20;

/**
 * The bytes of the regular file `path`, for a flag that names one; throws a one-line Error saying
 * why not. A FIFO, a device or a socket is refused, as `--manifests` refuses them: `--pricing` on
 * a FIFO never started serve, and on /dev/zero it grew by 25 MB/s (tenth round). The file is opened
 * O_NONBLOCK, so a FIFO opens at once and is refused by its stat instead of blocking; the stat and
 * the bytes come from that one open file. A regular file of size 0 is read as empty: /proc files say
 * 0 whatever a read would block on.
 */
export async function readRegularFile(path: string, maxBytes = MAX_FLAG_FILE_BYTES): Promise<Buffer> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const s = await handle.stat();
    if (!s.isFile()) throw new Error(`not a regular file (${kindOfFile(s)}); give a file`);
    if (s.size === 0) return Buffer.alloc(0);
    if (s.size > maxBytes)
      throw new Error(`${s.size} bytes, more than the ${maxBytes / 2 ** 20} MiB such a file may hold`);
    return await handle.readFile();
  } finally {
    await handle?.close();
  }
}
