import { type FSWatcher, statSync, watch } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';

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

  /** Watches `dir`; `filter` keeps only events about one entry (a watched file in its parent). */
  const arm = (id: string, dir: string, recursive: boolean, filter?: string) => {
    if (closed || watchers.has(id)) return;
    let w: FSWatcher;
    try {
      w = watch(dir, { recursive, persistent: false }, (_event, name) => {
        if (
          filter === undefined ||
          name === null ||
          name === filter ||
          String(name).startsWith(`${filter}/`)
        ) {
          // The target itself was created, replaced or deleted: a directory needs a fresh watcher.
          if (filter !== undefined && name === filter) rearmTarget(resolve(dir, filter));
          fire();
        }
      });
    } catch {
      later(() => arm(id, dir, recursive, filter));
      return;
    }
    w.on('error', () => {
      w.close();
      watchers.delete(id);
      fire();
      later(() => arm(id, dir, recursive, filter));
    });
    watchers.set(id, w);
  };

  // Synchronous so that a change made right after watchManifests returns is already seen.
  const armTarget = (target: string) => {
    let isDir = false;
    try {
      isDir = statSync(target).isDirectory();
    } catch {
      return; // gone: the parent watcher re-arms it when it comes back
    }
    if (isDir) arm(`dir:${target}`, target, true);
  };

  const rearmTarget = (target: string) => {
    const id = `dir:${target}`;
    watchers.get(id)?.close();
    watchers.delete(id);
    armTarget(target);
  };

  for (const p of paths) {
    const target = resolve(p);
    arm(`parent:${target}`, dirname(target), false, basename(target));
    armTarget(target);
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
