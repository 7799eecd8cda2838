import { describe, expect, it } from 'vitest';
import { isFromThisMachine, isLoopbackAddress, isUnrebindableHost } from './loopback-host.ts';

describe('isUnrebindableHost', () => {
  it.each([
    ['no Host (HTTP/1.0)', undefined],
    ['an empty Host', ''],
    ['an IPv4 address', '127.0.0.1'],
    ['an IPv4 address with a port', '127.0.0.1:9090'],
    ['another IPv4 address', '10.0.0.5:9090'],
    ['an IPv6 address in brackets', '[::1]'],
    ['an IPv6 address in brackets with a port', '[::1]:9090'],
    ['localhost', 'localhost'],
    ['localhost with a port, in capitals', 'LocalHost:9090'],
  ])('accepts %s', (_what, host) => {
    expect(isUnrebindableHost(host)).toBe(true);
  });

  it.each([
    ['a DNS name', 'rebind.evil.example'],
    ['a DNS name with a port', 'rebind.evil.example:9090'],
    ['a name that starts like localhost', 'localhost.evil.example:9090'],
    ['a subdomain of localhost (resolved by whatever resolver the browser has)', 'a.localhost:9090'],
    ['a name that starts like an address', '127.0.0.1.evil.example'],
    ['an address in a spelling browsers normalise but isIP does not', '0x7f.1:9090'],
    ['an IPv6 address without brackets', '::1'],
    ['brackets around something else', '[evil.example]:9090'],
    ['a port that is not one', '127.0.0.1:90x'],
    ['two ports', '127.0.0.1:1:2'],
  ])('refuses %s', (_what, host) => {
    expect(isUnrebindableHost(host)).toBe(false);
  });
});

describe('isLoopbackAddress', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.1.2.3', true],
    ['::1', true],
    ['::ffff:127.0.0.1', true],
    ['0.0.0.0', false],
    ['::', false],
    ['10.0.0.5', false],
    ['::ffff:10.0.0.5', false],
  ])('%s: %s', (address, loopback) => {
    expect(isLoopbackAddress(address)).toBe(loopback);
  });
});

describe('isFromThisMachine', () => {
  it.each([
    ['a loopback address reached', '127.0.0.1', '127.0.0.1', true],
    ['a mapped loopback address reached from a mesh sidecar', '::ffff:127.0.0.1', '::ffff:127.0.0.6', true],
    // A page rebinding its name to the developer machine's LAN address: the browser's connection
    // comes from that same address (eighth round: /metrics was answered there).
    ['this machine reaching its own LAN address', '192.0.2.2', '192.0.2.2', true],
    ['this machine reaching its own IPv6 address', 'fd00::2', 'fd00::2', true],
    ['another machine reaching a Pod address', '10.0.0.5', '10.0.0.9', false],
    ['a sidecar forwarding to the Pod address', '10.0.0.5', '127.0.0.6', false],
    ['a socket already closed', undefined, undefined, false],
  ])('%s', (_what, local, remote, expected) => {
    expect(isFromThisMachine(local, remote)).toBe(expected);
  });
});
