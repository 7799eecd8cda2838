import { Cluster, Redis, type RedisOptions } from 'ioredis';
import type { RedisTarget } from './redis-url.ts';

/**
 * Builds the ioredis client behind the Redis counter store (DESIGN.md §6), tuned to fail fast rather
 * than wait: the request path would rather deny a money-moving call now (fail closed) than hang it.
 *
 * - no offline queue: a command issued while disconnected fails at once instead of waiting;
 * - maxRetriesPerRequest 0 and no resend: a reserve that was in flight when the socket died is never
 *   replayed on the next connection (it might already have been applied);
 * - reconnect every 50 ms growing to 500 ms: service resumes within about a second of Redis returning.
 */

/** The Lua scripts the store defines on the client; ioredis sends EVAL once per socket, then EVALSHA. */
export interface CounterScripts {
  readonly reserve: string;
  readonly settle: string;
  readonly acquire: string;
  readonly renew: string;
  readonly release: string;
}

/** What redis-store.ts calls: the usual commands plus the five scripts. */
export type ScriptedClient = (Redis | Cluster) & {
  kbReserve(...args: (string | number)[]): Promise<unknown>;
  kbSettle(...args: (string | number)[]): Promise<unknown>;
  kbAcquire(...args: (string | number)[]): Promise<unknown>;
  kbRenew(...args: (string | number)[]): Promise<unknown>;
  kbRelease(...args: (string | number)[]): Promise<unknown>;
};

/** Tuning of one client; timeoutMs bounds every command. */
export interface RedisClientOptions {
  readonly timeoutMs: number;
  readonly connectionName?: string;
}

const reconnectDelay = (attempt: number): number => Math.min(attempt * 50, 500);

export function createScriptedClient(
  target: RedisTarget,
  scripts: CounterScripts,
  opts: RedisClientOptions,
): ScriptedClient {
  const definitions = {
    kbReserve: { lua: scripts.reserve },
    kbSettle: { lua: scripts.settle },
    kbAcquire: { lua: scripts.acquire },
    kbRenew: { lua: scripts.renew },
    kbRelease: { lua: scripts.release },
  };
  const perNode: RedisOptions = {
    connectionName: opts.connectionName ?? 'keybrake',
    // Only a backstop: the store's own deadline (timeoutMs) is the one that fails a call closed, and
    // it tolerates our event loop stalling; ioredis' timer would reject a reply already received.
    commandTimeout: opts.timeoutMs * 10,
    // Connecting is not on the request path (commands fail at once while it happens), so allow a
    // slow network a little longer than one command.
    connectTimeout: Math.max(1_000, opts.timeoutMs * 20),
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    ...(target.username === undefined ? {} : { username: target.username }),
    ...(target.password === undefined ? {} : { password: target.password }),
    ...(target.tls ? { tls: {} } : {}),
  };

  if (target.mode === 'cluster') {
    return new Cluster(
      target.nodes.map((n) => ({ host: n.host, port: n.port })),
      {
        scripts: definitions,
        enableOfflineQueue: false,
        clusterRetryStrategy: reconnectDelay,
        clusterNodeRetryStrategy: reconnectDelay,
        slotsRefreshTimeout: Math.max(1_000, opts.timeoutMs * 20),
        retryDelayOnFailover: Math.max(10, Math.floor(opts.timeoutMs / 5)),
        retryDelayOnClusterDown: Math.max(10, Math.floor(opts.timeoutMs / 5)),
        redisOptions: perNode,
      },
    ) as ScriptedClient;
  }

  const common: RedisOptions = {
    ...perNode,
    scripts: definitions,
    enableOfflineQueue: false,
    retryStrategy: reconnectDelay,
    db: target.db,
  };
  if (target.mode === 'sentinel') {
    return new Redis({
      ...common,
      sentinels: target.sentinels.map((s) => ({ host: s.host, port: s.port })),
      name: target.masterName,
      sentinelRetryStrategy: reconnectDelay,
      sentinelCommandTimeout: opts.timeoutMs * 4,
      ...(target.sentinelPassword === undefined ? {} : { sentinelPassword: target.sentinelPassword }),
      ...(target.tls ? { enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
    }) as ScriptedClient;
  }
  return new Redis({ ...common, host: target.address.host, port: target.address.port }) as ScriptedClient;
}
