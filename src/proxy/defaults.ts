import type { ParseLimits } from '../vendors/types.ts';

/**
 * The proxy's defaults that its command-line flags show in their help. A leaf: `serve` reads its
 * flags, and starts its compile thread, before it loads the proxy (fastify, undici, the vendors'
 * catalogs), which then loads while the thread reads the manifests.
 */

export const DEFAULT_PARSE_LIMITS: ParseLimits = { maxBytes: 256 * 1024, maxDepth: 8, maxParams: 1000 };

/** Largest vendor response relayed (--max-response-body). */
export const DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

/**
 * Bytes of vendor answers the proxy may hold for clients that have not taken them before a key
 * holding an equal share of them is refused (--max-held-answers; held-answers.ts). Well under the
 * chart's 512 Mi memory limit, and four whole answers of --max-response-body.
 */
export const DEFAULT_MAX_HELD_ANSWER_BYTES = 64 * 1024 * 1024;
