import { fstatSync, readdirSync, readFileSync } from 'node:fs';
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

/** O_CLOEXEC as /proc/<pid>/fdinfo's `flags:` line spells it (octal; Linux's generic value, x86 and arm). */
const O_CLOEXEC = 0o2000000;

/**
 * The runner's descriptors above 2 that a command it spawns would inherit: those not close-on-exec.
 * Node and libuv open every descriptor of their own close-on-exec, so these are what the runner's
 * parent left open (thirteenth round: a shell's `exec 30<parent.token`, a supervisor's sockets), and
 * `run exec --user` must not hand them to another user. A descriptor whose flags fdinfo does not
 * spell as expected is counted (fail closed); one gone since the listing is not. `proc` is for tests.
 * Throws when the list cannot be read (no /proc): the caller refuses rather than guess.
 */
export function inheritableDescriptors(proc = '/proc/self'): number[] {
  const found: number[] = [];
  for (const name of readdirSync(`${proc}/fd`)) {
    const fd = Number(name);
    if (!Number.isInteger(fd) || fd < 3) continue;
    let flags: number | undefined;
    try {
      const line = /^flags:\s*([0-7]+)$/m.exec(readFileSync(`${proc}/fdinfo/${fd}`, 'utf8'));
      flags = line ? Number.parseInt(line[1]!, 8) : undefined;
    } catch {
      // Gone since the listing (readdir's own descriptor, closed by now): nothing to inherit.
      continue;
    }
    if (flags === undefined || (flags & O_CLOEXEC) === 0) found.push(fd);
  }
  return found.sort((a, b) => a - b);
}
