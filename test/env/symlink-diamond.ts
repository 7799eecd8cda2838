import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * `root/tree/d0 … d<levels>`, each d<i> holding two links, `a` and `b`, to d<i+1>: 2^levels paths
 * to d<levels> through 2·levels links (eleventh round: a walk by path listed it 2^levels times).
 */
export async function symlinkDiamond(root: string, levels: number): Promise<void> {
  for (let i = 0; i <= levels; i++) await mkdir(join(root, 'tree', `d${i}`), { recursive: true });
  for (let i = 0; i < levels; i++)
    for (const l of ['a', 'b']) await symlink(`../d${i + 1}`, join(root, 'tree', `d${i}`, l));
}
