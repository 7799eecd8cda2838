import { readdirSync } from 'node:fs';
import { chmod, mkdir, symlink } from 'node:fs/promises';

/**
 * Makes `path` a folder this process cannot list, or says it cannot (then the caller skips): a
 * folder of mode 000 for a user, a link to another process's /proc/<pid>/map_files for root (which
 * reads through modes; the kernel still refuses it that listing where it has no CAP_SYS_ADMIN).
 */
export async function makeUnlistableDir(path: string): Promise<boolean> {
  if (process.getuid?.() === 0) await symlink('/proc/1/map_files', path);
  else {
    await mkdir(path, { recursive: true });
    await chmod(path, 0);
  }
  try {
    readdirSync(path);
    return false;
  } catch {
    return true;
  }
}
