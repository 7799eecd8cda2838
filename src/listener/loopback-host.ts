import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP, isIPv6 } from 'node:net';

/**
 * DNS rebinding: a web page the agent's browser opens can make its own host name resolve to
 * 127.0.0.1, and then talks to a loopback listener as a same-origin page, reading `/metrics` (every
 * key and its spend) and the run API's answers. Such a request names the page's host in `Host`.
 * A connection that reached a loopback address therefore has only requests that name the listener
 * by an IP address or `localhost` answered, which no page can rebind, whatever address the listener
 * is bound to: one bound to 0.0.0.0 or :: is reached on 127.0.0.1 too (eighth round). So is a
 * connection from this machine to one of its own other addresses (a page rebinding its name to the
 * developer machine's LAN address, eighth round): its peer address is the address it reached. A
 * connection from another machine to a non-loopback address (a Pod's, scraped through a Service
 * name; a mesh sidecar forwards from 127.0.0.6) is left alone (ADR 0007 §9).
 */

/** 127.0.0.0/8 and ::1, IPv4-mapped too: the addresses only this machine reaches. */
export function isLoopbackAddress(address: string): boolean {
  const v4 = address.toLowerCase().startsWith('::ffff:') ? address.slice(7) : address;
  return address === '::1' || (isIP(v4) === 4 && v4.startsWith('127.'));
}

/**
 * Whether a `Host` value names the listener in a way no web page can rebind: an IPv4 address, an
 * IPv6 address in brackets or `localhost` (any case), each with an optional port; or no host at all
 * (HTTP/1.0 sends none, and an empty one names nothing).
 */
export function isUnrebindableHost(host: string | undefined): boolean {
  if (host === undefined || host === '') return true;
  const name = /^(\[[^\]]*\]|[^:[\]]*)(?::\d{1,5})?$/.exec(host)?.[1];
  if (name === undefined) return false;
  if (name.startsWith('[')) return isIPv6(name.slice(1, -1));
  return isIP(name) === 4 || name.toLowerCase() === 'localhost';
}

/** Whether a connection comes from this machine: it reached a loopback address, or its peer is itself. */
export function isFromThisMachine(local: string | undefined, remote: string | undefined): boolean {
  if (local === undefined) return false;
  return isLoopbackAddress(local) || (remote !== undefined && remote === local);
}

const REFUSAL = JSON.stringify({
  error: 'misdirected_request',
  message:
    'This listener answers requests from its own machine only when they are addressed to an IP address or localhost (as http://127.0.0.1:<port>), so that a web page cannot reach it through DNS rebinding.',
});

/**
 * `handler`, but a request from this machine naming another host is answered 421
 * Misdirected Request and its connection closed, before anything else reads it. Decided by the
 * connection's own local address, not the listener's bind: a listener bound to every address
 * answered a rebound name on 127.0.0.1 (eighth round).
 */
export function refusingRebinding(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    if (
      isFromThisMachine(req.socket.localAddress, req.socket.remoteAddress) &&
      !isUnrebindableHost(req.headers.host)
    ) {
      res.writeHead(421, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(REFUSAL),
        'cache-control': 'no-store',
        connection: 'close',
      });
      res.end(REFUSAL);
      return;
    }
    handler(req, res);
  };
}
