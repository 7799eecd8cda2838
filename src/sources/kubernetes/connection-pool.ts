import { createHash } from 'node:crypto';
import type { Cluster, KubeConfig } from '@kubernetes/client-node';
import { Agent, Dispatcher } from 'undici';

/** Most distinct TLS identities kept at once (a rotated client certificate is a new one). */
const MAX_POOLS = 4;

/**
 * How long any API request may wait for its answer to start, and then between two pieces of it.
 * undici's defaults are 300 s each: a request sent on a connection that has silently died (a dead API
 * server node, a dropped conntrack entry: no RST) waited that long, and the Lease read of a standby
 * with it (eighth round: 107 s without a leader). On either timeout undici destroys the socket, so
 * the next request opens a new connection instead of queueing on the dead one. Headers: a Lease,
 * Secret, status, TokenReview or list answer starts within seconds on a working API server. Body: a
 * watch is silent between events up to its timeoutSeconds (the reflector asks for under 30 s and has
 * its own watchdog), so this only has to end a list or a watch whose connection died mid-answer.
 */
export const API_TIMEOUTS = { headersTimeoutMs: 15_000, bodyTimeoutMs: 60_000 };

/**
 * Makes every API client of `kc` share one connection pool per TLS identity, with `timeouts` on
 * every request (API_TIMEOUTS). @kubernetes/client-node
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
export function poolConnections(kc: KubeConfig, timeouts = API_TIMEOUTS): KubeConfig {
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
    const dispatcher = timed(options, timeouts) ?? create(cluster, agentOptions);
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

/**
 * The Agent client-node would build for a direct connection, with the request timeouts; undefined
 * for one through an HTTP or SOCKS proxy, left to client-node (and to undici's default timeouts).
 */
function timed(
  options: ReturnType<KubeConfig['createDispatcherOptions']>,
  t: typeof API_TIMEOUTS,
): Dispatcher | undefined {
  const bounds = { headersTimeout: t.headersTimeoutMs, bodyTimeout: t.bodyTimeoutMs };
  if (options.type === 'agent')
    return new RenewingAgent(() => new Agent({ connect: options.connect, ...bounds }));
  // No TLS options of its own (a public CA): client-node leaves it to fetch's global dispatcher.
  if (options.type === 'none') return new RenewingAgent(() => new Agent(bounds));
  return undefined;
}

const TIMEOUTS = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/**
 * An Agent that starts over with a new one (new connections) when a request on it times out: the
 * kept connections to the API server are then suspect together (they all led to the node that went
 * silent), and each would otherwise cost the next requests one timeout apiece. The old Agent closes
 * once the requests still on it end (a watch on a working connection carries on until it does).
 */
class RenewingAgent extends Dispatcher {
  #current: Agent;
  readonly #make: () => Agent;
  constructor(make: () => Agent) {
    super();
    this.#make = make;
    this.#current = make();
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const agent = this.#current;
    const renew = (err: unknown) => {
      if (agent !== this.#current || !TIMEOUTS.has((err as { code?: string })?.code ?? '')) return;
      this.#current = this.#make();
      void agent.close().catch(() => {});
    };
    // Every callback passes through untouched; only an error (either handler API) is looked at first.
    const watched = new Proxy(handler, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if ((prop !== 'onResponseError' && prop !== 'onError') || typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          renew(args.at(-1));
          return value.apply(target, args);
        };
      },
    });
    return agent.dispatch(options, watched);
  }

  override close(): Promise<void> {
    return this.#current.close();
  }

  override destroy(): Promise<void> {
    return this.#current.destroy();
  }
}
