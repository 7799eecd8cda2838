// The whole Kubernetes-mode system on the test control plane: real `keybrake operator` and
// `keybrake proxy` child processes (the CLI as users run it), wired the way the Helm chart wires them:
// the chart's own ServiceAccounts and RBAC (rendered with `helm template`), the operator authenticated
// as its ServiceAccount (so a missing RBAC verb fails here), proxies presenting an audience-bound
// ServiceAccount token over TLS, and a TCP balancer standing in for the operator's Service.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import type { ControlPlaneClient } from './control-plane/control-plane.ts';
import { type KeybrakeProcess, startKeybrake } from './keybrake.ts';
import { generateCerts } from './tls.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const CHART = join(ROOT, 'charts/keybrake');
const VENDORS = ['stripe', 'twilio', 'resend'] as const;

/** What a test asks for: how many operators (by identity) and proxies, and where vendors live. */
export interface K8sSystemOptions {
  readonly cp: ControlPlaneClient;
  /** The "release namespace": ServiceAccounts, RBAC subjects and the Lease live here. Created. */
  readonly namespace: string;
  /** Operator identities, in start order; the first normally wins the Lease. Default ['a']. */
  readonly operators?: readonly string[];
  readonly proxies?: number;
  /** vendor → emulator base URL. */
  readonly upstreams: Partial<Record<(typeof VENDORS)[number], string>>;
  /** Extra flags for every operator (e.g. short lease timings). */
  readonly operatorArgs?: readonly string[];
  readonly proxyArgs?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** The API server URL in the operators' kubeconfig (default the control plane's): e.g. a relay's. */
  readonly operatorApiServer?: string;
  /** By identity: the API server URL of that operator alone (a relay cutting one replica off). */
  readonly operatorApiServers?: Readonly<Record<string, string>>;
}

/** A running operator + proxies; `stop()` ends every process this helper started. */
export interface K8sSystem {
  readonly namespace: string;
  /** By identity. Stopped operators stay in the map (their `child` has exited). */
  readonly operators: Map<string, OperatorHandle>;
  readonly proxies: ProxyHandle[];
  /** The Service-equivalent every proxy follows: round-robins connections over live operators. */
  readonly operatorServiceUrl: string;
  /** PEM file of the CA that signed the operators' serving certificate. */
  readonly caFile: string;
  /** A fresh token for `serviceAccount` (default: the chart's proxy ServiceAccount). */
  createToken(opts?: { audience?: string; serviceAccount?: string }): Promise<string>;
  /** The name of the chart's proxy and operator ServiceAccounts. */
  readonly serviceAccounts: { readonly proxy: string; readonly operator: string };
  /**
   * Starts (or restarts) an operator; `env` is added to its environment, `args` after every other
   * flag (a flag given again there wins, e.g. --lease-name as a `helm upgrade` renders it anew).
   */
  startOperator(identity: string, env?: NodeJS.ProcessEnv, args?: readonly string[]): Promise<OperatorHandle>;
  startProxy(): Promise<ProxyHandle>;
  /** Identity in the Lease's holderIdentity, or undefined. */
  leaseHolder(): Promise<string | undefined>;
  stop(): Promise<void>;
}

export interface OperatorHandle {
  readonly identity: string;
  readonly process: KeybrakeProcess;
  /** https://127.0.0.1:<port> of its snapshot server. */
  readonly url: string;
  readonly adminUrl: string;
}

export interface ProxyHandle {
  /** The --proxy-id it reports to the operator (`proxy-<n>`). */
  readonly id: string;
  readonly process: KeybrakeProcess;
  /** vendor → base URL of that vendor's own listener. */
  readonly vendorUrls: Record<string, string>;
  readonly adminUrl: string;
  /** Polls /readyz until it answers 200 (a proxy is ready once it has applied a snapshot). */
  waitReady(timeoutMs?: number): Promise<void>;
  /** The value of `keybrake_snapshot_version` on its /metrics, or undefined before the first snapshot. */
  snapshotVersion(): Promise<number | undefined>;
}

const LEASE_NAME = 'keybrake-operator';

export async function startK8sSystem(opts: K8sSystemOptions): Promise<K8sSystem> {
  const { cp, namespace } = opts;
  const dir = await mkdtemp(join(tmpdir(), 'keybrake-k8s-system-'));
  const started: Array<{ stop(): Promise<void> }> = [];
  const operators = new Map<string, OperatorHandle>();
  const proxies: ProxyHandle[] = [];
  // The release is named after the namespace so cluster-scoped RBAC objects of two systems (or of
  // the chart test's real `helm install keybrake`) never collide.
  const release = namespace;
  const fullname = release.includes('keybrake') ? release : `${release}-keybrake`;
  const serviceAccounts = { proxy: `${fullname}-proxy`, operator: `${fullname}-operator` };
  let rbac: string | undefined;

  const kubectl = async (args: string[], input?: string) => {
    const r = await cp.kubectl(args, input === undefined ? {} : { input });
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.stderr.trim()}`);
    return r.stdout;
  };

  const stop = async () => {
    // Proxies first, so they do not log reconnect storms while the operators go away.
    for (const s of [...started].reverse()) await s.stop().catch(() => {});
    if (rbac) await cp.kubectl(['delete', '--ignore-not-found', '--wait=false', '-f', '-'], { input: rbac });
    await rm(dir, { recursive: true, force: true });
  };

  try {
    rbac = await installPrerequisites(cp, namespace, release, kubectl);
    const certs = await generateCerts(join(dir));
    const operatorKubeconfig = join(dir, 'operator.kubeconfig');
    await writeFile(
      operatorKubeconfig,
      await serviceAccountKubeconfig(
        cp,
        namespace,
        serviceAccounts.operator,
        kubectl,
        opts.operatorApiServer,
      ),
      { mode: 0o600 },
    );

    const createToken = async (o: { audience?: string; serviceAccount?: string } = {}) =>
      (
        await kubectl([
          'create',
          'token',
          o.serviceAccount ?? serviceAccounts.proxy,
          '-n',
          namespace,
          '--audience',
          o.audience ?? 'keybrake',
          '--duration',
          '1h',
        ])
      ).trim();
    const tokenFile = join(dir, 'proxy-token');
    await writeFile(tokenFile, await createToken(), { mode: 0o600 });

    const balancer = await startBalancer(() =>
      [...operators.values()]
        .filter((o) => o.process.child.exitCode === null && o.process.child.signalCode === null)
        .map((o) => Number(new URL(o.url).port)),
    );
    started.push(balancer);

    const startOperator = async (
      identity: string,
      env: NodeJS.ProcessEnv = {},
      args: readonly string[] = [],
    ): Promise<OperatorHandle> => {
      const own = opts.operatorApiServers?.[identity];
      const kubeconfig =
        own === undefined ? operatorKubeconfig : join(dir, `operator-${identity}.kubeconfig`);
      if (own !== undefined)
        await writeFile(
          kubeconfig,
          await serviceAccountKubeconfig(cp, namespace, serviceAccounts.operator, kubectl, own),
          { mode: 0o600 },
        );
      const process = await startKeybrake(
        [
          'operator',
          '--kubeconfig',
          kubeconfig,
          '--tls-cert',
          certs.servingCert,
          '--tls-key',
          certs.servingKey,
          '--listen',
          '127.0.0.1:0',
          '--admin-listen',
          '127.0.0.1:0',
          '--lease-namespace',
          namespace,
          '--lease-name',
          LEASE_NAME,
          '--identity',
          identity,
          '--proxy-service-account',
          `${namespace}/${serviceAccounts.proxy}`,
          ...(opts.operatorArgs ?? []),
          ...args,
        ],
        { env: { ...opts.env, ...env }, timeoutMs: 30_000 },
      );
      started.push(process);
      const url = process.urls['main'] ?? process.urls['snapshots'];
      const adminUrl = process.urls['admin'];
      if (!url || !adminUrl) {
        throw new Error(`operator ${identity} announced no main/admin URL: ${JSON.stringify(process.urls)}`);
      }
      const handle = { identity, process, url: url.replace(/^http:/, 'https:'), adminUrl };
      operators.set(identity, handle);
      return handle;
    };

    const startProxy = async (): Promise<ProxyHandle> => {
      const id = `proxy-${proxies.length}`;
      const args = [
        'proxy',
        '--proxy-id',
        id,
        '--operator',
        balancer.url,
        '--operator-ca',
        certs.caCert,
        '--token-file',
        tokenFile,
        '--listen',
        '127.0.0.1:0',
        '--admin-listen',
        '127.0.0.1:0',
        ...VENDORS.flatMap((v) => ['--vendor-port', `${v}=127.0.0.1:0`]),
        ...Object.entries(opts.upstreams).flatMap(([v, url]) => ['--upstream', `${v}=${url}`]),
        ...(opts.proxyArgs ?? []),
      ];
      const process = await startKeybrake(args, { env: opts.env ?? {}, timeoutMs: 30_000 });
      started.push(process);
      const adminUrl = process.urls['admin'];
      if (!adminUrl) throw new Error(`proxy announced no admin URL: ${JSON.stringify(process.urls)}`);
      const handle: ProxyHandle = {
        id,
        process,
        vendorUrls: Object.fromEntries(
          VENDORS.flatMap((v) => (process.urls[v] ? [[v, process.urls[v]]] : [])),
        ),
        adminUrl,
        waitReady: (timeoutMs = 20_000) =>
          until(
            async () => (await get(`${adminUrl}/readyz`)).status === 200,
            timeoutMs,
            `proxy ${adminUrl} ready`,
          ),
        snapshotVersion: async () => metric(await get(`${adminUrl}/metrics`), 'keybrake_snapshot_version'),
      };
      proxies.push(handle);
      return handle;
    };

    for (const identity of opts.operators ?? ['a']) await startOperator(identity);
    for (let i = 0; i < (opts.proxies ?? 3); i++) await startProxy();

    return {
      namespace,
      operators,
      proxies,
      operatorServiceUrl: balancer.url,
      caFile: certs.caCert,
      serviceAccounts,
      createToken,
      startOperator,
      startProxy,
      leaseHolder: async () =>
        (
          await cp.kubectl([
            'get',
            'lease',
            LEASE_NAME,
            '-n',
            namespace,
            '-o',
            'jsonpath={.spec.holderIdentity}',
          ])
        ).stdout.trim() || undefined,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * CRDs (as `helm install` would put them), the namespace, and the chart's ServiceAccounts + RBAC,
 * rendered from the chart itself so the operator runs with exactly the permissions it ships with.
 */
async function installPrerequisites(
  cp: ControlPlaneClient,
  namespace: string,
  release: string,
  kubectl: (args: string[], input?: string) => Promise<string>,
): Promise<string> {
  await installCrds(kubectl, join(CHART, 'crds'));
  await cp.kubectl(['create', 'namespace', namespace]);
  const rendered = await cp.helm([
    'template',
    release,
    CHART,
    '--namespace',
    namespace,
    '--set',
    'proxy.replicas=1',
    '--show-only',
    'templates/serviceaccounts.yaml',
    '--show-only',
    'templates/rbac.yaml',
    // Run keys (ADR 0010): the operator's SubjectAccessReviews, and the run-minter role tests bind.
    '--show-only',
    'templates/rbac-runs.yaml',
  ]);
  if (rendered.code !== 0) throw new Error(`helm template failed: ${rendered.stderr}`);
  await kubectl(['apply', '-n', namespace, '-f', '-'], rendered.stdout);
  return rendered.stdout;
}

/** A kubeconfig that authenticates as a ServiceAccount (bearer token) against the test apiserver. */
async function serviceAccountKubeconfig(
  cp: ControlPlaneClient,
  namespace: string,
  serviceAccount: string,
  kubectl: (args: string[], input?: string) => Promise<string>,
  server = cp.server,
): Promise<string> {
  const admin = JSON.parse(await readFile(cp.kubeconfigPath, 'utf8')) as {
    clusters: { cluster: { 'certificate-authority-data': string } }[];
  };
  const caData = admin.clusters[0]?.cluster['certificate-authority-data'];
  const token = (
    await kubectl(['create', 'token', serviceAccount, '-n', namespace, '--duration', '2h'])
  ).trim();
  const name = 'keybrake-operator';
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server, 'certificate-authority-data': caData } }],
    users: [{ name, user: { token } }],
    contexts: [{ name, context: { cluster: name, user: name, namespace } }],
    'current-context': name,
  });
}

interface Balancer {
  readonly url: string;
  stop(): Promise<void>;
}

/**
 * What kube-proxy does for a ClusterIP Service, at the TCP level: each new connection goes to the
 * next backend, round robin. TLS passes through untouched, so proxies verify the operator itself.
 * Deliberately harsher than the chart, whose Service selects only the Pod labelled as leader
 * (src/operator/leader-label.ts): here a connection may land on a standby that answers 503
 * "not leader", and the proxy's reconnect loop must still find the leader.
 */
async function startBalancer(backends: () => number[]): Promise<Balancer> {
  let next = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    const ports = backends();
    const port = ports[next++ % Math.max(ports.length, 1)];
    if (port === undefined) {
      client.destroy();
      return;
    }
    const upstream = tcpConnect(port, '127.0.0.1');
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    client.pipe(upstream).pipe(client);
    const fail = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', fail);
    upstream.on('error', fail);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('balancer has no port');
  return {
    url: `https://127.0.0.1:${address.port}`,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A plain GET (admin endpoints): status, headers and the body as text. */
export async function get(url: string, headers: Record<string, string> = {}) {
  const res = await request(url, { headers, headersTimeout: 5_000, bodyTimeout: 5_000 });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

/** The first sample of `name` (no labels, or the first labelled series) in a Prometheus exposition. */
export function metric(res: { body: string }, name: string): number | undefined {
  for (const line of res.body.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (m && m[1] === name) return Number(m[3]);
  }
  return undefined;
}

/** Polls `check` every `intervalMs` until it is true; throws after `timeoutMs` naming `what`. */
export async function until(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
  intervalMs = 20,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'not yet';
  for (;;) {
    try {
      if (await check()) return;
    } catch (error) {
      last = (error as Error).message;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${last})`);
    await delay(intervalMs);
  }
}

/** kubectl in one tenant namespace, failing the test with kubectl's stderr when it exits non-zero. */
export function tenantKubectl(
  cp: ControlPlaneClient,
  namespace: string,
): { kubectl(args: string[], input?: string): Promise<string>; mintedToken(key: string): Promise<string> } {
  const kubectl = async (args: string[], input?: string) => {
    const r = await cp.kubectl(['-n', namespace, ...args], input === undefined ? {} : { input });
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  /** The vault token the operator minted into `<key>-token`, once it exists. */
  const mintedToken = async (key: string) => {
    let token = '';
    await until(
      async () => {
        const r = await cp.kubectl([
          '-n',
          namespace,
          'get',
          'secret',
          `${key}-token`,
          '-o',
          'jsonpath={.data.token}',
        ]);
        token = r.code === 0 ? Buffer.from(r.stdout, 'base64').toString('utf8') : '';
        return token.length > 0;
      },
      20_000,
      `the operator to mint ${key}-token`,
      50,
    );
    return token;
  };
  return { kubectl, mintedToken };
}

/** Applies Keybrake's CRDs from `dir` and waits until the apiserver serves both kinds. */
export async function installCrds(kubectl: (args: string[]) => Promise<unknown>, dir: string): Promise<void> {
  await kubectl(['apply', '--server-side', '--force-conflicts', '-f', dir]);
  await kubectl([
    'wait',
    '--for=condition=established',
    '--timeout=60s',
    'crd/vaultkeys.keybrake.dev',
    'crd/spendpolicies.keybrake.dev',
  ]);
}
