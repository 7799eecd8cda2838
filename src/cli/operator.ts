import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import { createSecureContext } from 'node:tls';
import { KubeConfig } from '@kubernetes/client-node';
import { systemClock } from '../clock.ts';
import { createRedisCounterStore } from '../counters/redis-store.ts';
import { type CounterStore, isRunStopStore } from '../counters/store.ts';
import {
  cachedAccessReview,
  createCallerReview,
  kubernetesAccessReview,
} from '../distribution/access-review.ts';
import { DEFAULT_AUDIENCE, DEFAULT_HEARTBEAT_MS } from '../distribution/protocol.ts';
import { ReviewBudget } from '../distribution/review-budget.ts';
import { createSnapshotServer, operatorListenerLimits } from '../distribution/server.ts';
import { createTokenReviewAuthenticator, kubernetesTokenReview } from '../distribution/token-review.ts';
import { DURATION_SYNTAX } from '../duration.ts';
import { listenUrl } from '../listen.ts';
import { createOperatorAdmin } from '../operator/admin.ts';
import { kubernetesEventSink } from '../operator/events.ts';
import { informerProblems, registerInformerLag } from '../operator/informer-health.ts';
import { checkLeaseTimings, createLeaderElector, kubernetesLeaseStore } from '../operator/leader-election.ts';
import {
  createLeaderLabel,
  kubernetesPodLabelPatcher,
  LEADER_LABEL,
  type LeaderLabel,
  resolvePodRef,
} from '../operator/leader-label.ts';
import { createOperatorRegistry } from '../operator/metrics.ts';
import { CLAIM_LEASE_NAME, createNamespaceClaims } from '../operator/namespace-claims.ts';
import {
  createNamespaceLedgers,
  NAMESPACE_LEDGER_MAX_SHARDS,
  NAMESPACE_LEDGER_NAME,
} from '../operator/namespace-ledger.ts';
import { createOperator } from '../operator/operator.ts';
import {
  configMapRevocationStore,
  createRevocationLedger,
  kubernetesConfigMapApi,
} from '../operator/revocations.ts';
import { createOperatorRunsApi } from '../operator/runs-api.ts';
import { kubernetesStatusApplier } from '../operator/status.ts';
import { kubernetesSecretStore } from '../operator/tokens.ts';
import { vouchedCurrentAt } from '../operator/vouch.ts';
import { poolConnections } from '../sources/kubernetes/connection-pool.ts';
import { SECRET_SELECTOR } from '../sources/kubernetes/labels.ts';
import { createKubernetesSource, kubernetesApi } from '../sources/kubernetes/source.ts';
import { createLogger, type Log } from '../telemetry/logger.ts';
import { RUNS_PATH } from '../tokens/run-api.ts';
import { type Flags, parseFlags, UsageError } from './args.ts';
import { durationFlag, listenFlag, proxyServiceAccounts } from './flag-values.ts';
import { refuseSharedPorts } from './listener-ports.ts';
import { logLevelFromEnv } from './log-level.ts';
import { readPemFlag } from './pem-file.ts';

export const OPERATOR_SUMMARY =
  'Reconciles VaultKey and SpendPolicy resources into policy snapshots and streams them to `keybrake\n' +
  'proxy` replicas. Mints vault tokens into Secrets, writes status and Events. Several replicas elect\n' +
  `a leader through a Lease; only the leader writes and serves. Secrets are read only when labelled\n` +
  `${SECRET_SELECTOR}. Logs go to stderr as JSON.`;

export const OPERATOR_FLAGS = {
  kubeconfig: {
    type: 'string',
    help: 'kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster)',
    placeholder: 'path',
  },
  namespace: {
    type: 'string',
    multiple: true,
    help: 'namespace to watch (default: all namespaces)',
    placeholder: 'ns',
  },
  listen: {
    type: 'string',
    default: '0.0.0.0:8443',
    help: 'snapshot stream listener for proxies',
    placeholder: 'host:port',
  },
  'tls-cert': {
    type: 'string',
    help: 'PEM serving certificate of the snapshot listener',
    placeholder: 'file',
  },
  'tls-key': { type: 'string', help: 'PEM private key of the snapshot listener', placeholder: 'file' },
  'insecure-http': {
    type: 'boolean',
    help: 'serve snapshots (which carry upstream credentials) over plain HTTP: local tests only',
  },
  'admin-listen': {
    type: 'string',
    default: '0.0.0.0:9091',
    help: '/metrics, /healthz, /readyz (200 = leader; /readyz?standby=ok: 200 on a healthy standby too)',
    placeholder: 'host:port',
  },
  redis: {
    type: 'string',
    help: 'counter store to read spent-today and last use from (same URL as the proxies)',
    placeholder: 'url',
  },
  'lease-name': {
    type: 'string',
    default: 'keybrake-operator',
    help: 'leader election Lease',
    placeholder: 'name',
  },
  'lease-namespace': {
    type: 'string',
    help: "the Lease's namespace (default: the pod's namespace, else keybrake-system)",
    placeholder: 'ns',
  },
  'claim-holder': {
    type: 'string',
    help: "this release's name in the namespace claims it holds, <namespace>/<name> (default: <lease-namespace>/<lease-name>; the chart passes the operator's name, so a new operator.leaseName keeps them)",
    placeholder: 'ns/name',
  },
  'revocations-configmap': {
    type: 'string',
    help: "ConfigMap (in the Lease's namespace) recording revoked tokens, never served again (default: <lease-name>-revocations)",
    placeholder: 'name',
  },
  identity: {
    type: 'string',
    help: 'leader election identity (default: <hostname>-<pid>)',
    placeholder: 'id',
  },
  'lease-duration': {
    type: 'string',
    default: '15s',
    help: `how long a standby waits before taking over (${DURATION_SYNTAX})`,
    placeholder: 'duration',
  },
  'renew-deadline': {
    type: 'string',
    default: '10s',
    help: `a leader that cannot renew for this long steps down (${DURATION_SYNTAX})`,
    placeholder: 'duration',
  },
  'retry-period': {
    type: 'string',
    default: '2s',
    help: `interval between Lease attempts (${DURATION_SYNTAX})`,
    placeholder: 'duration',
  },
  'proxy-max-staleness': {
    type: 'string',
    default: '30s',
    help: `the proxies' --max-staleness: another release takes a namespace this release stopped claiming only after the lease duration plus this (${DURATION_SYNTAX})`,
    placeholder: 'duration',
  },
  'pod-name': {
    type: 'string',
    help: `own Pod, labelled ${LEADER_LABEL}=true while leading (default: $POD_NAME; unset: no label)`,
    placeholder: 'name',
  },
  'pod-namespace': {
    type: 'string',
    help: "own Pod's namespace (default: $POD_NAMESPACE, else the Lease's)",
    placeholder: 'ns',
  },
  'token-audience': {
    type: 'string',
    default: DEFAULT_AUDIENCE,
    help: 'audience proxy ServiceAccount tokens must be bound to',
    placeholder: 'aud',
  },
  'proxy-service-account': {
    type: 'string',
    multiple: true,
    help: "required: the proxies' ServiceAccount; the snapshot stream (it carries upstream keys) admits no other",
    placeholder: 'ns/name',
  },
  heartbeat: {
    type: 'string',
    default: `${DEFAULT_HEARTBEAT_MS / 1000}s`,
    help: `keep-alive interval on snapshot streams (${DURATION_SYNTAX})`,
    placeholder: 'duration',
  },
  'status-interval': {
    type: 'string',
    default: '10s',
    help: `how often spent-today, last use and expiry are refreshed into status (${DURATION_SYNTAX})`,
    placeholder: 'duration',
  },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
} as const satisfies Flags;

const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** A positive duration flag in milliseconds (src/duration.ts: one rule for every duration). */
function duration(flag: string, text: string): number {
  return durationFlag(flag, text, '15s or 500ms');
}

function defaultLeaseNamespace(): string {
  if (existsSync(SERVICE_ACCOUNT_NAMESPACE)) {
    const ns = readFileSync(SERVICE_ACCOUNT_NAMESPACE, 'utf8').trim();
    if (ns) return ns;
  }
  return process.env.POD_NAMESPACE || 'keybrake-system';
}

function loadKubeConfig(path: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (path) kc.loadFromFile(path);
    else kc.loadFromDefault();
  } catch (err) {
    throw new UsageError(`cannot load the kubeconfig${path ? ` ${path}` : ''}: ${(err as Error).message}`);
  }
  if (!kc.getCurrentCluster()) throw new UsageError('no Kubernetes cluster configured (use --kubeconfig)');
  return poolConnections(kc);
}

/**
 * --tls-cert and --tls-key, each a PEM file of its kind (pem-file.ts) and the two a pair, checked
 * before anything starts: a missing file was a bare ENOENT, exit 1 (tenth round), and a key of
 * another certificate failed only when the listener was built.
 */
async function servingFiles(certFile: string, keyFile: string): Promise<{ cert: Buffer; key: Buffer }> {
  const cert = await readPemFlag('tls-cert', certFile, 'certificates');
  const key = await readPemFlag('tls-key', keyFile, 'private key');
  try {
    createSecureContext({ cert, key });
  } catch {
    throw new UsageError(`--tls-key ${keyFile}: not the private key of --tls-cert ${certFile}`);
  }
  return { cert, key };
}

/**
 * `keybrake operator`: informers → compile → snapshot stream, plus tokens, status and Events on
 * the leader. Returns once both listeners are up (logged as `listening`); the informers and the
 * election start in the background and never crash the process on bad resources or API errors.
 */
export async function operatorCommand(
  argv: readonly string[],
  log: Log = createLogger({ level: logLevelFromEnv() }),
): Promise<{ close(): Promise<void> }> {
  const { values } = parseFlags(argv, OPERATOR_FLAGS);
  const listen = listenFlag('listen', values.listen as string);
  const adminListen = listenFlag('admin-listen', values['admin-listen'] as string);
  refuseSharedPorts([
    { flag: `--listen ${values.listen as string}`, address: listen },
    { flag: `--admin-listen ${values['admin-listen'] as string}`, address: adminListen },
  ]);
  const insecure = values['insecure-http'] === true;
  const certFile = values['tls-cert'] as string | undefined;
  const keyFile = values['tls-key'] as string | undefined;
  if (!insecure && (!certFile || !keyFile))
    throw new UsageError(
      '--tls-cert and --tls-key are required (snapshots carry upstream credentials); --insecure-http for local tests',
    );
  if (insecure && (certFile || keyFile))
    throw new UsageError('--insecure-http and --tls-cert/--tls-key are exclusive');
  const allowedServiceAccounts = proxyServiceAccounts(
    values['proxy-service-account'] as string[] | undefined,
  );
  const timings = {
    leaseDurationMs: duration('lease-duration', values['lease-duration'] as string),
    renewDeadlineMs: duration('renew-deadline', values['renew-deadline'] as string),
    retryPeriodMs: duration('retry-period', values['retry-period'] as string),
  };
  const proxyMaxStalenessMs = duration('proxy-max-staleness', values['proxy-max-staleness'] as string);
  const timingProblem = checkLeaseTimings(timings);
  if (timingProblem) throw new UsageError(`leader election: ${timingProblem}`);
  const heartbeatMs = duration('heartbeat', values.heartbeat as string);
  const statusIntervalMs = duration('status-interval', values['status-interval'] as string);
  const namespaces = (values.namespace as string[] | undefined) ?? [];
  const identity = (values.identity as string | undefined) ?? `${hostname()}-${process.pid}`;
  const leaseNamespace = (values['lease-namespace'] as string | undefined) ?? defaultLeaseNamespace();
  const leaseName = values['lease-name'] as string;
  // The release's name in its namespace claims: stable across a change of the leader Lease's name
  // (twelfth round: claims named after the Lease made a `helm upgrade` of operator.leaseName take the
  // release's own claims for another release's, every key key_unknown for a claim duration).
  const leaseRelease = `${leaseNamespace}/${leaseName}`;
  const claimHolder = (values['claim-holder'] as string | undefined) ?? leaseRelease;
  if (!/^[^/\s]+\/[^/\s]+$/.test(claimHolder))
    throw new UsageError(`--claim-holder: expected <namespace>/<name>, got ${JSON.stringify(claimHolder)}`);
  const tls = insecure ? undefined : await servingFiles(certFile!, keyFile!);
  const kc = loadKubeConfig(values.kubeconfig as string | undefined);
  const clock = systemClock;
  const registry = createOperatorRegistry();

  let counters: CounterStore | undefined;
  const redisUrl = values.redis as string | undefined;
  if (redisUrl) counters = createRedisCounterStore(redisUrl, { timeoutMs: 1_000, log });

  const source = createKubernetesSource(kubernetesApi(kc), { log, namespaces });
  let isLeader = () => false;
  // The elector's own view (within its renew deadline), for the claims' writes; wired once it exists.
  let electorLeads = () => false;
  let leaderTerm = (): number | undefined => undefined;
  let sinceRenewalMs = () => Number.POSITIVE_INFINITY;
  // The run API (ADR 0010) shares the snapshot listener; it is wired once the operator exists.
  let handleRuns: (req: IncomingMessage, res: ServerResponse) => Promise<void> = async (_req, res) => {
    res.writeHead(503).end();
  };
  // One budget for the listener's TokenReviews: the proxies' bearers and the run API's callers.
  const reviews = new ReviewBudget();
  const server = createSnapshotServer({
    authenticate: createTokenReviewAuthenticator(kc, {
      audience: values['token-audience'] as string,
      allowedServiceAccounts,
      budget: reviews,
    }),
    isLeader: () => isLeader(),
    leaderTerm: () => leaderTerm(),
    // Proxies age their tables from when every informer last saw every change (ADR 0005, eighth
    // round), and from no later than a retry period past the last Lease renewal (ninth round).
    sourcesCurrentAt: () =>
      vouchedCurrentAt(source.currentAt(), clock.now(), sinceRenewalMs(), timings.retryPeriodMs),
    heartbeatMs,
    log,
    registry,
    clock,
    extraRoutes: { prefix: RUNS_PATH, handle: (req, res) => handleRuns(req, res) },
  });
  const revocationsName =
    (values['revocations-configmap'] as string | undefined) ?? `${leaseName}-revocations`;
  const revocations = createRevocationLedger(
    configMapRevocationStore(kubernetesConfigMapApi(kc, leaseNamespace), {
      namespace: leaseNamespace,
      name: revocationsName,
    }),
  );
  const operator = createOperator({
    source,
    revocations,
    publish: (snapshot, changedAt) => server.publish(snapshot, { changedAt }),
    publishedVersion: () => server.version,
    secrets: kubernetesSecretStore(kc),
    applyStatus: kubernetesStatusApplier(kc),
    recordEvent: kubernetesEventSink(kc, { log, instance: identity }),
    ...(counters && { counters }),
    clock,
    log,
    registry,
    statusIntervalMs,
    // Each namespace is served by one release (ADR 0005, seventh round): this one, named --claim-holder.
    claims: {
      claims: createNamespaceClaims({
        storeFor: (namespace) => kubernetesLeaseStore(kc, namespace, CLAIM_LEASE_NAME),
        release: claimHolder,
        // Claims written before --claim-holder was set (the chart's upgrade to it) are this release's.
        formerNames: [leaseRelease],
        claimDurationMs: timings.leaseDurationMs + proxyMaxStalenessMs,
        renewDeadlineMs: timings.renewDeadlineMs,
        clock: () => clock.now(),
        monotonic: () => performance.now(),
        log,
      }),
      intervalMs: timings.retryPeriodMs,
      leads: () => electorLeads(),
    },
    // A namespace's revocations go with it to whichever release claims it next (tenth round).
    namespaceLedgers: createNamespaceLedgers({
      storeFor: (namespace) =>
        configMapRevocationStore(kubernetesConfigMapApi(kc, namespace), {
          namespace,
          name: NAMESPACE_LEDGER_NAME,
          maxShards: NAMESPACE_LEDGER_MAX_SHARDS,
        }),
      isGone: (err) => (err as { code?: number }).code === 404,
      log,
    }),
  });
  const pod = resolvePodRef(
    {
      podName: values['pod-name'] as string | undefined,
      podNamespace: values['pod-namespace'] as string | undefined,
    },
    process.env,
    leaseNamespace,
  );
  // The Service selects the leader's Pod through this label; without a Pod (local runs) nothing to do.
  // Created once the listeners are up, so a failed start leaves no retry loop behind.
  let leaderLabel: LeaderLabel | undefined;
  const elector = createLeaderElector({
    store: kubernetesLeaseStore(kc, leaseNamespace, leaseName),
    identity,
    ...timings,
    log,
    onStartedLeading: () => {
      operator.startLeading();
      leaderLabel?.set(true);
    },
    onStoppedLeading: () => {
      operator.stopLeading();
      leaderLabel?.set(false);
      // Its renewals went unanswered, or someone else holds the Lease: the watches may sit on the same
      // dead connections, and would count as current until their watchdogs, past the next term's
      // start (ninth round). Started again, they lapse from their last sign of life and relist.
      source.rewatch();
    },
  });
  // A replica that never read the revocation ledger serves nothing, even holding the Lease.
  isLeader = () => elector.isLeader() && operator.ready;
  electorLeads = () => elector.isLeader();
  leaderTerm = () => elector.term();
  sinceRenewalMs = () => elector.sinceRenewalMs();
  handleRuns = createOperatorRunsApi({
    snapshot: () => operator.snapshot,
    reviewCaller: createCallerReview(kubernetesTokenReview(kc), {
      audience: values['token-audience'] as string,
      budget: reviews,
    }),
    reviewAccess: cachedAccessReview(kubernetesAccessReview(kc)),
    isLeader: () => isLeader(),
    pendingKey: (namespace, name) => operator.pendingKey(namespace, name),
    server,
    ...(counters && isRunStopStore(counters) ? { stopStore: counters } : {}),
    clock,
    log,
  });
  // Stops recorded in Redis (by an earlier leader among others) reach this one's streams too.
  const stopsWatch =
    counters && isRunStopStore(counters)
      ? counters.watchStoppedRuns((run) => void server.stopRuns([run]))
      : undefined;
  let synced = false;
  registerInformerLag(
    registry,
    () => source.informers(),
    () => clock.now(),
  );
  const problems = () =>
    [
      synced ? undefined : 'informers have not listed VaultKeys, SpendPolicies and Secrets yet',
      ...informerProblems(source.informers(), clock.now()),
      elector.problem(),
      operator.problem(),
    ].filter((p): p is string => p !== undefined);

  const admin = createOperatorAdmin({
    registry,
    moreSeries: operator.keySpendSeries,
    isLeader,
    version: () => server.version,
    problems,
    limits: operatorListenerLimits(heartbeatMs),
    log,
  });
  const url = await server.listen({ host: listen.host, port: listen.port, ...(tls && { tls }) });
  await admin.listen({ host: adminListen.host, port: adminListen.port });
  log.info(
    {
      urls: { main: url, admin: listenUrl(admin.server.address(), adminListen) },
      identity,
      lease: `${leaseNamespace}/${leaseName}`,
      claimHolder,
      revocations: `${leaseNamespace}/${revocationsName}`,
      namespaces: namespaces.length > 0 ? namespaces : 'all',
      tls: !insecure,
      counters: redisUrl ? 'redis' : 'none',
      pod: pod ? `${pod.namespace}/${pod.name}` : 'none',
    },
    'listening',
  );

  if (pod)
    leaderLabel = createLeaderLabel({
      patch: kubernetesPodLabelPatcher(kc, pod),
      log,
      pod: `${pod.namespace}/${pod.name}`,
    });

  let stopped = false;
  const startup = (async () => {
    await operator.start();
    if (stopped) return;
    synced = true;
    log.info({ version: server.version, keys: operator.snapshot?.keys.size ?? 0 }, 'informers synced');
    elector.start();
  })().catch((err: unknown) => {
    if (!stopped) log.error({ error: (err as Error).message }, 'operator start-up failed');
  });

  return {
    async close() {
      stopped = true;
      await elector.stop();
      await leaderLabel?.close();
      await operator.close();
      await startup;
      await server.close();
      await admin.close();
      await stopsWatch?.close();
      await counters?.close();
    },
  };
}
