// A real Kubernetes control plane for tests, the way controller-runtime's envtest does it: etcd and
// kube-apiserver as local processes on loopback, built from pinned Go modules by build.sh. There is no
// controller-manager, scheduler or kubelet: objects are stored and watched, nothing runs (see README.md).
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ControlPlaneCerts, generateCerts } from '../tls.ts';
import {
  type CommandResult,
  Daemon,
  pollUntil,
  type RunOptions,
  registerTempDir,
  runCommand,
} from './processes.ts';

export type { CommandResult, RunOptions } from './processes.ts';

/** What a test needs to talk to a cluster: the kubeconfig plus kubectl/helm bound to it. */
export interface ControlPlaneClient {
  kubeconfigPath: string;
  /** The apiserver URL, e.g. https://127.0.0.1:41234. */
  server: string;
  /** Directory with etcd, kube-apiserver, kubectl and helm. */
  binDir: string;
  kubectl(args: string[], opts?: RunOptions): Promise<CommandResult>;
  helm(args: string[], opts?: RunOptions): Promise<CommandResult>;
}

export interface ControlPlane extends ControlPlaneClient {
  /** Stops the processes (SIGTERM, then SIGKILL after a bound) and removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Use binaries from this dir instead of build.sh (default: $KEYBRAKE_K8S_BIN_DIR, else build.sh). */
  binDir?: string;
  /** Deadline for etcd + apiserver to become ready, once binaries exist. Default 120 s. */
  startTimeoutMs?: number;
  /** Extra kube-apiserver flags, appended after the defaults (a later flag wins). */
  apiserverArgs?: string[];
}

const HERE = dirname(fileURLToPath(import.meta.url));
const BUILD_SCRIPT = join(HERE, 'build.sh');
// Every kubectl/helm call gets a bound so a hung request fails a test instead of stalling the run.
const COMMAND_TIMEOUT_MS = 120_000;
const PORT_ATTEMPTS = 3;

/**
 * Resolves the bin dir: $KEYBRAKE_K8S_BIN_DIR if set (build.sh validates it), otherwise the build.sh
 * cache, building on first use (15-20 minutes cold; progress goes to stderr).
 */
export async function ensureBinaries(binDir?: string): Promise<string> {
  if (binDir) return binDir;
  const result = await runCommand('bash', [BUILD_SCRIPT], { inheritStderr: true });
  const lines = result.stdout.trim().split('\n');
  const last = lines[lines.length - 1];
  if (result.code !== 0 || !last) {
    throw new Error(`${BUILD_SCRIPT} failed with exit code ${result.code} (its output is above)`);
  }
  return last;
}

export async function startControlPlane(opts: StartOptions = {}): Promise<ControlPlane> {
  const binDir = await ensureBinaries(opts.binDir);
  const dir = await mkdtemp(join(tmpdir(), 'keybrake-cp-'));
  const unregister = registerTempDir(dir);
  try {
    const certs = await generateCerts(dir);
    const daemons = await startDaemonsWithPortRetry(binDir, dir, certs, opts);
    const kubeconfigPath = join(dir, 'kubeconfig');
    await writeKubeconfig(kubeconfigPath, daemons.server, certs);
    let stopped = false;
    return {
      ...connectControlPlane({ kubeconfigPath, server: daemons.server, binDir }),
      async stop() {
        if (stopped) return;
        stopped = true;
        await daemons.stop();
        await rm(dir, { recursive: true, force: true });
        unregister();
      },
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    unregister();
    throw error;
  }
}

/** kubectl and helm bound to an existing control plane, for test files that get its details via inject(). */
export function connectControlPlane(cp: {
  kubeconfigPath: string;
  server: string;
  binDir: string;
}): ControlPlaneClient {
  // helm keeps its repository cache and config per user: point it at the control plane's dir instead.
  const helmHome = join(dirname(cp.kubeconfigPath), 'helm');
  const env = {
    ...process.env,
    KUBECONFIG: cp.kubeconfigPath,
    HELM_CACHE_HOME: join(helmHome, 'cache'),
    HELM_CONFIG_HOME: join(helmHome, 'config'),
    HELM_DATA_HOME: join(helmHome, 'data'),
  };
  const run = (tool: string, args: string[], opts: RunOptions = {}) =>
    runCommand(join(cp.binDir, tool), args, {
      timeoutMs: COMMAND_TIMEOUT_MS,
      ...opts,
      env: { ...env, ...opts.env },
    });
  return {
    ...cp,
    kubectl: (args, opts) => run('kubectl', ['--kubeconfig', cp.kubeconfigPath, ...args], opts),
    helm: (args, opts) => run('helm', args, opts),
  };
}

interface RunningDaemons {
  server: string;
  stop(): Promise<void>;
}

// Free ports are picked by binding :0 and releasing them, so another process can grab one before etcd or
// the apiserver binds it. Rare, but when it happens the whole start is retried on fresh ports.
async function startDaemonsWithPortRetry(
  binDir: string,
  dir: string,
  certs: ControlPlaneCerts,
  opts: StartOptions,
): Promise<RunningDaemons> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startDaemons(binDir, dir, certs, opts);
    } catch (error) {
      const portClash = error instanceof Error && /address already in use/i.test(error.message);
      if (!portClash || attempt >= PORT_ATTEMPTS) throw error;
    }
  }
}

async function startDaemons(
  binDir: string,
  dir: string,
  certs: ControlPlaneCerts,
  opts: StartOptions,
): Promise<RunningDaemons> {
  const deadline = Date.now() + (opts.startTimeoutMs ?? 120_000);
  const [clientPort, peerPort, securePort] = await freePorts(3);
  const etcd = await startEtcd(binDir, dir, clientPort!, peerPort!, deadline);
  try {
    const server = `https://127.0.0.1:${securePort}`;
    const apiserver = startApiserver(binDir, dir, certs, clientPort!, securePort!, opts.apiserverArgs ?? []);
    const stop = async () => {
      // apiserver first: it is etcd's client and would log connection errors during its shutdown otherwise.
      await apiserver.stop();
      await etcd.stop();
    };
    try {
      await waitForApiserver(apiserver, server, certs, deadline);
    } catch (error) {
      await apiserver.stop();
      throw error;
    }
    return { server, stop };
  } catch (error) {
    await etcd.stop();
    throw error;
  }
}

async function startEtcd(
  binDir: string,
  dir: string,
  clientPort: number,
  peerPort: number,
  deadline: number,
): Promise<Daemon> {
  const etcdBin = join(binDir, 'etcd');
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const args = [
    // Per-port data dir: a retry on fresh ports must not reuse a member stored with the old peer URL.
    `--data-dir=${join(dir, `etcd-${clientPort}`)}`,
    `--listen-client-urls=${clientUrl}`,
    `--advertise-client-urls=${clientUrl}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=default=${peerUrl}`,
  ];
  // Test data is thrown away, so skipping fsync is pure speed; older etcd builds do not know the flag.
  if (await supportsFlag(etcdBin, '--unsafe-no-fsync')) args.push('--unsafe-no-fsync');
  const etcd = new Daemon('etcd', etcdBin, args, join(dir, 'etcd.log'));
  try {
    await pollUntil(() => etcdHealthy(clientUrl), {
      what: `etcd health at ${clientUrl}`,
      deadline,
      daemon: etcd,
    });
  } catch (error) {
    await etcd.stop();
    throw error;
  }
  return etcd;
}

async function supportsFlag(bin: string, flag: string): Promise<boolean> {
  const help = await runCommand(bin, ['--help'], { timeoutMs: 10_000 });
  return `${help.stdout}${help.stderr}`.includes(flag);
}

async function etcdHealthy(clientUrl: string): Promise<boolean> {
  const response = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(2_000) });
  const body = (await response.json()) as { health?: string };
  return response.ok && body.health === 'true';
}

function startApiserver(
  binDir: string,
  dir: string,
  certs: ControlPlaneCerts,
  etcdPort: number,
  securePort: number,
  extraArgs: string[],
): Daemon {
  const args = [
    `--etcd-servers=http://127.0.0.1:${etcdPort}`,
    '--bind-address=127.0.0.1',
    // Without it the apiserver looks for a default route to pick an address and fails on offline machines.
    '--advertise-address=127.0.0.1',
    `--secure-port=${securePort}`,
    `--cert-dir=${join(dir, 'apiserver-certs')}`,
    `--tls-cert-file=${certs.servingCert}`,
    `--tls-private-key-file=${certs.servingKey}`,
    `--client-ca-file=${certs.caCert}`,
    '--authorization-mode=RBAC',
    '--allow-privileged=true',
    // No controller-manager creates the `default` ServiceAccounts this plugin insists on.
    '--disable-admission-plugins=ServiceAccount',
    '--service-cluster-ip-range=10.0.0.0/24',
    '--endpoint-reconciler-type=none',
    // Issuer + keys make TokenRequest (kubectl create token) and TokenReview work.
    `--service-account-issuer=https://127.0.0.1:${securePort}`,
    `--service-account-key-file=${certs.saPublicKey}`,
    `--service-account-signing-key-file=${certs.saPrivateKey}`,
    ...extraArgs,
  ];
  return new Daemon('kube-apiserver', join(binDir, 'kube-apiserver'), args, join(dir, 'kube-apiserver.log'));
}

async function waitForApiserver(
  apiserver: Daemon,
  server: string,
  certs: ControlPlaneCerts,
  deadline: number,
): Promise<void> {
  const tls = await loadClientTls(certs);
  const ok = async (path: string) => (await httpsGet(`${server}${path}`, tls)).status === 200;
  await pollUntil(() => ok('/readyz'), {
    what: `kube-apiserver ${server}/readyz`,
    deadline,
    daemon: apiserver,
  });
  // /readyz can pass a moment before the bootstrap controller has created the default namespace.
  await pollUntil(() => ok('/api/v1/namespaces/default'), {
    what: 'namespace default',
    deadline,
    daemon: apiserver,
  });
}

interface ClientTls {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

async function loadClientTls(certs: ControlPlaneCerts): Promise<ClientTls> {
  const [ca, cert, key] = await Promise.all([
    readFile(certs.caCert),
    readFile(certs.adminCert),
    readFile(certs.adminKey),
  ]);
  return { ca, cert, key };
}

// node:https rather than fetch: fetch has no per-request CA or client certificate without an undici Agent.
function httpsGet(url: string, tls: ClientTls): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ...tls, timeout: 2_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

async function freePorts(count: number): Promise<number[]> {
  // Hold all listeners open until every port is known so the same port is not returned twice.
  const servers = await Promise.all(
    Array.from({ length: count }, () => {
      const server = createServer();
      return new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => resolve(server));
      });
    }),
  );
  const ports = servers.map((server) => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('unexpected listener address');
    return address.port;
  });
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

/** kubeconfig with everything embedded, so it stays valid if copied elsewhere. JSON is valid YAML. */
async function writeKubeconfig(path: string, server: string, certs: ControlPlaneCerts): Promise<void> {
  const [ca, cert, key] = await Promise.all(
    [certs.caCert, certs.adminCert, certs.adminKey].map(async (file) =>
      (await readFile(file)).toString('base64'),
    ),
  );
  const name = 'keybrake-test';
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: { server, 'certificate-authority-data': ca } }],
    users: [{ name: 'admin', user: { 'client-certificate-data': cert, 'client-key-data': key } }],
    contexts: [{ name, context: { cluster: name, user: 'admin', namespace: 'default' } }],
    'current-context': name,
    preferences: {},
  };
  await writeFile(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
}
