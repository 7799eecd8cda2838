import { realpathSync, statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { UsageError } from './args.ts';

/**
 * The paths serve re-reads (`--manifests`) made absolute once, at start, the way the user who typed
 * them means them. Left relative they are resolved by the kernel against the process's working
 * directory, an inode: `cd /srv/app/current && keybrake serve --manifests m` kept reading the release
 * `current` pointed to at start after the link was flipped, and a folder moved away kept being read
 * where it went (ninth round). Absolute, they name the place by its path, which the file source's
 * link and move handling (ADR 0015) follows.
 *
 * The base is the shell's logical working directory, $PWD, when it is a usable name for the same
 * directory (same device and inode as `physical`), else `physical`: a stale $PWD (a process started
 * by one that changed directory without updating it) must not move the paths elsewhere. A $PWD with
 * `.` or `..` components is not used, as `pwd -L` does not (POSIX): its meaning differs read
 * lexically and by the kernel.
 */
export function workingDirectory(pwd: string | undefined, physical: string): string {
  if (pwd === undefined || !isAbsolute(pwd)) return physical;
  if (pwd.split('/').some((s) => s === '.' || s === '..')) return physical;
  return sameDirectory(pwd, physical) ? pwd : physical;
}

/**
 * `path` against `base`, unless already absolute. Not normalised: `..` keeps the kernel's meaning
 * (the parent of where a link points, not of the link) for `withoutDotDot` to settle; only empty and
 * `.` components, which never change the meaning, are dropped.
 */
export function absoluteFrom(base: string, path: string): string {
  if (isAbsolute(path)) return path;
  const parts = path.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.length === 0) return base;
  return under(base, parts);
}

/**
 * The absolute `path` with no `.` or `..` component, naming what the kernel names by it now. The
 * later stages treat paths as text (a folder's entries are `join(dir, name)`, which collapses `..`
 * lexically) while the kernel reads `current/../m` as the `m` beside where `current` points: serve
 * listed one folder and read the same names in another (ninth round). So the part up to the last
 * `..` is replaced by its real path, and the rest is kept as written: a link after the last `..`
 * stays a link, whose flips the file source follows (ADR 0015). Throws a UsageError when that part
 * cannot be resolved (gone, not a directory, a loop): what the path means is then unknown.
 */
export function withoutDotDot(path: string): string {
  const parts = path.split('/').filter((s) => s !== '' && s !== '.');
  const last = parts.lastIndexOf('..');
  if (last < 0) return `/${parts.join('/')}`;
  const upTo = `/${parts.slice(0, last + 1).join('/')}`;
  let prefix: string;
  try {
    prefix = realpathSync.native(upTo);
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new UsageError(`cannot resolve ${upTo}, the path up to its last "..": ${why}`);
  }
  const rest = parts.slice(last + 1);
  if (rest.length === 0) return prefix;
  return under(prefix, rest);
}

/**
 * Every path absolute against the shell's working directory (`workingDirectory`), then without `..`
 * (`withoutDotDot`); one whose `..` cannot be resolved is refused, naming the path given.
 */
export function absoluteFromShell(
  paths: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  physical: string = process.cwd(),
): string[] {
  const base = workingDirectory(env['PWD'], physical);
  return paths.map((p) => {
    try {
      return withoutDotDot(absoluteFrom(base, p));
    } catch (err) {
      if (err instanceof UsageError) throw new UsageError(`--manifests ${p}: ${err.message}`);
      throw err;
    }
  });
}

function sameDirectory(a: string, b: string): boolean {
  try {
    const sa = statSync(a);
    const sb = statSync(b);
    return sa.isDirectory() && sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return false;
  }
}

/** `parts` below the directory `dir`, whether or not `dir` ends in a slash (`/`, a $PWD written so). */
function under(dir: string, parts: readonly string[]): string {
  return `${dir.endsWith('/') ? dir : `${dir}/`}${parts.join('/')}`;
}
