import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Writes a manifest the way editors and kubectl-style tools save: a complete file under a dot name
 * (which manifest readers skip), renamed over the old one, so a reload never sees half a file.
 */
export async function saveFile(dir: string, name: string, text: string | Uint8Array): Promise<void> {
  const scratch = join(dir, `.${name}.tmp`);
  await writeFile(scratch, text);
  await rename(scratch, join(dir, name));
}
