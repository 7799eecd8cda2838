import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from './args.ts';
import { absoluteFrom, absoluteFromShell, withoutDotDot, workingDirectory } from './shell-paths.ts';

// root/releases/v1, root/releases/v2, root/current -> releases/v1: serve started in `current`
// runs in releases/v1 (the kernel's working directory), with the shell's PWD naming the link.
const root = realpathSync(mkdtempSync(join(tmpdir(), 'keybrake-shell-paths-')));
const v1 = join(root, 'releases', 'v1');
const v2 = join(root, 'releases', 'v2');
const current = join(root, 'current');
mkdirSync(v1, { recursive: true });
mkdirSync(v2);
symlinkSync('releases/v1', current);
// root/releases/m beside the releases, and root/m where `current/..` would be read lexically.
mkdirSync(join(root, 'releases', 'm'));
mkdirSync(join(root, 'm'));

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

describe('withoutDotDot', () => {
  it('reads .. after a link as the kernel does: the parent of where the link points', () => {
    expect(withoutDotDot(`${current}/../m`)).toBe(join(root, 'releases', 'm'));
    expect(withoutDotDot(`${current}/..`)).toBe(join(root, 'releases'));
  });

  it('resolves .. at the start, and several, up to the last', () => {
    expect(withoutDotDot('/../..')).toBe('/');
    expect(withoutDotDot(`/..${root}/m`)).toBe(join(root, 'm'));
    expect(withoutDotDot(`${current}/../v2/../../m`)).toBe(join(root, 'm'));
    expect(withoutDotDot(`${current}/../../current/../m/`)).toBe(join(root, 'releases', 'm'));
  });

  it('keeps the links after the last .. as links, so their flips are still followed', () => {
    expect(withoutDotDot(`${v1}/../../current/m`)).toBe(`${root}/current/m`);
  });

  it('leaves a path without .. as written, but for empty and . components', () => {
    expect(withoutDotDot(`${current}/m`)).toBe(`${current}/m`);
    expect(withoutDotDot(`${current}/./m//a.yaml`)).toBe(`${current}/m/a.yaml`);
    expect(withoutDotDot('/srv/gone/m')).toBe('/srv/gone/m');
  });

  it('refuses a path whose part up to the last .. does not resolve', () => {
    expect(() => withoutDotDot(`${root}/gone/../m`)).toThrow(UsageError);
    expect(() => withoutDotDot(`${root}/gone/../m`)).toThrow(`cannot resolve ${root}/gone/..`);
  });
});

describe('absoluteFromShell', () => {
  it('resolves every relative path against the shell’s PWD, or the physical directory', () => {
    expect(absoluteFromShell(['m', '/abs/m'], { PWD: current }, v1)).toEqual([`${current}/m`, '/abs/m']);
    expect(absoluteFromShell(['m'], {}, v1)).toEqual([`${v1}/m`]);
  });

  it('gives no path with .., relative or absolute: the kernel’s meaning at start', () => {
    const given = ['../m', `${current}/../m`, `${root}/releases/../m`];
    expect(absoluteFromShell(given, { PWD: current }, v1)).toEqual([
      join(root, 'releases', 'm'),
      join(root, 'releases', 'm'),
      join(root, 'm'),
    ]);
  });

  it('refuses, naming the path given, one whose .. does not resolve', () => {
    expect(() => absoluteFromShell(['gone/../m'], { PWD: current }, v1)).toThrow(
      `--manifests gone/../m: cannot resolve ${current}/gone/..`,
    );
  });
});
