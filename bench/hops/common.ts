// What the bare hops share with Keybrake's forwarding (src/proxy/upstreams.ts), so that the only
// difference the benchmark sees is the pipeline.
import type { Pool } from 'undici';

/** The credential a hop puts in place of the caller's, as Keybrake swaps in the upstream key. */
export const HOP_AUTHORIZATION = 'Bearer sk_test_bench_upstream_not_a_real_key';

/** createUpstreams' pool settings with its default timeouts (30 s) and response limit (16 MiB). */
export const HOP_POOL_OPTIONS: Pool.Options = {
  connections: 128,
  headersTimeout: 30_000,
  bodyTimeout: 30_000,
  keepAliveTimeout: 30_000,
  maxResponseSize: 16 * 1024 * 1024,
};
