/**
 * How much a client may make a listener wait and hold (ADR 0007 §8: bounded work per request), for
 * every listener Keybrake opens: the proxy's vendor and admin listeners, the operator's snapshot
 * and run API listener and its admin listener. A leaf: the CLI shows these defaults in its help
 * before it loads anything heavier.
 */
export interface ListenerLimits {
  /** The whole request, head and body, must arrive within this (--client-timeout). */
  readonly clientTimeoutMs: number;
  /** Open connections per listener (--max-connections); one more is closed as it is accepted. */
  readonly maxConnections: number;
  /**
   * Open connections one client address may hold on a listener (--max-connections-per-source), so
   * that one client cannot fill --max-connections for everyone; one more is closed as it is accepted.
   */
  readonly maxConnectionsPerSource: number;
  /** Request line plus headers, in bytes. */
  readonly maxHeaderBytes: number;
  /**
   * How long a connection may go without a byte either way once a request is in: longer than a call
   * may take upstream (a lookup and the call itself). It ends connections whose client stopped
   * reading its answer; a call whose connection it ends before the call is sent is not sent.
   */
  readonly idleTimeoutMs: number;
}

export const DEFAULT_CLIENT_TIMEOUT_MS = 30_000;
/** Node's own default, stated: vendor SDKs send well under 2 KiB of headers. */
export const MAX_HEADER_BYTES = 16 * 1024;
/** Open client connections per listener (--max-connections). */
export const DEFAULT_MAX_CONNECTIONS = 4096;
/** Most open connections one client address may hold per listener, by default (--max-connections-per-source). */
export const DEFAULT_MAX_CONNECTIONS_PER_SOURCE = 256;
/** The head of a request must arrive within this, or within --client-timeout when that is shorter. */
const HEADERS_TIMEOUT_MS = 10_000;
/**
 * A new connection that has sent nothing within this is closed without an answer (or within the
 * headers timeout when that is shorter). Node counts the headers timeout from the accept, so without
 * it a client that connects and stays silent holds a slot for the whole 10 s, and is answered and
 * audited (a 408) for it: reconnecting, a few hundred silent connections a second kept a listener
 * full. A client with a call to make sends it as soon as it is connected.
 */
const FIRST_BYTE_TIMEOUT_MS = 2_000;
/**
 * Open connections an admin listener holds: its clients are probes, a scraper and the run API, a
 * handful at a time. A cap far below the vendor listeners' keeps idle connections to it from taking
 * the file descriptors those, and /readyz itself, need.
 */
export const ADMIN_MAX_CONNECTIONS = 256;

/**
 * The default share of one client address: 256, or a quarter of --max-connections when that is
 * smaller, so that at least three others always find room.
 */
export function defaultConnectionsPerSource(maxConnections: number): number {
  return Math.max(1, Math.min(DEFAULT_MAX_CONNECTIONS_PER_SOURCE, Math.floor(maxConnections / 4)));
}

/**
 * A listener's limits from the flags that set them; what is not given is the default.
 * `upstreamTimeoutMs` is the longest a request may wait on work behind the listener (0 for the
 * operator's listeners, which call nobody while they answer).
 */
export function listenerLimits(flags: {
  readonly upstreamTimeoutMs: number;
  readonly clientTimeoutMs?: number | undefined;
  readonly maxConnections?: number | undefined;
  readonly maxConnectionsPerSource?: number | undefined;
}): ListenerLimits {
  const clientTimeoutMs = flags.clientTimeoutMs ?? DEFAULT_CLIENT_TIMEOUT_MS;
  const maxConnections = flags.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  return {
    clientTimeoutMs,
    maxConnections,
    maxConnectionsPerSource: flags.maxConnectionsPerSource ?? defaultConnectionsPerSource(maxConnections),
    maxHeaderBytes: MAX_HEADER_BYTES,
    // A call may wait on two upstream requests (a price lookup, then the call itself), and each may
    // take the upstream timeout three times: waiting for a connection, for the head, for the body.
    idleTimeoutMs: clientTimeoutMs + 6 * flags.upstreamTimeoutMs + 5_000,
  };
}

/**
 * An admin listener's limits: the other listeners' timeouts and header size, its own small
 * connection cap, and a quarter of it per client address.
 */
export function adminLimits(limits: ListenerLimits): ListenerLimits {
  const maxConnections = Math.min(ADMIN_MAX_CONNECTIONS, limits.maxConnections);
  return { ...limits, maxConnections, maxConnectionsPerSource: defaultConnectionsPerSource(maxConnections) };
}

/** The time a request's head has to arrive in. */
export function headersTimeoutMs(limits: ListenerLimits): number {
  return Math.min(HEADERS_TIMEOUT_MS, limits.clientTimeoutMs);
}

/** The time a new connection has to send its first byte in. */
export function firstByteTimeoutMs(limits: ListenerLimits): number {
  return Math.min(FIRST_BYTE_TIMEOUT_MS, headersTimeoutMs(limits));
}
