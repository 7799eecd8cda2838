import type { AddressInfo } from 'node:net';

/** A listener address from a flag: `host:port`, `[v6]:port`, `:port` or a bare port. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** Parses `host:port` (or `:port`, or a bare port, which binds 127.0.0.1). */
export function parseListen(text: string): ListenAddress {
  const m = /^(?:(\[[^\]]+\]|[^:]*):)?(\d{1,5})$/.exec(text.trim());
  const port = Number(m?.[2]);
  if (!m || port > 65535) throw new Error(`invalid listen address "${text}": expected host:port`);
  const host = (m[1] ?? '').replace(/^\[|\]$/g, '') || '127.0.0.1';
  return { host, port };
}

/**
 * The URL a client on this machine reaches a bound listener at: the port the OS chose for `:0`,
 * IPv6 hosts in brackets, and the wildcard address replaced by loopback (logs and tests dial it).
 */
export function listenUrl(
  bound: AddressInfo | string | null,
  requested: ListenAddress,
  scheme: 'http' | 'https' = 'http',
): string {
  const port = typeof bound === 'object' && bound ? bound.port : requested.port;
  const host =
    requested.host === '0.0.0.0' || requested.host === '::'
      ? '127.0.0.1'
      : requested.host.includes(':')
        ? `[${requested.host}]`
        : requested.host;
  return `${scheme}://${host}:${port}`;
}
