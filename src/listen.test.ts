import { describe, expect, it } from 'vitest';
import { listenUrl, parseListen } from './listen.ts';

describe('parseListen', () => {
  it.each([
    ['127.0.0.1:8080', { host: '127.0.0.1', port: 8080 }],
    [':9090', { host: '127.0.0.1', port: 9090 }],
    ['8081', { host: '127.0.0.1', port: 8081 }],
    ['[::1]:8080', { host: '::1', port: 8080 }],
    ['0.0.0.0:0', { host: '0.0.0.0', port: 0 }],
  ])('reads %s', (text, expected) => {
    expect(parseListen(text)).toEqual(expected);
  });

  it.each(['host', '1.2.3.4:99999', '1.2.3.4:-1', ''])('refuses %j', (text) => {
    expect(() => parseListen(text)).toThrow(/expected host:port/);
  });
});

describe('listenUrl', () => {
  it.each([
    [{ host: '127.0.0.1', port: 0 }, 43210, 'http', 'http://127.0.0.1:43210'],
    [{ host: '0.0.0.0', port: 8080 }, 8080, 'http', 'http://127.0.0.1:8080'],
    [{ host: '::1', port: 0 }, 5000, 'https', 'https://[::1]:5000'],
  ] as const)('dials %j bound on port %i as %s', (requested, port, scheme, url) => {
    expect(listenUrl({ address: requested.host, family: 'IPv4', port }, requested, scheme)).toBe(url);
  });
});
