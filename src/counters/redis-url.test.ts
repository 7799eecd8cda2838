import { describe, expect, it } from 'vitest';
import { describeRedisTarget, InvalidRedisUrlError, parseRedisUrl } from './redis-url.ts';

describe('parseRedisUrl', () => {
  it.each([
    [
      'a bare host gets the default port and db 0',
      'redis://redis',
      { mode: 'standalone', address: { host: 'redis', port: 6379 }, db: 0, tls: false },
    ],
    [
      'a port and a db are read',
      'redis://127.0.0.1:6380/3',
      { mode: 'standalone', address: { host: '127.0.0.1', port: 6380 }, db: 3, tls: false },
    ],
    [
      'rediss:// turns TLS on and :password@ is a password without user',
      'rediss://:s%40cret@cache.example.com:6380',
      {
        mode: 'standalone',
        address: { host: 'cache.example.com', port: 6380 },
        db: 0,
        tls: true,
        password: 's@cret',
      },
    ],
    [
      'an ACL user and password',
      'redis://keybrake:pw@[::1]:6379/1',
      {
        mode: 'standalone',
        address: { host: '::1', port: 6379 },
        db: 1,
        tls: false,
        username: 'keybrake',
        password: 'pw',
      },
    ],
    [
      'sentinels default to port 26379 and the path is the master name',
      'redis+sentinel://s1,s2:26380/mymaster',
      {
        mode: 'sentinel',
        sentinels: [
          { host: 's1', port: 26379 },
          { host: 's2', port: 26380 },
        ],
        masterName: 'mymaster',
        db: 0,
        tls: false,
      },
    ],
    [
      'a sentinel URL may carry a db and a sentinel password',
      'rediss+sentinel://:pw@s1:26379/mymaster/2?sentinelPassword=spw',
      {
        mode: 'sentinel',
        sentinels: [{ host: 's1', port: 26379 }],
        masterName: 'mymaster',
        db: 2,
        tls: true,
        password: 'pw',
        sentinelPassword: 'spw',
      },
    ],
    [
      'a cluster URL lists seed nodes',
      'redis+cluster://10.0.0.1:7000,10.0.0.2:7001',
      {
        mode: 'cluster',
        nodes: [
          { host: '10.0.0.1', port: 7000 },
          { host: '10.0.0.2', port: 7001 },
        ],
        tls: false,
      },
    ],
  ])('%s', (_name, url, expected) => {
    expect(parseRedisUrl(url)).toEqual(expected);
  });

  it.each([
    ['an unknown scheme', 'http://redis:6379'],
    ['no scheme at all', 'redis:6379'],
    ['two hosts in a plain redis URL', 'redis://a:1,b:2'],
    ['a sentinel URL without a master name', 'redis+sentinel://s1:26379'],
    ['a cluster URL with a db', 'redis+cluster://a:7000/1'],
    ['a port out of range', 'redis://redis:70000'],
    ['a non-numeric db', 'redis://redis/abc'],
    ['an empty host', 'redis://:6379'],
    ['credentials without a colon', 'redis://secretpassword@redis:6379'],
  ])('rejects %s without echoing the URL', (_name, url) => {
    let error: unknown;
    try {
      parseRedisUrl(url);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidRedisUrlError);
    expect((error as Error).message).not.toContain(url);
    expect((error as Error).message).not.toContain('secretpassword');
  });
});

describe('describeRedisTarget', () => {
  it.each([
    ['redis://:pw@redis:6379/2', 'redis://redis:6379/2'],
    ['rediss+sentinel://u:pw@s1,[::1]:1/m?sentinelPassword=x', 'rediss+sentinel://s1:26379,[::1]:1/m/0'],
    ['redis+cluster://u:pw@a:7000,b:7001', 'redis+cluster://a:7000,b:7001'],
  ])('describes %s as %s, without credentials', (url, described) => {
    expect(describeRedisTarget(parseRedisUrl(url))).toBe(described);
  });
});
