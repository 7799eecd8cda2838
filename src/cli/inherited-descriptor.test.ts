import {
  closeSync,
  fstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  inheritableDescriptors,
  namesDescriptor,
  sharedDescriptor,
  standardDescriptors,
} from './inherited-descriptor.ts';

describe('namesDescriptor', () => {
  it.each([
    '/dev/stdin',
    '/dev/stdout',
    '/dev/stderr',
    '/dev/fd/0',
    '/dev/fd/7',
    '/proc/self/fd/0',
    '/proc/thread-self/fd/3',
    '/proc/4242/fd/0',
    '/proc/4242/task/4243/fd/0',
    '//dev/./stdin',
    '/dev/fd/0/',
    '/tmp/../dev/stdin',
  ])('%s names a descriptor', (file) => {
    expect(namesDescriptor(file, '/work')).toBe(true);
  });
  it('resolves a relative path against the working directory', () => {
    expect(namesDescriptor('stdin', '/dev')).toBe(true);
    expect(namesDescriptor('fd/0', '/proc/self')).toBe(true);
  });
  it.each([
    '/etc/keybrake/parent.token',
    '/var/run/secrets/keybrake/token',
    '/dev/null',
    '/dev/fd',
    '/proc/self/fdinfo/0',
    '/proc/self/environ',
    'stdin',
  ])('%s does not', (file) => {
    expect(namesDescriptor(file, '/work')).toBe(false);
  });
});

describe('sharedDescriptor', () => {
  const open = new Map([
    [0, { dev: 1, ino: 10 }],
    [1, { dev: 2, ino: 20 }],
    [2, { dev: 2, ino: 20 }],
  ]);
  it('finds the descriptor that is the same file (device and inode)', () => {
    expect(sharedDescriptor({ dev: 1, ino: 10 }, open)).toBe(0);
    expect(sharedDescriptor({ dev: 2, ino: 20 }, open)).toBe(1);
  });
  it('is undefined for another file, even on the same device or with the same inode number', () => {
    expect(sharedDescriptor({ dev: 1, ino: 11 }, open)).toBeUndefined();
    expect(sharedDescriptor({ dev: 3, ino: 10 }, open)).toBeUndefined();
  });
  it('matches a path with a descriptor open on it, as stat and fstat see them', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'keybrake-fd-'));
    const file = path.join(dir, 'parent.token');
    writeFileSync(file, 'token\n', { mode: 0o600 });
    const fd = openSync(file, 'r');
    try {
      const descriptors = new Map([...standardDescriptors(), [fd, fstatSync(fd)]]);
      expect(sharedDescriptor(statSync(file), descriptors)).toBe(fd);
      expect(sharedDescriptor(statSync(dir), descriptors)).toBeUndefined();
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// Thirteenth round: a descriptor the runner's parent left open on the token file (fd 30) reached a
// --user command. These are the descriptors run exec replaces with /dev/null in the command.
describe('inheritableDescriptors', () => {
  /** A fake /proc/<pid>: `flags` per descriptor, as fdinfo spells them (undefined: listed, then gone). */
  function fakeProc(flags: Record<string, string | undefined>): string {
    const proc = mkdtempSync(path.join(tmpdir(), 'keybrake-proc-'));
    mkdirSync(path.join(proc, 'fd'));
    mkdirSync(path.join(proc, 'fdinfo'));
    for (const [fd, line] of Object.entries(flags)) {
      writeFileSync(path.join(proc, 'fd', fd), '');
      if (line !== undefined) writeFileSync(path.join(proc, 'fdinfo', fd), `pos:\t0\n${line}\nmnt_id:\t24\n`);
    }
    return proc;
  }
  it('lists the descriptors above 2 without close-on-exec, in order; unreadable flags count', () => {
    const proc = fakeProc({
      0: 'flags:\t0100002',
      1: 'flags:\t0100001',
      3: 'flags:\t02000002', // Node's epoll: close-on-exec
      4: 'flags:\t02004000',
      30: 'flags:\t0100000', // `exec 30<parent.token`
      251: 'flags:\t01',
      18: undefined, // gone since the listing
      7: 'flags: unreadable',
    });
    try {
      expect(inheritableDescriptors(proc)).toEqual([7, 30, 251]);
    } finally {
      rmSync(proc, { recursive: true, force: true });
    }
  });
  it('counts none of the descriptors this process opens itself (close-on-exec)', () => {
    const before = inheritableDescriptors();
    expect(before.every((fd) => fd >= 3)).toBe(true);
    const dir = mkdtempSync(path.join(tmpdir(), 'keybrake-fd-'));
    // Node opens close-on-exec: only a file it did not open itself is inheritable.
    const fd = openSync(path.join(dir, 'x'), 'w');
    try {
      expect(inheritableDescriptors()).toEqual(before);
    } finally {
      closeSync(fd);
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('throws when there is no descriptor list to read', () => {
    expect(() => inheritableDescriptors('/nonexistent-proc')).toThrow();
  });
});
