import { describe, expect, it } from 'vitest';
import { closestFlag } from './closest-flag.ts';

const SERVE = ['manifests', 'redis', 'listen', 'vendor-port', 'admin-listen', 'max-body', 'max-connections'];

describe('closestFlag', () => {
  it.each<[string, string | undefined]>([
    ['--manifest', 'manifests'],
    ['--manifestss', 'manifests'],
    ['--manifests=./keys', 'manifests'],
    ['--mnaifests', 'manifests'],
    ['--Redis', 'redis'],
    ['--lisen', 'listen'],
    ['--vendor-ports', 'vendor-port'],
    ['--max', undefined],
    ['--re', undefined],
    ['--xyz', undefined],
    ['--timeout', undefined],
  ])('reads %s as %s', (typed, expected) => {
    expect(closestFlag(typed, SERVE)).toBe(expected);
  });

  it('suggests nothing when two flags are equally close', () => {
    expect(closestFlag('--cat', ['cap', 'car'])).toBeUndefined();
  });
});
