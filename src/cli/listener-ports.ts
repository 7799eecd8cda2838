import { isIP } from 'node:net';
import type { ListenAddress } from '../listen.ts';
import { UsageError } from './args.ts';

/** One listener the flags ask for (read by proxy-options.ts before anything binds): the flag as typed, and the address. */
export interface AskedListener {
  /** `--listen 127.0.0.1:8080`, `--vendor-port stripe=8081`: quoted in the message. */
  readonly flag: string;
  readonly address: ListenAddress;
}

/** Addresses that bind every interface: a listener on one of them takes its port on every address. */
const WILDCARDS: ReadonlySet<string> = new Set(['0.0.0.0', '::', '']);

/**
 * Whether two hosts may name a common address. A wildcard overlaps everything; a name
 * (`localhost`) may resolve to any address, so it is taken to overlap too; two IP literals overlap
 * only when they are the same text (IPv6 spellings aside, a rarity a bind error still catches).
 */
function mayOverlap(a: string, b: string): boolean {
  if (a === b || WILDCARDS.has(a) || WILDCARDS.has(b)) return true;
  return isIP(a) === 0 || isIP(b) === 0;
}

/**
 * Refuses two listeners the flags put on one port of one address (`--listen :8080 --vendor-port
 * stripe=8080`), naming both flags: the process would bind the first and then fail on its own
 * second with EADDRINUSE, "address already in use", which reads as if another process held the port
 * (tenth round). Port 0 asks the OS for a free port each time, so it never clashes.
 */
export function refuseSharedPorts(listeners: readonly AskedListener[]): void {
  for (let i = 0; i < listeners.length; i++) {
    const later = listeners[i]!;
    if (later.address.port === 0) continue;
    const earlier = listeners
      .slice(0, i)
      .find((l) => l.address.port === later.address.port && mayOverlap(l.address.host, later.address.host));
    if (earlier === undefined) continue;
    throw new UsageError(
      `${later.flag}: the same port as ${earlier.flag}; give each listener a port of its own`,
    );
  }
}
