import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerOptions,
  type ServerResponse,
} from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Log } from '../telemetry/logger.ts';
import { firstByteTimeoutMs, headersTimeoutMs, type ListenerLimits } from './limits.ts';
import { refusingRebinding } from './loopback-host.ts';
import { isLocalSource, SourceShare } from './source-share.ts';

/**
 * An idle keep-alive connection is closed after this (node's default, announced to clients in the
 * `Keep-Alive: timeout=5` header so that they retire it first).
 */
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
/** Refused connections are reported at most this often per listener: a flood must not flood stderr. */
const WARN_EVERY_MS = 10_000;

/** How one listener names itself in its logs, and what it hands node's server. */
export interface BoundedServerOptions {
  /** `main`, a vendor name, `admin` or the operator's `snapshots`. */
  readonly listener: string;
  readonly log: Log;
  /** Node's own 400 for a missing Host; the proxy listener answers that itself. */
  readonly requireHostHeader?: boolean;
  /**
   * On a connection that reached a loopback address, answer only requests addressed to an IP address
   * or `localhost`, others 421 (loopback-host.ts): the admin listeners, which answer without a vault key.
   */
  readonly refuseRebinding?: boolean;
  /** Serve HTTPS with this certificate and key (the operator's snapshot listener). */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer } | undefined;
  /**
   * Keep a half-closed connection open until the answers under way are written (the proxy's
   * listeners, where an agent's client may half-close once its request is whole). Never where an
   * answer is a stream that does not end (the snapshot listener): node would then keep a client
   * gone with a FIN, a proxy's process that exited, as connected, its request never 'close'.
   */
  readonly allowHalfOpen?: boolean;
}

/**
 * A node HTTP(S) server that holds its clients to `limits`: header and request timeouts, a first-byte
 * timeout, the connection cap and every client address's share of it, header size and idle time.
 * Every listener Keybrake opens is one (the proxy's vendor, router and admin listeners, the
 * operator's snapshot and admin listeners); what answers its requests is the caller's.
 */
export function createBoundedServer(
  limits: ListenerLimits,
  opts: BoundedServerOptions,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Server {
  const options: ServerOptions = {
    maxHeaderSize: limits.maxHeaderBytes,
    headersTimeout: headersTimeoutMs(limits),
    requestTimeout: limits.clientTimeoutMs,
    // Node enforces both timeouts on this beat: a fraction of the limit, at most once a second.
    connectionsCheckingInterval: Math.min(1_000, Math.max(25, Math.floor(limits.clientTimeoutMs / 4))),
    ...(opts.requireHostHeader !== undefined ? { requireHostHeader: opts.requireHostHeader } : {}),
  };
  const serve = opts.refuseRebinding ? refusingRebinding(handler) : handler;
  // Over TLS the connection below is the TCP socket: the first byte a client owes is its hello.
  const server: Server = opts.tls
    ? createTlsServer({ ...options, cert: opts.tls.cert, key: opts.tls.key }, serve)
    : createServer(options, serve);
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  // A client that half-closes (shuts down its sending side once its request is whole) is still
  // reading: HTTP allows it. With node's default, the server ends the connection as it reads that
  // FIN, so the answer could never be written, yet the call went on to the vendor and was counted
  // (twelfth round). Now node writes the answers under way and ends the connection after the last;
  // a FIN with no call under way still ends it at once. A FIN cannot be told from a close, so the
  // proxy still drops every call of that connection not yet sent to a vendor (client-calls.ts).
  // `httpAllowHalfOpen` is node's own switch (lib/_http_server.js socketOnEnd), untyped in @types/node;
  // wire-endings.test.ts and client-calls.test.ts hold its effect.
  if (opts.allowHalfOpen) (server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
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
