import { createHash } from 'node:crypto';
import type { Cluster, KubeConfig } from '@kubernetes/client-node';
import type { Dispatcher } from 'undici';

/** Most distinct TLS identities kept at once (a rotated client certificate is a new one). */
const MAX_POOLS = 4;

/**
 * Makes every API client of `kc` share one connection pool per TLS identity. @kubernetes/client-node
 * 2.0.1 builds a new undici Agent for every request (applySecurityAuthentication → createDispatcher),
 * so each status write, Secret, Event or TokenReview paid a fresh TCP and TLS handshake with the API
 * server and left an idle socket behind: the operator's biggest CPU cost when it writes the status of
 * 10 000 keys. Here the Agent is kept, keyed by a digest of its options (CA, client certificate and
 * key, server name), so a rotated certificate gets a new pool and the oldest one is closed. Bearer
 * tokens travel in headers, which the client still reads on every request.
 *
 * createDispatcher is private in the package's typings, hence the cast; `connection-pool.test.ts`
 * fails if a new version renames it or stops calling it.
 */
export function poolConnections(kc: KubeConfig): KubeConfig {
  const target = kc as unknown as {
    createDispatcher(cluster: Cluster | null, agentOptions: object): Dispatcher | undefined;
  };
  if (typeof target.createDispatcher !== 'function')
    throw new Error('@kubernetes/client-node has no KubeConfig.createDispatcher: update poolConnections');
  const create = target.createDispatcher.bind(kc);
  const pools = new Map<string, Dispatcher | undefined>();
  target.createDispatcher = (cluster, agentOptions) => {
    const options = kc.createDispatcherOptions(cluster, agentOptions);
    const key = createHash('sha256').update(JSON.stringify(options)).digest('hex');
    if (pools.has(key)) return pools.get(key);
    const dispatcher = create(cluster, agentOptions);
    pools.set(key, dispatcher);
    if (pools.size > MAX_POOLS) {
      const [oldest, old] = pools.entries().next().value!;
      pools.delete(oldest);
      // Requests still on it finish; the pool then goes.
      void old?.close().catch(() => {});
    }
    return dispatcher;
  };
  return kc;
}
