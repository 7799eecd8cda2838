/**
 * Parses the `--redis` URL (configuration, never code changes: DESIGN.md §6) into what the Redis
 * client needs. Forms:
 *
 *   redis://[user:pass@]host[:port][/db]            one server (rediss:// for TLS)
 *   redis+sentinel://[user:pass@]h1[:port],h2[:port]/masterName[/db][?sentinelPassword=…]
 *   redis+cluster://[user:pass@]h1[:port],h2[:port]  any reachable subset of the cluster's masters
 *
 * `rediss+sentinel://` and `rediss+cluster://` use TLS. Credentials go to the data nodes. Errors never
 * repeat the URL: it may hold a password.
 */

/** One host and port. */
export interface RedisAddress {
  readonly host: string;
  readonly port: number;
}

/** Credentials and TLS shared by every form. */
interface Common {
  readonly tls: boolean;
  readonly username?: string;
  readonly password?: string;
}

/** Where the Redis counter store connects: the output of parseRedisUrl, input of the client factory. */
export type RedisTarget =
  | (Common & { readonly mode: 'standalone'; readonly address: RedisAddress; readonly db: number })
  | (Common & {
      readonly mode: 'sentinel';
      readonly sentinels: readonly RedisAddress[];
      readonly masterName: string;
      readonly db: number;
      readonly sentinelPassword?: string;
    })
  | (Common & { readonly mode: 'cluster'; readonly nodes: readonly RedisAddress[] });

/** Thrown for a malformed URL; the message names the problem, never the URL. */
export class InvalidRedisUrlError extends Error {
  override readonly name = 'InvalidRedisUrlError';
}

const SHAPE = /^([a-z+]+):\/\/(?:([^@/?#]*)@)?([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?$/i;
const SCHEMES: Record<string, { mode: RedisTarget['mode']; tls: boolean }> = {
  redis: { mode: 'standalone', tls: false },
  rediss: { mode: 'standalone', tls: true },
  'redis+sentinel': { mode: 'sentinel', tls: false },
  'rediss+sentinel': { mode: 'sentinel', tls: true },
  'redis+cluster': { mode: 'cluster', tls: false },
  'rediss+cluster': { mode: 'cluster', tls: true },
};

export function parseRedisUrl(url: string): RedisTarget {
  const m = SHAPE.exec(url.trim());
  if (!m) throw new InvalidRedisUrlError('Redis URL is malformed (expected scheme://host:port…)');
  const [, rawScheme = '', userinfo, hostList = '', path = '', query = ''] = m;
  const scheme = SCHEMES[rawScheme.toLowerCase()];
  if (!scheme) {
    throw new InvalidRedisUrlError(
      'Redis URL scheme must be redis, rediss, redis+sentinel, rediss+sentinel, redis+cluster or rediss+cluster',
    );
  }
  const defaultPort = scheme.mode === 'sentinel' ? 26379 : 6379;
  const addresses = hostList.split(',').map((h) => parseAddress(h, defaultPort));
  const common: Common = { tls: scheme.tls, ...parseUserinfo(userinfo) };
  const segments = path.split('/').filter((s) => s !== '');
  const params = new URLSearchParams(query);

  if (scheme.mode === 'standalone') {
    const [address] = addresses;
    if (!address || addresses.length > 1) {
      throw new InvalidRedisUrlError(
        'a redis:// URL names exactly one host; use redis+cluster:// or redis+sentinel://',
      );
    }
    if (segments.length > 1) throw new InvalidRedisUrlError('Redis URL path must be /<db>');
    return { mode: 'standalone', address, db: parseDb(segments[0]), ...common };
  }
  if (scheme.mode === 'sentinel') {
    const [masterName, db] = segments.map(decode);
    if (!masterName || segments.length > 2) {
      throw new InvalidRedisUrlError(
        'a redis+sentinel:// URL needs the master name as its path: /<masterName>[/<db>]',
      );
    }
    const sentinelPassword = params.get('sentinelPassword') ?? undefined;
    return {
      mode: 'sentinel',
      sentinels: addresses,
      masterName,
      db: parseDb(db),
      ...common,
      ...(sentinelPassword === undefined ? {} : { sentinelPassword }),
    };
  }
  if (segments.length > 0)
    throw new InvalidRedisUrlError('a redis+cluster:// URL has no path (clusters have only db 0)');
  return { mode: 'cluster', nodes: addresses, ...common };
}

/** The URL without credentials or query, safe for logs and status. */
export function describeRedisTarget(t: RedisTarget): string {
  const list = (as: readonly RedisAddress[]) => as.map(formatAddress).join(',');
  const s = t.tls ? 's' : '';
  switch (t.mode) {
    case 'standalone':
      return `redis${s}://${formatAddress(t.address)}/${t.db}`;
    case 'sentinel':
      return `redis${s}+sentinel://${list(t.sentinels)}/${t.masterName}/${t.db}`;
    case 'cluster':
      return `redis${s}+cluster://${list(t.nodes)}`;
  }
}

function formatAddress(a: RedisAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

function parseAddress(text: string, defaultPort: number): RedisAddress {
  const m = /^(?:\[([0-9a-f:.]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/i.exec(text);
  const host = m?.[1] ?? m?.[2];
  if (!m || !host) throw new InvalidRedisUrlError('Redis URL has an empty or malformed host');
  const port = m[3] === undefined ? defaultPort : Number(m[3]);
  if (port < 1 || port > 65535) throw new InvalidRedisUrlError('Redis URL has a port outside 1-65535');
  return { host, port };
}

function parseUserinfo(userinfo: string | undefined): { username?: string; password?: string } {
  if (userinfo === undefined || userinfo === '') return {};
  const i = userinfo.indexOf(':');
  if (i < 0) throw new InvalidRedisUrlError('Redis URL credentials must be user:password@ or :password@');
  const user = decode(userinfo.slice(0, i));
  const password = decode(userinfo.slice(i + 1));
  return user === '' ? { password } : { username: user, password };
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new InvalidRedisUrlError('Redis URL has a malformed percent-encoding');
  }
}

function parseDb(text: string | undefined): number {
  if (text === undefined || text === '') return 0;
  if (!/^\d{1,2}$/.test(text)) throw new InvalidRedisUrlError('Redis URL database must be a small integer');
  return Number(text);
}
