import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { absoluteFrom, absoluteFromShell, workingDirectory } from './shell-paths.ts';

// root/releases/v1, root/releases/v2, root/current -> releases/v1: serve started in `current`
// runs in releases/v1 (the kernel's working directory), with the shell's PWD naming the link.
const root = realpathSync(mkdtempSync(join(tmpdir(), 'keybrake-shell-paths-')));
const v1 = join(root, 'releases', 'v1');
const v2 = join(root, 'releases', 'v2');
const current = join(root, 'current');
mkdirSync(v1, { recursive: true });
mkdirSync(v2);
symlinkSync('releases/v1', current);

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('workingDirectory', () => {
  it('is the shell’s PWD when it names the same directory through a link', () => {
    expect(workingDirectory(current, v1)).toBe(current);
  });

  it('is the physical directory without a PWD', () => {
    expect(workingDirectory(undefined, v1)).toBe(v1);
  });

  it('is the physical directory when PWD is stale: another directory, or none', () => {
    expect(workingDirectory(v2, v1)).toBe(v1);
    expect(workingDirectory(join(root, 'gone'), v1)).toBe(v1);
  });

  it('is the physical directory when PWD is relative or has . or .. components', () => {
    expect(workingDirectory('current', v1)).toBe(v1);
    // The kernel reads current/../v1 as releases/v1 (the same directory); lexically it is root/v1.
    expect(workingDirectory(`${current}/../v1`, v1)).toBe(v1);
    expect(workingDirectory(`${current}/.`, v1)).toBe(v1);
  });
});

describe('absoluteFrom', () => {
  it('joins a relative path to the base, dropping only empty and . components', () => {
    expect(absoluteFrom(current, 'm')).toBe(`${current}/m`);
    expect(absoluteFrom(current, './m//c.yaml')).toBe(`${current}/m/c.yaml`);
    expect(absoluteFrom(current, '.')).toBe(current);
    expect(absoluteFrom('/', 'm')).toBe('/m');
  });

  it('keeps .. for the kernel to resolve, as it did before (the parent of the link’s target)', () => {
    expect(absoluteFrom(current, '../shared/m')).toBe(`${current}/../shared/m`);
  });

  it('leaves an absolute path as given', () => {
    expect(absoluteFrom(current, '/srv/a/../m')).toBe('/srv/a/../m');
  });
});

describe('absoluteFromShell', () => {
  it('resolves every relative path against the shell’s PWD, or the physical directory', () => {
    expect(absoluteFromShell(['m', '/abs/m'], { PWD: current }, v1)).toEqual([`${current}/m`, '/abs/m']);
    expect(absoluteFromShell(['m'], {}, v1)).toEqual([`${v1}/m`]);
  });
});
