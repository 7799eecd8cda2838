// Revocation with a large table (ADR 0013), shared by test/k8s/revoke-scale.test.ts (10 vs 10 000
// keys, in CI) and bench/k8s-revoke.ts (10 vs 100 000 keys): N VaultKeys created in bulk through the
// API, the real operator and three real proxies on the test control plane, then `kubectl delete
// vaultkey` of one key at a time until every proxy denies it. Besides the time from kubectl's return
// to the last proxy's denial, each trial is split at the operator's publish of the revoking snapshot
// (its debug log line): before it, the operator's own work on the change (informer, validation,
// compile); after it, distribution (the delta on the stream, the proxies applying it, the poll).
import { readFile } from 'node:fs/promises';
import { Agent, Pool, request } from 'undici';
import { type StripeEmulator, startStripeEmulator } from '../../src/emulators/stripe.ts';
import { newToken } from '../../src/tokens/token.ts';
import type { ControlPlaneClient } from '../env/control-plane/control-plane.ts';
import { get, installCrds, type K8sSystem, startK8sSystem, tenantKubectl, until } from '../env/k8s-system.ts';
import { allowedEverywhere, firstDenials } from './fixtures.ts';

const CHART_CRDS = new URL('../../charts/keybrake/crds', import.meta.url).pathname;
const REAL_KEY = 'sk_test_scale_upstream_00000000000000000';
const TOKENS_PER_SECRET = 1_000;

export interface RevokeScaleOptions {
  readonly cp: ControlPlaneClient;
  /** VaultKeys in the table besides the trial keys. */
  readonly keys: number;
  readonly trials: number;
  /** Prefix of the system and tenant namespaces (`<prefix>-system`, `<prefix>-agents`). */
  readonly name: string;
  /** Progress lines. */
  readonly log?: (line: string) => void;
  /** Called once the system holds the whole table, before the trials (e.g. to pin processes to CPUs). */
  readonly beforeTrials?: (system: K8sSystem) => Promise<void>;
  /** More environment for the operator (a profiler, a preloaded probe). */
  readonly operatorEnv?: NodeJS.ProcessEnv;
  /** Given the operator's whole output once the trials are done, before it is stopped. */
  readonly operatorOutput?: (output: string) => Promise<void>;
}

/** One revocation: ms from kubectl's return (negative: before it). */
export interface RevokeTrial {
  /** Until the slowest proxy denied. */
  readonly allMs: number;
  /** From kubectl's invocation to its return. */
  readonly kubectlMs: number;
  /** From kubectl's return to the operator's publish of the snapshot without the key. */
  readonly publishedMs: number;
  /** That publish, epoch ms by the operator's clock. */
  readonly publishedAt: number;
  /** The operator's own account: from the change it saw to that publish (`lagMs`). */
  readonly operatorLagMs: number;
  /** From that publish to the slowest proxy's denial: distribution, apply and poll. */
  readonly distributionMs: number;
  /** From that publish to the slowest proxy's `snapshot applied` line: the stream and the apply alone. */
  readonly appliedMs: number;
  /** The revoking delta's size on the wire and its entries, from the operator's `snapshot delta` line. */
  readonly deltaBytes: number | undefined;
  readonly deltaEntries: number | undefined;
  /** How each proxy applied it (`delta` or `full`) and how long it took them. */
  readonly applied: readonly { kind: string; applyMs: number }[];
  /**
   * The operator's longest stall while the revocation was on its way to it: the slowest answer to
   * /healthz among probes sent, every 5 ms, from kubectl's start until the publish. A long one says
   * the operator's event loop was busy when the watch event came; short ones, that the API server
   * was late to send it. Every other trial is not probed (undefined): the probe keeps the operator
   * awake every 5 ms, which may itself change how fast it takes the event.
   */
  readonly operatorStallMs: number | undefined;
}

export interface RevokeScaleResult {
  readonly keys: number;
  /** Keys the proxies held when the trials began. */
  readonly tableKeys: number;
  readonly createMs: number;
  /** From the operator's start to every proxy holding the whole table. */
  readonly firstTableMs: number;
  /**
   * The slowest proxy's apply of that whole table, from its `snapshot applied` line: what a
   * revocation would cost each proxy if it were not a delta, measured in the same run.
   */
  readonly fullApplyMs: number;
  readonly trials: readonly RevokeTrial[];
  readonly summary: ReturnType<typeof summarize>;
}

/** Nearest-rank percentile. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] ?? Number.NaN;
}

export function summarize(trials: readonly RevokeTrial[]) {
  const of = (f: (t: RevokeTrial) => number) => {
    const v = trials.map(f);
    return { p50: percentile(v, 0.5), p99: percentile(v, 0.99), max: Math.max(...v) };
  };
  return {
    trials: trials.length,
    all: of((t) => t.allMs),
    operatorLag: of((t) => t.operatorLagMs),
    distribution: of((t) => t.distributionMs),
    applied: of((t) => t.appliedMs),
    kubectl: of((t) => t.kubectlMs),
    deltaBytes: of((t) => t.deltaBytes ?? Number.NaN),
    deltaEntries: of((t) => t.deltaEntries ?? Number.NaN),
    proxyApplyMs: of((t) => Math.max(...t.applied.map((a) => a.applyMs))),
    appliedKinds: [...new Set(trials.flatMap((t) => t.applied.map((a) => a.kind)))],
  };
}

/**
 * Creates objects through the API server's REST API with `concurrency` requests in flight, as the
 * admin of the kubeconfig: tens of thousands of VaultKeys in a minute or two, where kubectl takes a
 * request per object and a process per call.
 */
export async function bulkApi(cp: ControlPlaneClient) {
  const config = JSON.parse(await readFile(cp.kubeconfigPath, 'utf8')) as {
    clusters: { cluster: { 'certificate-authority-data': string } }[];
    users: { user: { 'client-certificate-data': string; 'client-key-data': string } }[];
  };
  const b64 = (s: string | undefined) => Buffer.from(s ?? '', 'base64');
  const dispatcher = new Agent({
    connections: 32,
    connect: {
      ca: b64(config.clusters[0]?.cluster['certificate-authority-data']),
      cert: b64(config.users[0]?.user['client-certificate-data']),
      key: b64(config.users[0]?.user['client-key-data']),
    },
  });
  const call = async (method: 'POST' | 'DELETE', path: string, body?: unknown) => {
    const res = await request(`${cp.server}${path}`, {
      method,
      dispatcher,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.body.text();
    if (res.statusCode >= 300) throw new Error(`${method} ${path}: ${res.statusCode} ${text.slice(0, 300)}`);
  };
  return {
    async create(path: string, objects: readonly unknown[], concurrency = 16): Promise<void> {
      let next = 0;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < objects.length) await call('POST', path, objects[next++]);
        }),
      );
    },
    /** One request deletes every object of the collection (the API's deletecollection). */
    deleteCollection: (path: string) => call('DELETE', path),
    close: () => dispatcher.close(),
  };
}

const vaultKeyPath = (ns: string) => `/apis/keybrake.dev/v1alpha1/namespaces/${ns}/vaultkeys`;
const secretPath = (ns: string) => `/api/v1/namespaces/${ns}/secrets`;

/** Deletes what `runRevokeScale` created in `tenant` (the test control plane has no namespace controller). */
export async function removeScaleObjects(cp: ControlPlaneClient, tenant: string): Promise<void> {
  const api = await bulkApi(cp);
  try {
    await api.deleteCollection(vaultKeyPath(tenant)).catch(() => {});
    await api.deleteCollection(secretPath(tenant)).catch(() => {});
  } finally {
    await api.close();
  }
}

/**
 * The whole run for one table size. The caller owns the control plane; this starts and stops its
 * own system (operator restricted to the tenant namespace, so runs of several sizes do not see each
 * other's keys) and leaves the tenant's objects for `removeScaleObjects`.
 */
export async function runRevokeScale(opts: RevokeScaleOptions): Promise<RevokeScaleResult> {
  const { cp, keys, trials: trialCount } = opts;
  const log = opts.log ?? (() => {});
  const systemNs = `${opts.name}-system`;
  const tenant = `${opts.name}-agents`;
  const { kubectl } = tenantKubectl(cp, tenant);
  await installCrds(async (args) => {
    const r = await cp.kubectl(args);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  }, CHART_CRDS);
  await cp.kubectl(['create', 'namespace', tenant]);
  await kubectl(
    ['apply', '-f', '-'],
    `
apiVersion: v1
kind: Secret
metadata: { name: stripe-live, labels: { keybrake.dev/secret: "true" } }
stringData: { apiKey: ${REAL_KEY} }
---
apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: scale }
spec:
  vendor: stripe
  limits: { perDayUsd: "1000" }
  allow: { endpoints: ["GET /v1/**"] }
`,
  );

  // The table: tokens brought in Secrets of a thousand each (as `keybrake token new --secret` would),
  // so the operator mints nothing for them, and one VaultKey per token.
  const api = await bulkApi(cp);
  const created = performance.now();
  try {
    const secrets = [];
    for (let s = 0; s * TOKENS_PER_SECRET < keys; s++) {
      const data: Record<string, string> = {};
      for (let i = s * TOKENS_PER_SECRET; i < Math.min(keys, (s + 1) * TOKENS_PER_SECRET); i++)
        data[`t${i}`] = Buffer.from(newToken('stripe')).toString('base64');
      secrets.push({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: `scale-tokens-${s}`, labels: { 'keybrake.dev/secret': 'true' } },
        data,
      });
    }
    await api.create(secretPath(tenant), secrets, 4);
    await api.create(
      vaultKeyPath(tenant),
      Array.from({ length: keys }, (_, i) => ({
        apiVersion: 'keybrake.dev/v1alpha1',
        kind: 'VaultKey',
        metadata: { name: `scale-${i}` },
        spec: {
          vendor: 'stripe',
          policyRef: { name: 'scale' },
          upstreamSecretRef: { name: 'stripe-live', key: 'apiKey' },
          tokenSecretRef: { name: `scale-tokens-${Math.floor(i / TOKENS_PER_SECRET)}`, key: `t${i}` },
        },
      })),
    );
  } finally {
    await api.close();
  }
  const createMs = performance.now() - created;
  log(`${keys} VaultKeys created in ${Math.round(createMs)} ms`);

  const stripe: StripeEmulator = await startStripeEmulator({ validKeys: [REAL_KEY] });
  let system: K8sSystem | undefined;
  let pools: Pool[] = [];
  try {
    // The operator is started by hand so that it alone logs at debug level (its publish lines).
    system = await startK8sSystem({
      cp,
      namespace: systemNs,
      operators: [],
      proxies: 3,
      upstreams: { stripe: stripe.url },
      operatorArgs: ['--namespace', tenant],
    });
    const started = performance.now();
    const operator = await system.startOperator('a', { KEYBRAKE_LOG_LEVEL: 'debug', ...opts.operatorEnv });
    const fullApplies = await Promise.all(
      system.proxies.map((p) =>
        p.process.waitForLog(
          (l) => l['msg'] === 'snapshot applied' && Number(l['keys']) >= keys,
          Math.max(60_000, keys * 5),
        ),
      ),
    );
    const fullApplyMs = Math.max(...fullApplies.map((l) => Number(l['applyMs'])));
    const firstTableMs = performance.now() - started;
    log(
      `every proxy holds the ${keys}-key table ${Math.round(firstTableMs)} ms after the operator started (slowest apply ${fullApplyMs.toFixed(1)} ms)`,
    );
    pools = system.proxies.map((p) => new Pool(p.vendorUrls['stripe']!, { connections: 2, pipelining: 1 }));

    // An operator that has just read N keys writes N statuses: let it finish before measuring. (Its
    // /metrics holds two series per key, so its debug lines are counted instead of scraping it.)
    await until(
      async () => (operator.process.output().match(/"msg":"status written"/g)?.length ?? 0) >= keys,
      Math.max(120_000, keys * 10),
      `the operator's first ${keys} status writes`,
      1_000,
    );

    await opts.beforeTrials?.(system);
    // The keys to revoke, with tokens brought like the table's (no minting: with a large table each
    // minted Secret is one more compile of it before the trials can start).
    const trialKeys = Array.from({ length: trialCount }, (_, i) => ({
      name: `revoke-${i}`,
      token: newToken('stripe'),
    }));
    await kubectl(
      ['apply', '-f', '-'],
      [
        `
apiVersion: v1
kind: Secret
metadata: { name: revoke-tokens, labels: { keybrake.dev/secret: "true" } }
stringData: ${JSON.stringify(Object.fromEntries(trialKeys.map((k) => [k.name, k.token])))}
`,
        ...trialKeys.map(
          (k) => `
apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: ${k.name} }
spec:
  vendor: stripe
  policyRef: { name: scale }
  upstreamSecretRef: { name: stripe-live, key: apiKey }
  tokenSecretRef: { name: revoke-tokens, key: ${k.name} }
`,
        ),
      ].join('---\n'),
    );
    for (const k of trialKeys) await allowedEverywhere(pools, k.token, 60_000);
    const tableKeys = keys + trialKeys.length;

    const trials: RevokeTrial[] = [];
    for (const [i, key] of trialKeys.entries()) {
      await allowedEverywhere(pools, key.token, 60_000);
      // A revocation on an idle operator (not in the middle of the previous one's status pass).
      await operatorIdle(operator.adminUrl);
      const published = operator.process.waitForNextLog((l) => l['msg'] === 'snapshot published', 60_000);
      const delta = operator.process.waitForNextLog((l) => l['msg'] === 'snapshot delta', 60_000);
      const applied = system.proxies.map((p) =>
        p.process.waitForNextLog((l) => l['msg'] === 'snapshot applied', 60_000),
      );
      const denials = firstDenials(pools, key.token, 'key_unknown', 60_000);
      const probe = i % 2 === 0 ? probeOperator(operator.adminUrl) : undefined;
      const invoked = Date.now();
      await kubectl(['delete', 'vaultkey', key.name]);
      const at = Date.now();
      const all = Math.max(...(await denials)) - at;
      const publish = await published;
      const probes = await probe?.stop();
      const d = await delta.catch(() => undefined);
      const publishedMs = Number(publish['time']) - at;
      const appliedLines = await Promise.all(applied);
      trials.push({
        allMs: all,
        kubectlMs: at - invoked,
        publishedMs,
        publishedAt: Number(publish['time']),
        operatorLagMs: Number(publish['lagMs']),
        distributionMs: all - publishedMs,
        appliedMs: Math.max(...appliedLines.map((l) => Number(l['time']))) - Number(publish['time']),
        deltaBytes: d?.['bytes'] === undefined ? undefined : Number(d['bytes']),
        deltaEntries:
          d === undefined
            ? undefined
            : Number(d['upsert']) + Number(d['remove']) + Number(d['policies'] ?? 0),
        applied: appliedLines.map((l) => ({
          kind: String(l['kind']),
          applyMs: Number(l['applyMs']),
        })),
        operatorStallMs: probes
          ? Math.max(0, ...probes.filter((x) => x.at < Number(publish['time'])).map((x) => x.ms))
          : undefined,
      });
    }
    await opts.operatorOutput?.(operator.process.output());
    const summary = summarize(trials);
    log(`${keys} keys: ${JSON.stringify(summary)}`);
    return { keys, tableKeys, createMs, firstTableMs, fullApplyMs, trials, summary };
  } finally {
    await Promise.all(pools.map((p) => p.close()));
    await system?.stop();
    await stripe.close();
  }
}

/** /healthz of the operator, probed every 5 ms until stopped: when each probe left, and how long it took. */
function probeOperator(adminUrl: string): { stop(): Promise<{ at: number; ms: number }[]> } {
  const probes: { at: number; ms: number }[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const at = Date.now();
      const t0 = performance.now();
      await get(`${adminUrl}/healthz`);
      probes.push({ at, ms: performance.now() - t0 });
      await new Promise((resolve) => setTimeout(resolve, 5)); // the probing pace, not a wait for anything
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return probes;
    },
  };
}

/**
 * Until the operator answers its health check at once: a change it is still compiling, or the status
 * pass after the last one, holds its event loop (seconds with 100 000 keys).
 */
async function operatorIdle(adminUrl: string): Promise<void> {
  let quick = 0;
  await until(
    async () => {
      const t0 = performance.now();
      await get(`${adminUrl}/healthz`);
      quick = performance.now() - t0 < 20 ? quick + 1 : 0;
      return quick >= 3;
    },
    120_000,
    'the operator to be idle',
    50,
  );
}
