/**
 * What a manifest file may be before it is read. A read that never returns (a /proc file such as
 * /proc/kmsg, a hung mount) held every later reload, revocations included, behind it.
 */

/** A manifest never lives in these: their files are the kernel's, and a read may block for ever. */
const KERNEL_TREES = ['/proc', '/sys', '/dev'];

/** A tmpfs under /dev where tools render secrets and manifests: its files are ordinary ones. */
const SHARED_MEMORY = '/dev/shm/';

/** The most a manifest file may hold (100 000 keys in one file are ~39 MiB). */
export const MAX_MANIFEST_BYTES = 64 * 2 ** 20;

/**
 * Why the regular file whose every link resolves to `realPath`, of `size` bytes by its stat, is not
 * read, or undefined when it may be.
 */
export function refusalOf(realPath: string, size: bigint): string | undefined {
  const tree = realPath.startsWith(SHARED_MEMORY)
    ? undefined
    : KERNEL_TREES.find((t) => realPath === t || realPath.startsWith(`${t}/`));
  if (tree !== undefined)
    return `cannot read: it is under ${tree} (${realPath}); a manifest never lives in /proc, /sys or /dev (but /dev/shm)`;
  if (size > BigInt(MAX_MANIFEST_BYTES))
    return `cannot read: ${size} bytes, more than the ${MAX_MANIFEST_BYTES / 2 ** 20} MiB a manifest file may hold`;
  return undefined;
}
