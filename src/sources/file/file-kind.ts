/** What a stat says a path is, where Keybrake wanted a regular file: for one-line refusals. */
export interface KindOfFile {
  isDirectory(): boolean;
  isFIFO(): boolean;
  isSocket(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
}

/**
 * "a FIFO", "a socket", "a character device"... A FIFO, a socket or a device is refused, never read,
 * wherever Keybrake reads a file (manifests, `--pricing`, `--body-file`): a FIFO blocks the read until
 * something writes to it, and /dev/zero never ends (tenth round).
 */
export function kindOfFile(s: KindOfFile): string {
  if (s.isDirectory()) return 'a directory';
  if (s.isFIFO()) return 'a FIFO';
  if (s.isSocket()) return 'a socket';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}
