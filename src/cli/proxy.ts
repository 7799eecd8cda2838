import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { systemClock } from '../clock.ts';
import { followSnapshots } from '../distribution/follower.ts';
import { DURATION_SYNTAX } from '../duration.ts';
import { StoppedRuns } from '../proxy/runs.ts';
import { SnapshotHolder } from '../snapshot/holder.ts';
import { createLogger, type Log } from '../telemetry/logger.ts';
import { type Flags, parseFlags, UsageError } from './args.ts';
import { durationFlag } from './flag-values.ts';
import { logLevelFromEnv } from './log-level.ts';
import { readPemFlag } from './pem-file.ts';
import { PROXY_RUNTIME_FLAGS } from './proxy-flags.ts';
import { PROJECTED_TOKEN_PATH, SERVICE_ACCOUNT_TOKEN_PATH } from './service-account.ts';
import { untrustedOperatorLine } from './tls-trust.ts';

export const PROXY_SUMMARY =
  'Runs a proxy replica that follows the operator snapshot stream (Kubernetes). It is not ready, and\n' +
  'denies every call with policy_stale, until the first snapshot arrives; when the operator is out of\n' +
  'reach, or cannot vouch for its table, for longer than --max-staleness, every call but a read is\n' +
  'denied with policy_stale.';

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
    help: `deny every call but a read with policy_stale once the table is this old, counted from when the operator last knew it current (${DURATION_SYNTAX})`,
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
  log: Log = createLogger({ level: logLevelFromEnv() }),
): Promise<{ close(): Promise<void>; readonly failed: Promise<Error> }> {
  const { values } = parseFlags(argv, PROXY_FLAGS);
  const operator = parseOperatorUrl(values.operator as string | undefined, values['insecure-http'] === true);
  const maxStalenessMs = durationFlag('max-staleness', values['max-staleness'] as string);
  const tokenFile =
    (values['token-file'] as string | undefined) ??
    (existsSync(PROJECTED_TOKEN_PATH) ? PROJECTED_TOKEN_PATH : SERVICE_ACCOUNT_TOKEN_PATH);
  const caFile = values['operator-ca'] as string | undefined;
  const ca = caFile ? await readPemFlag('operator-ca', caFile, 'certificates') : undefined;
  const proxyId = (values['proxy-id'] as string | undefined) || process.env.HOSTNAME || hostname();
  const clock = systemClock;

  // The stream opens first, and the proxy's modules (fastify, the vendors' catalogs, Redis: about
  // 0.3 s) load while the operator reviews the token and writes the table, and while its first
  // lines arrive: a proxy that connected once loaded waited, idle, for the operator to write a
  // table text it did not hold (100 000 keys: over a second on a busy machine). Nothing is served
  // before the listeners bind below, and a table read meanwhile is in the holder they serve from.
  // The runtime flags are checked once the modules have loaded: a bad one closes the stream and is
  // reported (ADR 0017).
  const snapshots = new SnapshotHolder(clock);
  // The operator sends every live stop before the table (ADR 0010): the set that holds them is the
  // proxy's own, so they are in it whenever the table is, before any listener binds.
  const stoppedRuns = new StoppedRuns(clock);
  let answered = () => {};
  const firstAnswer = new Promise<void>((resolve) => {
    answered = resolve;
  });
  const follower = followSnapshots({
    url: operator.href,
    tokenFile,
    ...(ca !== undefined ? { ca } : {}),
    holder: snapshots,
    proxyId,
    log,
    maxStalenessMs,
    // Node's words for an untrusted certificate end "try running Node.js with --use-system-ca": a
    // user read them and never found --operator-ca (twelfth round). Named as `keybrake run` does.
    describeFailure: (err) => untrustedOperatorLine(err, caFile),
    // Runs the operator stopped (ADR 0010): refused here even without Redis pub/sub.
    onStoppedRuns: (runs) => {
      for (const run of runs) stoppedRuns.add(run);
    },
    onState: (state) => {
      if (state !== 'connecting') answered();
    },
  });
  // Loading the modules holds the event loop for most of its 0.3 s: the token's read and the
  // request would wait for it. So they go first, until the operator answers (its headers come
  // before it writes the table) or FIRST_ANSWER_WAIT_MS pass (an operator out of reach must not
  // hold the listeners back).
  await waitAtMost(firstAnswer, FIRST_ANSWER_WAIT_MS);
  const proxyModules = Promise.all([
    import('../proxy/runtime.ts'),
    import('../telemetry/tracing.ts'),
    import('./proxy-options.ts'),
    import('prom-client'),
  ]);

  let modules: Awaited<typeof proxyModules>;
  let config: Awaited<ReturnType<(typeof modules)[2]['proxyConfigFromFlags']>>;
  let store: Awaited<ReturnType<(typeof modules)[2]['counterStoreFromFlags']>>;
  try {
    modules = await proxyModules;
    config = await modules[2].proxyConfigFromFlags(values, { clock, log });
    store = await modules[2].counterStoreFromFlags(values, { clock, log });
  } catch (err) {
    await follower.close();
    throw err;
  }
  const [{ startProxy }, { startTracing }, , { Gauge }] = modules;
  const { counters, kind } = store;
  let stopTracing: Awaited<ReturnType<typeof startTracing>>;
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  try {
    stopTracing = await startTracing(process.env, log);
  } catch (err) {
    await follower.close();
    await counters.close();
    throw err;
  }
  try {
    proxy = await startProxy({ ...config, counters, maxStalenessMs, snapshots, stoppedRuns });
  } catch (err) {
    await follower.close();
    await counters.close();
    await stopTracing();
    throw err;
  }

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
    failed: proxy.failed,
    async close() {
      await follower.close();
      await proxy.close();
      await counters.close();
      await stopTracing();
    },
  };
}

/** How long a start waits for the operator to answer its stream before loading the proxy's modules. */
const FIRST_ANSWER_WAIT_MS = 250;

async function waitAtMost(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
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
