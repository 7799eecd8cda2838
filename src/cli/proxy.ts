import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { Gauge } from 'prom-client';
import { systemClock } from '../clock.ts';
import { followSnapshots } from '../distribution/follower.ts';
import { DURATION_SYNTAX } from '../duration.ts';
import { startProxy } from '../proxy/runtime.ts';
import { createLogger, type Log } from '../telemetry/logger.ts';
import { startTracing } from '../telemetry/tracing.ts';
import { type Flags, parseFlags, UsageError } from './args.ts';
import { durationFlag } from './flag-values.ts';
import { PROXY_RUNTIME_FLAGS } from './proxy-flags.ts';
import { counterStoreFromFlags, proxyConfigFromFlags } from './proxy-options.ts';
import { PROJECTED_TOKEN_PATH, SERVICE_ACCOUNT_TOKEN_PATH } from './service-account.ts';

export const PROXY_SUMMARY =
  'Runs a proxy replica that follows the operator snapshot stream (Kubernetes). It is not ready, and\n' +
  'denies every call with policy_stale, until the first snapshot arrives; when the operator is out of\n' +
  'reach for longer than --max-staleness, money-moving calls are denied with policy_stale.';

/** The projected, audience-bound token the chart mounts; the pod's default token is the fallback. */
export { PROJECTED_TOKEN_PATH, SERVICE_ACCOUNT_TOKEN_PATH };

export const PROXY_FLAGS = {
  operator: { type: 'string', help: "the operator's snapshot endpoint (https://…)", placeholder: 'url' },
  'token-file': {
    type: 'string',
    help: `ServiceAccount token presented to the operator, re-read on every connect (default: ${PROJECTED_TOKEN_PATH} if present, else ${SERVICE_ACCOUNT_TOKEN_PATH})`,
    placeholder: 'path',
  },
  'operator-ca': {
    type: 'string',
    help: "PEM CA bundle that signed the operator's certificate (default: system roots)",
    placeholder: 'file',
  },
  'insecure-http': {
    type: 'boolean',
    help: 'allow an http:// operator URL (snapshots carry upstream keys: tests only)',
  },
  'max-staleness': {
    type: 'string',
    default: '30s',
    help: `deny money-moving calls with policy_stale when the operator has been silent this long (${DURATION_SYNTAX})`,
    placeholder: 'duration',
  },
  'proxy-id': {
    type: 'string',
    help: 'name reported to the operator (default: $HOSTNAME)',
    placeholder: 'id',
  },
  ...PROXY_RUNTIME_FLAGS,
  help: { type: 'boolean', short: 'h', help: 'show this help' },
} as const satisfies Flags;

export async function proxyCommand(
  argv: readonly string[],
  log: Log = createLogger(),
): Promise<{ close(): Promise<void> }> {
  const { values } = parseFlags(argv, PROXY_FLAGS);
  const operator = parseOperatorUrl(values.operator as string | undefined, values['insecure-http'] === true);
  const maxStalenessMs = durationFlag('max-staleness', values['max-staleness'] as string);
  const tokenFile =
    (values['token-file'] as string | undefined) ??
    (existsSync(PROJECTED_TOKEN_PATH) ? PROJECTED_TOKEN_PATH : SERVICE_ACCOUNT_TOKEN_PATH);
  const caFile = values['operator-ca'] as string | undefined;
  const ca = caFile
    ? await readFile(caFile).catch(() => {
        throw new UsageError(`--operator-ca ${caFile}: cannot read the file`);
      })
    : undefined;
  const proxyId = (values['proxy-id'] as string | undefined) || process.env.HOSTNAME || hostname();
  const clock = systemClock;
  const config = await proxyConfigFromFlags(values, { clock, log });

  const { counters, kind } = await counterStoreFromFlags(values, { clock, log });
  const stopTracing = await startTracing(process.env);
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  try {
    proxy = await startProxy({ ...config, counters, maxStalenessMs });
  } catch (err) {
    await counters.close();
    await stopTracing();
    throw err;
  }
  const follower = followSnapshots({
    url: operator.href,
    tokenFile,
    ...(ca !== undefined ? { ca } : {}),
    holder: proxy.snapshots,
    proxyId,
    log,
    maxStalenessMs,
    // Runs the operator stopped (ADR 0010): refused here even without Redis pub/sub.
    onStoppedRuns: (runs) => {
      for (const run of runs) proxy.stoppedRuns.add(run);
    },
  });

  new Gauge({
    name: 'keybrake_snapshot_out_of_step',
    help: 'Whether the snapshot in force has a higher version than the leader serves (1): heartbeats no longer keep it fresh, so it turns policy_stale after --max-staleness; see docs/kubernetes.md.',
    registers: [proxy.metrics.registry],
    collect() {
      this.set(follower.outOfStep ? 1 : 0);
    },
  });
  log.info(
    { urls: proxy.urls, counters: kind, operator: operator.origin, proxyId, maxStalenessMs },
    'listening',
  );
  return {
    async close() {
      await follower.close();
      await proxy.close();
      await counters.close();
      await stopTracing();
    },
  };
}

function parseOperatorUrl(text: string | undefined, insecureHttp: boolean): URL {
  if (!text) throw new UsageError('--operator is required (the operator URL, https://…)');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--operator ${text}: not a URL`);
  }
  if (url.protocol === 'http:' && !insecureHttp)
    throw new UsageError(
      `--operator ${url.origin}: snapshots carry upstream credentials, use https (or --insecure-http in tests)`,
    );
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new UsageError(`--operator ${url.origin}: expected an https URL`);
  if (url.username || url.password) throw new UsageError('--operator must not carry credentials');
  return url;
}
