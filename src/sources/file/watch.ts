import { type Dirent, type FSWatcher, readdirSync, statSync, watch } from 'node:fs';
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
   * parent). `retry`: re-arm while the directory is gone (targets and their parents; a vanished
   * subdirectory is re-armed by its parent's next event instead).
   */
  const arm = (id: string, dir: string, filter?: string, retry = true) => {
    if (closed || watchers.has(id)) return;
    let w: FSWatcher;
    try {
      w = watch(dir, { persistent: false }, (_event, name) => {
        if (filter === undefined) {
          // An entry that is (again) a subdirectory needs a fresh watcher of its own.
          if (name !== null) rearm(join(dir, String(name)), false);
          fire();
        } else if (name === null || name === filter) {
          // The target itself was created, replaced or deleted: a directory needs a fresh watcher.
          if (name === filter) rearm(resolve(dir, filter), true);
          fire();
        }
      });
    } catch {
      if (retry) later(() => arm(id, dir, filter, retry));
      return;
    }
    w.on('error', () => {
      w.close();
      watchers.delete(id);
      fire();
      if (retry) later(() => arm(id, dir, filter, retry));
    });
    watchers.set(id, w);
  };
  /**
   * One plain watcher per directory of a tree. Node's `recursive` mode on Linux stops seeing a file
   * once it has been replaced by a rename (how editors save), so every later save went unnoticed.
   */
  const armTree = (root: string, retry = false) => {
    arm(`dir:${root}`, root, undefined, retry);
    let entries: Dirent[];
    try {
      entries = readdirSync(root, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory()) armTree(join(root, e.name));
  };
  // Synchronous so that a change made right after watchManifests returns is already seen.
  const armTarget = (target: string, retry: boolean) => {
    let isDir = false;
    try {
      isDir = statSync(target).isDirectory();
    } catch {
      return; // gone: the parent watcher re-arms it when it comes back
    }
    if (isDir) armTree(target, retry);
  };

  const rearm = (target: string, retry: boolean) => {
    for (const [id, w] of watchers) {
      if (id === `dir:${target}` || id.startsWith(`dir:${target}/`)) {
        w.close();
        watchers.delete(id);
      }
    }
    armTarget(target, retry);
  };

  for (const p of paths) {
    const target = resolve(p);
    arm(`parent:${target}`, dirname(target), basename(target));
    armTarget(target, true);
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
