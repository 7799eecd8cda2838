import type { ParseLimits } from '../vendors/types.ts';

/**
 * The proxy's defaults that its command-line flags show in their help. A leaf: `serve` reads its
 * flags, and starts its compile thread, before it loads the proxy (fastify, undici, the vendors'
 * catalogs), which then loads while the thread reads the manifests.
 */

export const DEFAULT_PARSE_LIMITS: ParseLimits = { maxBytes: 256 * 1024, maxDepth: 8, maxParams: 1000 };

/** Largest vendor response relayed (--max-response-body). */
export const DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

/** Open client connections per listener (--max-connections). */
export const DEFAULT_MAX_CONNECTIONS = 4096;

/** Most open connections one client address may hold per listener, by default (--max-connections-per-source). */
export const DEFAULT_MAX_CONNECTIONS_PER_SOURCE = 256;

/**
 * The default share of one client address: 256, or a quarter of --max-connections when that is
 * smaller, so that at least three others always find room.
 */
export function defaultConnectionsPerSource(maxConnections: number): number {
  return Math.max(1, Math.min(DEFAULT_MAX_CONNECTIONS_PER_SOURCE, Math.floor(maxConnections / 4)));
}
