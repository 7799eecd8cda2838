import type { Clock } from '../clock.ts';
import { MemoryCounterStore } from '../counters/memory-store.ts';
import { createRedisCounterStore } from '../counters/redis-store.ts';
import type { CounterStore } from '../counters/store.ts';
import { type ListenAddress, parseListen } from '../listen.ts';
import { DEFAULT_PARSE_LIMITS } from '../proxy/defaults.ts';
import type { ProxyConfig } from '../proxy/runtime.ts';
import { parseUpstreams } from '../proxy/upstreams.ts';
import { VENDORS, type VendorName } from '../snapshot/types.ts';
import { stdoutAuditSink } from '../telemetry/audit.ts';
import { isNullDevice } from '../telemetry/fd-stream.ts';
import type { Log } from '../telemetry/logger.ts';
import { reportCounterStore } from '../telemetry/metrics.ts';
import { createVendors } from '../vendors/registry.ts';
import { UsageError } from './args.ts';
import { durationFlag, listenFlag, onePerVendor, positiveInt } from './flag-values.ts';
import { refuseSharedPorts } from './listener-ports.ts';
import { loadPricingFile, pricingValueError } from './pricing-file.ts';

type Values = Record<string, string | string[] | boolean | undefined>;

/** Listener addresses for `--vendor-port stripe=8081` (a bare port binds the --listen host). */
export function parseVendorPorts(pairs: readonly string[], defaultHost: string) {
  const out: Partial<Record<VendorName, { host: string; port: number }>> = {};
  for (const pair of pairs) {
    const [vendor, addr] = pair.split('=', 2) as [VendorName, string | undefined];
    const expected = `--vendor-port ${pair}: expected <stripe|twilio|resend>=<port or host:port> (port 0-65535)`;
    if (!VENDORS.includes(vendor) || !addr) throw new UsageError(expected);
    let parsed: ListenAddress;
    try {
      parsed = parseListen(addr);
    } catch {
      // A bad address is a usage error (exit 2) like every other bad flag (fifth round: it exited 1).
      throw new UsageError(expected);
    }
    out[vendor] = addr.includes(':') ? parsed : { host: defaultHost, port: parsed.port };
  }
  return out;
}

/** The proxy's configuration from PROXY_RUNTIME_FLAGS values, minus the counter store (built apart). */
export async function proxyConfigFromFlags(
  values: Values,
  deps: { clock: Clock; log: Log },
): Promise<Omit<ProxyConfig, 'counters'>> {
  const listen = listenFlag('listen', values.listen as string);
  onePerVendor('vendor-port', values['vendor-port'] as string[]);
  const vendorPorts = parseVendorPorts(values['vendor-port'] as string[], listen.host);
  const upstreamPairs = (values.upstream as string[] | undefined) ?? [];
  onePerVendor('upstream', upstreamPairs);
  let upstreams: ProxyConfig['upstreams'];
  try {
    upstreams = parseUpstreams(upstreamPairs);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const admin = listenFlag('admin-listen', values['admin-listen'] as string);
  refuseSharedPorts([
    { flag: `--listen ${values.listen as string}`, address: listen },
    ...((values['vendor-port'] as string[] | undefined) ?? []).map((pair) => ({
      flag: `--vendor-port ${pair}`,
      address: vendorPorts[pair.split('=', 1)[0] as VendorName]!,
    })),
    { flag: `--admin-listen ${values['admin-listen'] as string}`, address: admin },
  ]);
  const pricing = await loadPricingFile(values.pricing as string | undefined);
  let vendors: ProxyConfig['vendors'];
  try {
    vendors = createVendors(pricing);
  } catch (err) {
    throw pricingValueError(values.pricing as string | undefined, err);
  }
  const config: Omit<ProxyConfig, 'counters'> = {
    listen,
    vendorPorts,
    admin,
    upstreams,
    upstreamTimeoutMs: durationFlag('upstream-timeout', values['upstream-timeout'] as string),
    // 0, unlike other durations, turns the backoff off.
    leaseBackoffMs: durationFlag(
      'lease-backoff',
      values['lease-backoff'] as string,
      '250ms, or 0 to turn it off',
      { allowZero: true },
    ),
    vendors,
    clock: deps.clock,
    audit: stdoutAuditSink({
      maxBatchBytes: positiveInt('audit-batch-bytes', values['audit-batch-bytes'] as string),
      maxDelayMs: durationFlag('audit-flush-interval', values['audit-flush-interval'] as string),
    }),
    log: deps.log,
    parseLimits: { ...DEFAULT_PARSE_LIMITS, maxBytes: positiveInt('max-body', values['max-body'] as string) },
    maxResponseBytes: positiveInt('max-response-body', values['max-response-body'] as string),
    maxHeldAnswerBytes: positiveInt('max-held-answers', values['max-held-answers'] as string),
    clientTimeoutMs: durationFlag('client-timeout', values['client-timeout'] as string),
    ...connectionLimits(values),
    drainTimeoutMs: durationFlag('drain-timeout', values['drain-timeout'] as string),
  };
  // Said, not refused: benchmarks and tests run serve with stdout ignored. A stdout closed before
  // start-up is /dev/null too (Node opens it there), and every record written to it is lost with no
  // error, so none of the audit stream's failure handling ever acts (sixteenth round). Not on
  // /readyz: readiness is about serving calls, which this proxy does.
  if (isNullDevice(1)) deps.log.warn('audit records are discarded: stdout is /dev/null');
  return config;
}

/**
 * --max-connections, and --max-connections-per-source when given: at most the former, as its help
 * says. 5000 with 4096 was taken silently, and meant 4096 (seventh round).
 */
function connectionLimits(values: Values): { maxConnections: number; maxConnectionsPerSource?: number } {
  const maxConnections = positiveInt('max-connections', values['max-connections'] as string);
  const perSourceText = values['max-connections-per-source'] as string | undefined;
  if (perSourceText === undefined) return { maxConnections };
  const maxConnectionsPerSource = positiveInt('max-connections-per-source', perSourceText);
  if (maxConnectionsPerSource > maxConnections)
    throw new UsageError(
      `--max-connections-per-source ${perSourceText}: must be at most --max-connections (${maxConnections}), which bounds every source together; raise that too`,
    );
  return { maxConnections, maxConnectionsPerSource };
}

/** `--redis` → the shared store (connecting in the background), otherwise per-process memory. */
export async function counterStoreFromFlags(
  values: Values,
  deps: { clock: Clock; log: Log },
): Promise<{ counters: CounterStore; kind: 'redis' | 'memory' }> {
  const redisUrl = values.redis as string | undefined;
  // Both checked whichever store is used: a typo in the flag that does not apply today would
  // otherwise surface only when --redis is added or removed, in production.
  const maxEntries = positiveInt('max-counter-entries', values['max-counter-entries'] as string);
  const timeoutMs = durationFlag('redis-timeout', values['redis-timeout'] as string);
  if (!redisUrl) {
    const store = new MemoryCounterStore({ clock: deps.clock, maxEntries });
    reportCounterStore(store); // keybrake_counter_store_entries on the proxy's /metrics
    return { counters: store, kind: 'memory' };
  }
  const store = createRedisCounterStore(redisUrl, { timeoutMs, log: deps.log });
  if (!(await store.waitUntilReady(5_000))) {
    deps.log.warn(
      { redis: store.description },
      'Redis is not reachable yet: money-moving calls fail closed until it is',
    );
  }
  return { counters: store, kind: 'redis' };
}
