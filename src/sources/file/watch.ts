import {
  type Dirent,
  type FSWatcher,
  lstatSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  statSync,
  watch,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

/** A running watch; `close` stops every watcher and timer. */
export interface ManifestWatch {
  close(): void;
}

export interface WatchOptions {
  /** Quiet time after the last event before `onChange` fires (editors write in bursts). Default 100. */
  readonly debounceMs?: number;
  /** How often to retry arming a watcher whose target is gone. Default 1000. */
  readonly rearmMs?: number;
}

/**
 * Calls `onChange` (debounced) when anything under the given files or directories changes. Each path
 * is watched through its parent directory too, so editors' rename-replace saves and delete/recreate
 * are seen; a watcher that dies (its directory deleted) is re-armed when the path comes back.
 * Symlinked directories and files are watched where they point, and again when a link changes.
 * `onChange` only signals: the caller reloads everything, so a missed detail cannot desynchronise.
 */
export function watchManifests(
  paths: readonly string[],
  onChange: () => void,
  opts: WatchOptions = {},
): ManifestWatch {
  const debounceMs = opts.debounceMs ?? 100;
  const rearmMs = opts.rearmMs ?? 1000;
  const watchers = new Map<string, FSWatcher>();
  const timers = new Set<NodeJS.Timeout>();
  let debounce: NodeJS.Timeout | undefined;
  let closed = false;

  const fire = () => {
    if (closed) return;
    if (debounce) clearTimeout(debounce);
    debounce = setTimeout(() => {
      debounce = undefined;
      if (!closed) onChange();
    }, debounceMs);
  };

  const later = (fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      if (!closed) fn();
    }, rearmMs);
    timers.add(t);
  };

  /**
   * Watches `dir` (not recursively); `filter` keeps only events about one entry (a watched file in its
   * parent, or a link's target in its directory), and `onEntry` is then called for it (it may have
   * been created, replaced or deleted). `retry`: re-arm while the directory is gone (targets and
   * their parents; a vanished subdirectory is re-armed by its parent's next event instead).
   */
  const arm = (id: string, dir: string, filter?: string, retry = true, onEntry?: () => void) => {
    if (closed || watchers.has(id)) return;
    let w: FSWatcher;
    try {
      w = watch(dir, { persistent: false }, (_event, name) => {
        if (filter === undefined) {
          // An entry that is (again) a subdirectory or a link needs a fresh watcher of its own.
          if (name !== null) rearm(join(dir, String(name)), false);
          fire();
        } else if (name === null || name === filter) {
          if (name === filter) onEntry?.();
          fire();
        }
      });
    } catch {
      if (retry) later(() => arm(id, dir, filter, retry, onEntry));
      return;
    }
    w.on('error', () => {
      w.close();
      watchers.delete(id);
      fire();
      if (retry) later(() => arm(id, dir, filter, retry, onEntry));
    });
    watchers.set(id, w);
  };
  /**
   * One plain watcher per directory of a tree. Node's `recursive` mode on Linux stops seeing a file
   * once it has been replaced by a rename (how editors save), so every later save went unnoticed.
   * Symlinks are followed as the loader follows them (listManifests), or what it loads through one
   * would never be seen to change: a linked directory is watched through its link (the kernel
   * watches what a path points to), a linked file through its target's directory (armLink).
   * `ancestors`: the real directories above, so that a link to one of them ends the walk.
   */
  const armTree = (root: string, retry = false, ancestors: readonly string[] = []) => {
    const real = realOrSelf(root);
    if (ancestors.includes(real)) return;
    arm(`dir:${root}`, root, undefined, retry);
    let entries: Dirent[];
    try {
      entries = readdirSync(root, { withFileTypes: true });
    } catch {
      return;
    }
    const within = [...ancestors, real];
    for (const e of entries) {
      if (e.isDirectory()) armTree(join(root, e.name), false, within);
      else if (e.isSymbolicLink()) armEntry(join(root, e.name), false, within);
    }
  };
  /**
   * A link to a file: its target's directory, for events about the target, which may be outside
   * every watched tree. Resolved again on each of them (the target may now be reached another way);
   * a dangling link watches where its target would be, so its creation is seen.
   */
  const armLink = (link: string) => {
    let target: string;
    try {
      target = realpathSync(link);
    } catch {
      try {
        target = resolve(dirname(link), readlinkSync(link));
      } catch {
        return;
      }
    }
    arm(`link:${link}`, dirname(target), basename(target), false, () => rearm(link, false));
  };
  // Synchronous so that a change made right after watchManifests returns is already seen.
  const armEntry = (path: string, retry: boolean, ancestors: readonly string[] = []) => {
    let link: boolean;
    try {
      link = lstatSync(path).isSymbolicLink();
    } catch {
      return; // gone: the parent watcher re-arms it when it comes back
    }
    let isDir = false;
    try {
      isDir = statSync(path).isDirectory();
    } catch {
      // A dangling link: armLink watches for its target.
    }
    if (isDir) armTree(path, retry, ancestors);
    else if (link) armLink(path);
  };

  const rearm = (target: string, retry: boolean) => {
    for (const [id, w] of watchers) {
      const path = id.slice(id.indexOf(':') + 1);
      if (id.startsWith('parent:') || (path !== target && !path.startsWith(`${target}/`))) continue;
      w.close();
      watchers.delete(id);
    }
    armEntry(target, retry);
  };

  for (const p of paths) {
    const target = resolve(p);
    arm(`parent:${target}`, dirname(target), basename(target), true, () => rearm(target, true));
    armEntry(target, true);
  }

  return {
    close() {
      closed = true;
      if (debounce) clearTimeout(debounce);
      for (const t of timers) clearTimeout(t);
      timers.clear();
      for (const w of watchers.values()) w.close();
      watchers.clear();
    },
  };
}

/** The path with every link resolved, or the path itself when it cannot be (gone). */
function realOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}
