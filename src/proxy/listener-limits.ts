import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Log } from '../telemetry/logger.ts';
import { DEFAULT_MAX_CONNECTIONS, defaultConnectionsPerSource } from './defaults.ts';
import { SourceShare } from './source-share.ts';

/** How much a client may make a listener wait and hold (ADR 0007 §8: bounded work per request). */
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
   * How long a connection may go without a byte either way once a request is in: longer than any
   * call may take upstream. It ends connections whose client stopped reading its answer.
   */
  readonly idleTimeoutMs: number;
}

export const DEFAULT_CLIENT_TIMEOUT_MS = 30_000;
/** Node's own default, stated: vendor SDKs send well under 2 KiB of headers. */
export const MAX_HEADER_BYTES = 16 * 1024;
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
 * An idle keep-alive connection is closed after this (node's default, announced to clients in the
 * `Keep-Alive: timeout=5` header so that they retire it first).
 */
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** Refused connections are reported at most this often per listener: a flood must not flood stderr. */
const WARN_EVERY_MS = 10_000;

/** The proxy listeners' limits from the flags that set them; what is not given is the default. */
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
    // A call may wait on two upstream requests (a price lookup, then the call itself).
    idleTimeoutMs: clientTimeoutMs + 2 * flags.upstreamTimeoutMs + 5_000,
  };
}

/** The time a request's head has to arrive in. */
export function headersTimeoutMs(limits: ListenerLimits): number {
  return Math.min(HEADERS_TIMEOUT_MS, limits.clientTimeoutMs);
}

/** The time a new connection has to send its first byte in. */
export function firstByteTimeoutMs(limits: ListenerLimits): number {
  return Math.min(FIRST_BYTE_TIMEOUT_MS, headersTimeoutMs(limits));
}

/** How one listener names itself in its logs, and what it hands node's server. */
export interface BoundedServerOptions {
  /** `main`, a vendor name or `admin`. */
  readonly listener: string;
  readonly log: Log;
  /** Node's own 400 for a missing Host; the proxy listener answers that itself. */
  readonly requireHostHeader?: boolean;
}

/**
 * A node HTTP server that holds its clients to `limits`: header and request timeouts, a first-byte
 * timeout, the connection cap and every client address's share of it, header size and idle time.
 * Each listener of the proxy (vendor, router, admin) is one; what answers its requests is the
 * caller's.
 */
export function createBoundedServer(
  limits: ListenerLimits,
  opts: BoundedServerOptions,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Server {
  const server = createServer(
    {
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: headersTimeoutMs(limits),
      requestTimeout: limits.clientTimeoutMs,
      // Node enforces both timeouts on this beat: a fraction of the limit, at most once a second.
      connectionsCheckingInterval: Math.min(1_000, Math.max(25, Math.floor(limits.clientTimeoutMs / 4))),
      ...(opts.requireHostHeader !== undefined ? { requireHostHeader: opts.requireHostHeader } : {}),
    },
    handler,
  );
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.maxConnections = limits.maxConnections;
  server.setTimeout(limits.idleTimeoutMs);

  const listener = opts.listener;
  const full = throttledWarning(opts.log, 'connections refused: --max-connections reached');
  // Past --max-connections node closes a new connection as it is accepted.
  server.on('drop', () => full({ maxConnections: limits.maxConnections, listener }));

  const share = new SourceShare(limits.maxConnectionsPerSource);
  const shareFull = throttledWarning(opts.log, 'connections refused: --max-connections-per-source reached');
  const firstByteMs = firstByteTimeoutMs(limits);
  // After node's own connection listener: a connection closed here is one node has set up to clean up.
  server.on('connection', (socket: Socket) => {
    // Behind a NAT or a Service that does not keep client addresses, every client shares one
    // address, and so one share (docs/security.md row 11 says how to size it). The local
    // addresses are not shared out: every local client (serve's default listener) and a mesh
    // sidecar's forwarded connections come from them, and one share would let any one of them shut
    // out the rest (--max-connections and the first-byte timeout still hold).
    const source = socket.remoteAddress ?? '';
    const shared = !isLocalSource(source);
    if (shared && !share.take(source)) {
      shareFull({ maxConnectionsPerSource: limits.maxConnectionsPerSource, source, listener });
      socket.destroy();
      return;
    }
    // Nothing to answer and no call to audit: a TCP probe or a preconnect does this too.
    const firstByte = setTimeout(() => {
      if (socket.bytesRead === 0) socket.destroy();
    }, firstByteMs).unref();
    socket.once('close', () => {
      clearTimeout(firstByte);
      if (shared) share.give(source);
    });
  });
  return server;
}

/**
 * The addresses every local client (127.0.0.1, ::1) or a mesh sidecar's forwarded connections
 * (Istio's 127.0.0.6) arrive from, IPv4-mapped too: many clients behind one address by design.
 */
const LOCAL_SOURCES: ReadonlySet<string> = new Set(
  ['127.0.0.1', '127.0.0.6'].flatMap((a) => [a, `::ffff:${a}`]).concat('::1'),
);

function isLocalSource(address: string): boolean {
  return LOCAL_SOURCES.has(address);
}

/** A warning logged with how many times it happened since it was last logged, at most every 10 s. */
function throttledWarning(log: Log, msg: string): (fields: Record<string, unknown>) => void {
  let refused = 0;
  let warnedAt = 0;
  return (fields) => {
    refused++;
    const now = Date.now();
    if (now - warnedAt < WARN_EVERY_MS) return;
    log.warn({ ...fields, refused }, msg);
    warnedAt = now;
    refused = 0;
  };
}
