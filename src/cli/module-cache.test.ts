import { describe, expect, it } from 'vitest';
import { moduleCacheDir } from './module-cache.ts';

describe('moduleCacheDir', () => {
  it("is the user's own cache directory, never the shared temporary one", () => {
    expect(moduleCacheDir({ HOME: '/home/a' })).toBe('/home/a/.cache/keybrake/modules');
    expect(moduleCacheDir({ HOME: '/home/a', XDG_CACHE_HOME: '/var/cache/a' })).toBe(
      '/var/cache/a/keybrake/modules',
    );
  });

  it("yields to Node's own NODE_COMPILE_CACHE", () => {
    expect(moduleCacheDir({ HOME: '/home/a', XDG_CACHE_HOME: '/x', NODE_COMPILE_CACHE: '/c' })).toBe('/c');
  });

  it('ignores empty variables', () => {
    expect(moduleCacheDir({ HOME: '/home/a', XDG_CACHE_HOME: '', NODE_COMPILE_CACHE: '' })).toBe(
      '/home/a/.cache/keybrake/modules',
    );
  });
});
