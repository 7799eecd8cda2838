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
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { createDebounce } from './debounce.ts';
import { manifestFingerprint } from './fingerprint.ts';
import { createFolderWalk, type FolderWalk, MAX_FOLDER_DEPTH, walkReads } from './manifest-names.ts';

/** A running watch; `close` stops every watcher and timer. */
export interface ManifestWatch {
  close(): void;
}

export interface WatchOptions {
  /** Quiet time after the last event before `onChange` fires (editors write in bursts). Default 100. */
  readonly debounceMs?: number;
  /**
   * The longest `onChange` waits after the first event of a burst, however many follow: a folder
   * never quiet must not hold a reload off. Default 250.
   */
  readonly maxWaitMs?: number;
  /** How often to retry arming a watcher whose target is gone. Default 1000. */
  readonly rearmMs?: number;
  /**
   * How long after one fingerprint check the next one runs (the safety net), at least. Default 1000.
   */
  readonly pollMs?: number;
  /** Runs `run` after `delayMs` (tests run the checks when they choose); default an unref'd timer. */
  readonly schedule?: (delayMs: number, run: () => void) => { cancel(): void };
}

const unrefTimer = (delayMs: number, run: () => void) => {
  const timer = setTimeout(run, delayMs);
  timer.unref();
  return { cancel: () => clearTimeout(timer) };
};

const plainTimer = (delayMs: number, run: () => void) => {
  const timer = setTimeout(run, delayMs);
  return { cancel: () => clearTimeout(timer) };
};

/**
 * Calls `onChange` (debounced, `maxWaitMs` at most after the first event) when anything a load
 * reads under the given files or directories changes: events about names it never reads (walkReads:
 * a log, a dot file) are ignored, so that a chatty folder neither triggers reloads nor, with the
 * maximum wait, holds them off. Each path
 * is watched through its parent directory too, so editors' rename-replace saves and delete/recreate
 * are seen; a watcher that dies (its directory deleted) is re-armed when the path comes back.
 * Symlinked directories and files are watched where they point, and every link along the way in
 * its own directory, so pointing one elsewhere is seen. Every watcher is armed afresh before each
 * `onChange`: fs.watch stays on the inode it was armed on, so after a link flip or a folder moved
 * away it would watch what is no longer read.
 * fs.watch cannot see everything (a folder above the parent moved away and written anew), so a
 * fingerprint of what a load reads (manifestFingerprint) is also checked every `pollMs` (longer
 * only past ~10 000 files): a change reaches `onChange` within `pollMs` even when no watcher saw
 * it (a check that sees one calls it at once). Its first one is taken before this returns: a change from then on is seen.
 * `onChange` only signals: the caller reloads everything, so a missed detail cannot desynchronise.
 */
export function watchManifests(
  paths: readonly string[],
  onChange: () => void,
  opts: WatchOptions = {},
): ManifestWatch {
  const debounceMs = opts.debounceMs ?? 100;
  const maxWaitMs = opts.maxWaitMs ?? 250;
  const rearmMs = opts.rearmMs ?? 1000;
  const pollMs = opts.pollMs ?? 1000;
  const schedule = opts.schedule ?? unrefTimer;
  const watchers = new Map<string, FSWatcher>();
  const timers = new Set<NodeJS.Timeout>();
  let poll: { cancel(): void } | undefined;
  let closed = false;

  const debounce = createDebounce(
    () => {
      if (closed) return;
      // Before the reload: a change after this is seen by the new watchers, one before it is read.
      rearmAll();
      onChange();
    },
    { quietMs: debounceMs, maxWaitMs, now: () => performance.now(), schedule: plainTimer },
  );
  const fire = () => {
    if (!closed) debounce.poke();
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
          if (name === null) return fire();
          const entry = join(dir, String(name));
          if (!mayBeRead(entry)) return;
          // An entry that is (again) a subdirectory or a link needs a fresh watcher of its own.
          rearm(entry, false);
          fire();
        } else if (name === null || name === filter) {
          if (name === filter) onEntry?.();
          fire();
        } else if (name === basename(dir)) {
          // The watched folder itself was moved or deleted (the event carries its own name): what
          // is read is now elsewhere, or nowhere.
          fire();
        }
      });
    } catch {
      if (retry) later(() => retryArm(id, dir, filter, onEntry));
      return;
    }
    w.on('error', () => {
      w.close();
      watchers.delete(id);
      fire();
      if (retry) later(() => retryArm(id, dir, filter, onEntry));
    });
    watchers.set(id, w);
  };
  /**
   * Whether an entry of a watched folder is one a load reads (walkReads), or a folder it reads or
   * read: events about anything else (a log written there, a dot file) are no change.
   */
  const mayBeRead = (entry: string) => {
    const name = basename(entry);
    if (name.startsWith('.')) return false;
    if (walkReads(name, false) || watchers.has(`dir:${entry}`)) return true;
    try {
      return statSync(entry).isDirectory();
    } catch {
      return false;
    }
  };
  /** A directory that is back: what was written in it before its watcher was armed counts as a change. */
  const retryArm = (id: string, dir: string, filter?: string, onEntry?: () => void) => {
    arm(id, dir, filter, true, onEntry);
    if (watchers.has(id)) fire();
  };
  /** Every link met on the way to `path`, in its own directory: pointing one elsewhere is a change. */
  const armLinksAlong = (path: string) => {
    for (const link of linksAlong(path)) arm(`along:${link}`, dirname(link), basename(link), false);
  };
  /**
   * One plain watcher per directory of a tree. Node's `recursive` mode on Linux stops seeing a file
   * once it has been replaced by a rename (how editors save), so every later save went unnoticed.
   * Symlinks are followed as the loader follows them (listManifests), or what it loads through one
   * would never be seen to change: a linked directory is watched through its link (the kernel
   * watches what a path points to), a linked file through its target's directory (armLink).
   * `depth`: folders below the path given; `folders`: the real folders this walk armed, so that,
   * as the loader lists it, a folder is armed once however many links lead to it (a link to a
   * folder above included), and at most MAX_FOLDERS (the loader refuses past them; each one's
   * parent watcher sees it change).
   */
  const armTree = (root: string, retry = false, depth = 0, folders: FolderWalk = createFolderWalk()) => {
    // A folder the loader does not read (MAX_FOLDER_DEPTH) needs no watcher: its parent's sees it go.
    if (depth > MAX_FOLDER_DEPTH) return;
    if (folders.enter(realOrSelf(root)) !== 'list') return;
    arm(`dir:${root}`, root, undefined, retry);
    let entries: Dirent[];
    try {
      entries = readdirSync(root, { withFileTypes: true });
    } catch {
      return;
    }
    // Sorted as the loader walks, so that a folder reached twice is armed under the path it is read by.
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (e.isDirectory()) armTree(join(root, e.name), false, depth + 1, folders);
      else if (e.isSymbolicLink()) armEntry(join(root, e.name), false, depth + 1, folders);
    }
  };
  /**
   * A link to a file: its target's directory, for events about the target, which may be outside
   * every watched tree. Resolved again on each of them (the target may now be reached another way);
   * a dangling link watches where its target would be, so its creation is seen.
   */
  const armLink = (link: string) => {
    armLinksAlong(link);
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
  const armEntry = (path: string, retry: boolean, depth = 0, folders?: FolderWalk) => {
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
    if (isDir) armTree(path, retry, depth, folders);
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

  const armAll = () => {
    for (const p of paths) {
      const target = resolve(p);
      armLinksAlong(p);
      arm(`parent:${target}`, dirname(target), basename(target), true, () => rearm(target, true));
      armEntry(target, true);
    }
  };
  const disarmAll = () => {
    for (const t of timers) clearTimeout(t);
    timers.clear();
    for (const w of watchers.values()) w.close();
    watchers.clear();
  };
  const rearmAll = () => {
    disarmAll();
    armAll();
  };

  /**
   * The safety net: a fingerprint that differs from the last one is a change, seen or not. The
   * next check waits at least ten times what this one took, so that checking thousands of files
   * never takes more than a tenth of the thread.
   */
  let fingerprint: string | undefined;
  const check = () => {
    const began = performance.now();
    const now = manifestFingerprint(paths);
    // Run at once, not debounced: a change is certain, and a folder whose events never stop must
    // not hold this one off either.
    if (fingerprint !== undefined && now !== fingerprint && !closed) debounce.flush();
    fingerprint = now;
    const wait = Math.max(pollMs, Math.ceil(10 * (performance.now() - began)));
    poll = schedule(wait, () => {
      if (!closed) check();
    });
  };

  armAll();
  check();
  return {
    close() {
      closed = true;
      debounce.cancel();
      poll?.cancel();
      disarmAll();
    },
  };
}

/** Links followed in resolving a path before giving up (the kernel's own bound, ELOOP). */
const MAX_LINKS = 40;

/**
 * Every symlink met in resolving `path` as the kernel does, component by component (a link in a
 * folder above included, and each link a link points to), as the paths where they were met. The
 * walk stops at the first component that is missing.
 */
export function linksAlong(path: string): string[] {
  const links: string[] = [];
  let pending = split(isAbsolute(path) ? path : join(process.cwd(), path));
  let at = '/'; // Always a real path: every link before it resolved.
  while (pending.length > 0 && links.length < MAX_LINKS) {
    const name = pending.shift()!;
    if (name === '.') continue;
    if (name === '..') {
      at = dirname(at);
      continue;
    }
    const next = join(at, name);
    let target: string;
    try {
      if (!lstatSync(next).isSymbolicLink()) {
        at = next;
        continue;
      }
      target = readlinkSync(next);
    } catch {
      break;
    }
    links.push(next);
    pending = [...split(target), ...pending];
    if (isAbsolute(target)) at = '/';
  }
  return links;
}

function split(path: string): string[] {
  return path.split('/').filter((s) => s !== '');
}

/** The path with every link resolved, or the path itself when it cannot be (gone). */
function realOrSelf(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}
