import { fstatSync } from 'node:fs';
import path from 'node:path';

/**
 * `run exec --user` and a token file that is also an open descriptor of the runner: the command
 * inherits the runner's standard descriptors (stdio 'inherit'), and opening `/dev/stdin` or
 * `/proc/self/fd/0` makes a new open file at offset 0, so the runner's read leaves the command's
 * inherited copy unread. `--token-file /dev/stdin < parent.token` handed the credential to the command.
 */

/** A file's identity (a subset of fs.Stats). */
export interface FileIdentity {
  readonly dev: number;
  readonly ino: number;
}

/** Paths that name a descriptor rather than a file (Linux's /dev and /proc spellings). */
const DESCRIPTOR_PATH =
  /^\/(?:dev\/(?:stdin|stdout|stderr|fd\/\d+)|proc\/(?:self|thread-self|\d+)(?:\/task\/\d+)?\/fd\/\d+)$/;

/** Whether `file` (relative to `cwd`, however spelt: `//dev/./stdin`) names an open descriptor. */
export function namesDescriptor(file: string, cwd: string): boolean {
  return DESCRIPTOR_PATH.test(path.resolve(cwd, file));
}

/** The first of `descriptors` that is the same file as `file`; undefined when none is. */
export function sharedDescriptor(
  file: FileIdentity,
  descriptors: ReadonlyMap<number, FileIdentity>,
): number | undefined {
  for (const [fd, open] of descriptors) if (open.dev === file.dev && open.ino === file.ino) return fd;
  return undefined;
}

/** The identities of the runner's descriptors 0, 1 and 2 that are open: what a command started with stdio 'inherit' gets. */
export function standardDescriptors(): Map<number, FileIdentity> {
  const open = new Map<number, FileIdentity>();
  for (const fd of [0, 1, 2]) {
    try {
      open.set(fd, fstatSync(fd));
    } catch {
      // Closed: nothing to inherit.
    }
  }
  return open;
}
