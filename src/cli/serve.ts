import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { systemClock } from '../clock.ts';
import { MemoryCounterStore } from '../counters/memory-store.ts';
import { createRedisCounterStore } from '../counters/redis-store.ts';
import type { CounterStore } from '../counters/store.ts';
import { DEFAULT_PARSE_LIMITS, startProxy } from '../proxy/runtime.ts';
import { parseListen } from '../proxy/server.ts';
import { parseUpstreams } from '../proxy/upstreams.ts';
import { VENDORS, type VendorName } from '../snapshot/types.ts';
import { createFileSource, ManifestError } from '../sources/file/source.ts';
import { stdoutAuditSink } from '../telemetry/audit.ts';
import { createLogger, type Log } from '../telemetry/logger.ts';
import { startTracing } from '../telemetry/tracing.ts';
import { createVendors, type PricingOverrides } from '../vendors/registry.ts';
import { type Flags, parseFlags, UsageError } from './args.ts';

export const SERVE_SUMMARY =
  'Runs the Keybrake proxy from SpendPolicy, VaultKey and Secret manifests (the same YAML you would\n' +
  'kubectl apply). Edits to the files take effect without a restart; an invalid edit keeps the last\n' +
  'good policy. Audit records go to stdout, one JSON line per call; logs go to stderr.';

export const SERVE_FLAGS = {
  manifests: { type: 'string', multiple: true, help: 'manifest file or directory', placeholder: 'path' },
  listen: {
    type: 'string',
    default: '127.0.0.1:8080',
    help: 'proxy listener, routes /stripe /twilio /resend',
    placeholder: 'host:port',
  },
  'vendor-port': {
    type: 'string',
    multiple: true,
    default: ['stripe=8081', 'twilio=8082', 'resend=8083'],
    help: "a vendor's own listener (port or host:port)",
    placeholder: 'vendor=port',
  },
  'admin-listen': {
    type: 'string',
    default: '127.0.0.1:9090',
    help: '/metrics, /healthz, /readyz',
    placeholder: 'host:port',
  },
  upstream: {
    type: 'string',
    multiple: true,
    help: "a vendor's API base URL (Twilio: https://{sub}.twilio.com)",
    placeholder: 'vendor=url',
  },
  redis: {
    type: 'string',
    help: 'share counters through Redis (redis://, rediss://, redis+sentinel://, redis+cluster://)',
    placeholder: 'url',
  },
  'redis-timeout': {
    type: 'string',
    default: '50',
    help: 'ms before a counter operation fails closed',
    placeholder: 'ms',
  },
  'upstream-timeout': {
    type: 'string',
    default: '30000',
    help: 'ms to wait for a vendor response',
    placeholder: 'ms',
  },
  'max-body': {
    type: 'string',
    default: String(DEFAULT_PARSE_LIMITS.maxBytes),
    help: 'largest request body accepted',
    placeholder: 'bytes',
  },
  pricing: {
    type: 'string',
    help: 'YAML/JSON overrides: exchangeRates, twilio, resend prices',
    placeholder: 'file',
  },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
} as const satisfies Flags;

/** Listener addresses for `--vendor-port stripe=8081` (a bare port binds the --listen host). */
export function parseVendorPorts(pairs: readonly string[], defaultHost: string) {
  const out: Partial<Record<VendorName, { host: string; port: number }>> = {};
  for (const pair of pairs) {
    const [vendor, addr] = pair.split('=', 2) as [VendorName, string | undefined];
    if (!VENDORS.includes(vendor) || !addr)
      throw new UsageError(`--vendor-port ${pair}: expected <stripe|twilio|resend>=<port>`);
    const parsed = parseListen(addr);
    out[vendor] = addr.includes(':') ? parsed : { host: defaultHost, port: parsed.port };
  }
  return out;
}

function positiveInt(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new UsageError(`--${flag} ${text}: expected a positive whole number`);
  return n;
}

async function loadPricing(file: string | undefined): Promise<PricingOverrides> {
  if (!file) return {};
  const parsed: unknown = parseYaml(await readFile(file, 'utf8'));
  if (typeof parsed !== 'object' || parsed === null)
    throw new UsageError(`--pricing ${file}: expected a mapping`);
  return parsed as PricingOverrides;
}

export async function serve(
  argv: readonly string[],
  log: Log = createLogger(),
): Promise<{ close(): Promise<void> }> {
  const { values } = parseFlags(argv, SERVE_FLAGS);
  const manifests = (values.manifests as string[] | undefined) ?? [];
  if (manifests.length === 0)
    throw new UsageError('--manifests is required (a file or directory of YAML manifests)');
  const listen = parseListen(values.listen as string);
  const vendorPorts = parseVendorPorts(values['vendor-port'] as string[], listen.host);
  const upstreams = (() => {
    try {
      return parseUpstreams((values.upstream as string[] | undefined) ?? []);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  })();
  const pricing = await loadPricing(values.pricing as string | undefined);
  const clock = systemClock;

  const source = createFileSource(manifests, { clock, log });
  let first: Awaited<ReturnType<typeof source.start>>;
  try {
    first = await source.start();
  } catch (err) {
    if (err instanceof ManifestError) throw new UsageError(`invalid manifests:\n  ${err.lines.join('\n  ')}`);
    throw err;
  }

  const redisUrl = values.redis as string | undefined;
  let counters: CounterStore;
  if (redisUrl) {
    const store = createRedisCounterStore(redisUrl, {
      timeoutMs: positiveInt('redis-timeout', values['redis-timeout'] as string),
      log,
    });
    if (!(await store.waitUntilReady(5_000))) {
      log.warn(
        { redis: store.description },
        'Redis is not reachable yet: money-moving calls fail closed until it is',
      );
    }
    counters = store;
  } else {
    counters = new MemoryCounterStore({ clock });
  }

  const stopTracing = await startTracing(process.env);
  const proxy = await startProxy({
    listen,
    vendorPorts,
    admin: parseListen(values['admin-listen'] as string),
    upstreams,
    upstreamTimeoutMs: positiveInt('upstream-timeout', values['upstream-timeout'] as string),
    vendors: createVendors(pricing),
    counters,
    clock,
    audit: stdoutAuditSink(),
    log,
    parseLimits: { ...DEFAULT_PARSE_LIMITS, maxBytes: positiveInt('max-body', values['max-body'] as string) },
  });

  const report = (u: typeof first) => {
    for (const s of u.statuses) {
      const ready = s.conditions.find((c) => c.type === 'Ready');
      if (ready && ready.status !== 'True') {
        log.warn(
          { kind: s.kind, object: `${s.namespace}/${s.name}`, reason: ready.reason, message: ready.message },
          'not ready',
        );
      }
    }
  };
  proxy.snapshots.apply(first.snapshot);
  report(first);
  source.onUpdate((u) => {
    if (!u.applied) return;
    proxy.snapshots.apply(u.snapshot);
    log.info({ version: u.snapshot.version, keys: u.snapshot.keys.size }, 'policy reloaded');
    report(u);
  });

  log.info(
    {
      urls: proxy.urls,
      keys: first.snapshot.keys.size,
      counters: redisUrl ? 'redis' : 'memory',
      version: first.snapshot.version,
    },
    'listening',
  );
  return {
    async close() {
      source.close();
      await proxy.close();
      await counters.close();
      await stopTracing();
    },
  };
}
