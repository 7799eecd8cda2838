import { statSync } from 'node:fs';
import { isAbsolute } from 'node:path';

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
 * (the parent of where a link points, not of the link), so a path names at start what it named
 * before; only empty and `.` components, which never change the meaning, are dropped.
 */
export function absoluteFrom(base: string, path: string): string {
  if (isAbsolute(path)) return path;
  const parts = path.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.length === 0) return base;
  return `${base.endsWith('/') ? base : `${base}/`}${parts.join('/')}`;
}

/** Every path absolute against the shell's working directory (`workingDirectory`). */
export function absoluteFromShell(
  paths: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  physical: string = process.cwd(),
): string[] {
  const base = workingDirectory(env['PWD'], physical);
  return paths.map((p) => absoluteFrom(base, p));
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
