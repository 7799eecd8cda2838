import { Pool, errors as undiciErrors } from 'undici';
import { type Denial, deny } from '../decision/reasons.ts';
import type { VendorName } from '../snapshot/types.ts';

/**
 * Upstream base URLs are proxy configuration (`--upstream stripe=https://api.stripe.com`), never
 * tenant data. Twilio's template holds `{sub}` for its sub hosts (`https://{sub}.twilio.com`); the
 * route stage only lets `[a-z0-9-]` through, so no manifest or caller can steer traffic elsewhere.
 */
export type UpstreamConfig = Record<VendorName, string>;

export const DEFAULT_UPSTREAMS: UpstreamConfig = {
  stripe: 'https://api.stripe.com',
  twilio: 'https://{sub}.twilio.com',
  resend: 'https://api.resend.com',
};

/** Parses `vendor=url` pairs over the defaults; throws a readable error on bad input. */
export function parseUpstreams(
  pairs: readonly string[],
  base: UpstreamConfig = DEFAULT_UPSTREAMS,
): UpstreamConfig {
  const out = { ...base };
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const vendor = pair.slice(0, eq) as VendorName;
    const url = pair.slice(eq + 1);
    if (eq < 1 || !(vendor in out))
      throw new Error(`--upstream ${pair}: expected <stripe|twilio|resend>=<url>`);
    const probe = new URL(url.replace('{sub}', 'api'));
    if (probe.protocol !== 'https:' && probe.protocol !== 'http:') {
      throw new Error(`--upstream ${pair}: only http and https upstreams are supported`);
    }
    out[vendor] = url.replace(/\/+$/, '');
  }
  return out;
}

/** One upstream response, head and body, as the settle and audit stages need it. */
export interface UpstreamResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
}

export interface ForwardRequest {
  readonly vendor: VendorName;
  readonly subHost?: string;
  readonly method: string;
  /** Vendor path plus `?query` when present. */
  readonly pathAndQuery: string;
  readonly headers: Record<string, string | string[]>;
  readonly body?: Buffer;
}

/** The forward stage's dependency: swap this for an emulator-free fake only in unit tests. */
export interface Upstreams {
  forward(req: ForwardRequest): Promise<UpstreamResponse | Denial>;
  close(): Promise<void>;
}

/** undici pools, one per upstream origin, created on first use. */
export function createUpstreams(
  config: UpstreamConfig,
  opts: { timeoutMs: number; connections?: number },
): Upstreams {
  const pools = new Map<string, Pool>();
  const poolFor = (origin: string) => {
    let pool = pools.get(origin);
    if (!pool) {
      pool = new Pool(origin, {
        connections: opts.connections ?? 128,
        headersTimeout: opts.timeoutMs,
        bodyTimeout: opts.timeoutMs,
        keepAliveTimeout: 30_000,
      });
      pools.set(origin, pool);
    }
    return pool;
  };
  // Base URLs are parsed once per vendor and sub host, not on every call. Sub hosts come from the
  // caller's path, so the cache is bounded; past the bound a target is parsed per call.
  const MAX_TARGETS = 64;
  const targets = new Map<string, { origin: string; host: string; path: string }>();
  const targetFor = (vendor: VendorName, sub: string) => {
    const id = `${vendor} ${sub}`;
    let target = targets.get(id);
    if (!target) {
      const url = new URL(config[vendor].replace('{sub}', sub));
      target = { origin: url.origin, host: url.host, path: url.pathname.replace(/\/+$/, '') };
      if (targets.size < MAX_TARGETS) targets.set(id, target);
    }
    return target;
  };
  return {
    async forward(req) {
      const base = targetFor(req.vendor, req.subHost ?? 'api');
      try {
        const res = await poolFor(base.origin).request({
          method: req.method as 'GET',
          path: base.path + req.pathAndQuery,
          headers: { ...req.headers, host: base.host },
          body: req.body && req.body.length > 0 ? req.body : null,
        });
        const body = Buffer.from(await res.body.arrayBuffer());
        return { status: res.statusCode, headers: res.headers, body };
      } catch (err) {
        if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) {
          return deny(
            'upstream_timeout',
            `The ${req.vendor} API did not answer within ${opts.timeoutMs} ms.`,
          );
        }
        return deny('upstream_unavailable', `The ${req.vendor} API could not be reached.`);
      }
    },
    async close() {
      await Promise.all([...pools.values()].map((p) => p.close()));
    },
  };
}

/** Hop-by-hop headers (RFC 9110 §7.6.1) and ours: never forwarded upstream. */
const DROPPED = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'authorization',
  'content-length',
  'keybrake-run-id',
  'expect',
  'http2-settings',
  // Settle reads the vendor's JSON: ask for it uncompressed.
  'accept-encoding',
]);

/** The caller's headers as the vendor should see them, with the real credential swapped in. */
export function upstreamHeaders(
  incoming: Record<string, string | string[] | undefined>,
  authorization: string,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  const connectionListed = new Set(
    String(incoming.connection ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || DROPPED.has(name) || connectionListed.has(name)) continue;
    out[name] = value;
  }
  out.authorization = authorization;
  return out;
}

/** Response headers we pass back: the vendor's, minus hop-by-hop ones and framing we recompute. */
export function downstreamHeaders(
  headers: Record<string, string | string[] | undefined>,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || DROPPED.has(name)) continue;
    out[name] = value;
  }
  return out;
}
