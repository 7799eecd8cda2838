import { describe, expect, it } from 'vitest';
import { ExpiringCache, tokenKey } from './expiring-cache.ts';

describe('ExpiringCache', () => {
  it('answers a value until its time is up, then forgets it', () => {
    const cache = new ExpiringCache<string>(100, 10);
    cache.set('a', 'yes', 1_000);
    expect(cache.get('a', 1_099)).toBe('yes');
    expect(cache.get('a', 1_100)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('when full, drops expired entries first, then the oldest', () => {
    const cache = new ExpiringCache<number>(100, 3);
    cache.set('old', 1, 0);
    cache.set('b', 2, 50);
    cache.set('c', 3, 60);
    cache.set('d', 4, 120); // 'old' has expired: it goes, the others stay
    expect([cache.get('b', 120), cache.get('c', 120), cache.get('d', 120)]).toEqual([2, 3, 4]);
    cache.set('e', 5, 130); // none expired: the oldest ('b') goes
    expect(cache.get('b', 130)).toBeUndefined();
    expect(cache.size).toBe(3);
  });

  it('keeps nothing with a TTL of 0', () => {
    const cache = new ExpiringCache<number>(0, 3);
    cache.set('a', 1, 0);
    expect(cache.get('a', 0)).toBeUndefined();
  });

  it('keys a token by its SHA-256, never the token', () => {
    expect(tokenKey('secret-token')).toMatch(/^[0-9a-f]{64}$/);
    expect(tokenKey('secret-token')).not.toContain('secret');
  });
});
