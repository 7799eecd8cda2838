// Child processes of the benchmark: the upstream, the bare hops and `keybrake serve`, each on its own
// ephemeral ports, started the way a user starts them and stopped at the end (also when a phase
// throws). Readiness is always a line the child prints, awaited with a deadline: never a sleep.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parse as parseYaml } from 'yaml';
import { serveArgs } from '../test/env/keybrake.ts';

export const ROOT = path.resolve(import.meta.dirname, '..');

type Line = Record<string, unknown>;

/** A started child: where it listens, its pid (for /proc and strace), its later lines, how to stop it. */
export interface Child {
  /** For the upstream and the hops `{ port }`; for keybrake its `listening` line. */
  readonly announced: Line;
  readonly pid: number;
  /** Milliseconds from spawn to the ready line. */
  readonly readyMs: number;
  /** Resolves with the first JSON line matching `pred` printed after this call. */
  waitForLine(pred: (line: Line) => boolean, timeoutMs: number, what: string): Promise<Line>;
  stop(): Promise<void>;
}

/**
 * Spawns `node <script> <args>` and resolves with the first JSON line on `stream` that `ready`
 * accepts. Keybrake's audit goes to stdout: the benchmark discards it (`ignore`) rather than parse
 * a line per request in the process that also generates the load, and reads its logs (stderr).
 */
async function startChild(
  script: string,
  args: string[],
  opts: {
    stream: 'stdout' | 'stderr';
    ready: (line: Line) => boolean;
    env?: NodeJS.ProcessEnv;
    readyTimeoutMs?: number;
    nodeArgs?: string[];
    /** `pipe`: an open stdin, for a child that ends with its input; default: none. */
    stdin?: 'ignore' | 'pipe';
  },
): Promise<Child> {
  const { stream } = opts;
  const started = performance.now();
  const child: ChildProcess = spawn(
    process.execPath,
    [...(opts.nodeArgs ?? []), path.join(ROOT, script), ...args],
    {
      cwd: ROOT,
      env: { ...process.env, ...opts.env },
      stdio: [
        opts.stdin ?? 'ignore',
        stream === 'stdout' ? 'pipe' : 'ignore',
        stream === 'stderr' ? 'pipe' : 'inherit',
      ],
    },
  );
  const exited = once(child, 'exit');
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await exited;
  };
  let tail = '';
  const waiters = new Set<{ pred: (l: Line) => boolean; resolve: (l: Line) => void }>();
  const lines = createInterface({ input: child[stream]! });
  lines.on('line', (line) => {
    tail = `${tail}${line}\n`.slice(-4_000);
    let rec: Line;
    try {
      rec = JSON.parse(line) as Line;
    } catch {
      return; // Not JSON: kept for error messages only.
    }
    for (const w of waiters) {
      if (w.pred(rec)) {
        waiters.delete(w);
        w.resolve(rec);
      }
    }
  });
  const waitForLine = (pred: (l: Line) => boolean, timeoutMs: number, what: string) =>
    new Promise<Line>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`${script}: no ${what} within ${timeoutMs / 1000} s:\n${tail}`));
      }, timeoutMs);
      const waiter = {
        pred,
        resolve: (l: Line) => {
          clearTimeout(timer);
          resolve(l);
        },
      };
      waiters.add(waiter);
      void exited.then(([code]) => {
        if (!waiters.delete(waiter)) return;
        clearTimeout(timer);
        reject(new Error(`${script} exited with ${code} before its ${what}:\n${tail}`));
      });
    });
  const timeoutMs = opts.readyTimeoutMs ?? 20_000;
  const announced = await waitForLine(opts.ready, timeoutMs, 'ready line').catch(async (err: unknown) => {
    await stop();
    throw err;
  });
  return { announced, pid: child.pid!, readyMs: performance.now() - started, waitForLine, stop };
}

/** The fixed-answer upstream (bench/upstream.ts) on a free port. */
export async function startUpstream(): Promise<Child & { url: string }> {
  const child = await startChild('bench/upstream.ts', [], {
    stream: 'stdout',
    ready: (l) => typeof l['port'] === 'number',
  });
  return { ...child, url: `http://127.0.0.1:${child.announced['port'] as number}` };
}

/** A bare hop (bench/hops/*.ts) in front of `upstream`, on a free port. */
export async function startHop(kind: 'fastify' | 'node', upstream: string): Promise<Child & { url: string }> {
  const child = await startChild(`bench/hops/${kind}-hop.ts`, [upstream], {
    stream: 'stdout',
    ready: (l) => typeof l['port'] === 'number',
  });
  return { ...child, url: `http://127.0.0.1:${child.announced['port'] as number}` };
}

/** `keybrake serve` over `manifests`, with its Stripe listener on a free port. */
export async function startKeybrake(opts: {
  manifests: string;
  upstream: string;
  redis?: string;
  readyTimeoutMs?: number;
  nodeArgs?: string[];
}): Promise<Child & { stripeUrl: string; adminUrl: string }> {
  const args = [
    ...serveArgs(opts.manifests, { stripe: opts.upstream }),
    ...(opts.redis ? ['--redis', opts.redis] : []),
  ];
  const child = await startChild('cmd/keybrake.ts', args, {
    stream: 'stderr',
    ready: (l) => l['msg'] === 'listening',
    env: { KEYBRAKE_LOG_LEVEL: 'info' },
    ...(opts.readyTimeoutMs !== undefined ? { readyTimeoutMs: opts.readyTimeoutMs } : {}),
    ...(opts.nodeArgs ? { nodeArgs: opts.nodeArgs } : {}),
  });
  const urls = child.announced['urls'] as Record<string, string>;
  return { ...child, stripeUrl: urls['stripe']!, adminUrl: urls['admin']! };
}

/**
 * The chart's `proxy.nodeOptions` (charts/keybrake/values.yaml): the benchmarks run `keybrake
 * proxy` with the NODE_OPTIONS its pods get.
 */
export function chartProxyNodeOptions(): string {
  const values = parseYaml(readFileSync(path.join(ROOT, 'charts/keybrake/values.yaml'), 'utf8')) as {
    proxy?: { nodeOptions?: unknown };
  };
  const options = values.proxy?.nodeOptions;
  return typeof options === 'string' ? options : '';
}

/**
 * The operator's side of bench/k8s-stream.ts in a process of its own: a generated table of `keys`
 * keys, compiled and served by the real snapshot server (plain HTTP on loopback, every proxy
 * admitted). Ready once it serves.
 */
export async function startSnapshotOperator(keys: number): Promise<Child & { url: string }> {
  const child = await startChild('bench/k8s-stream.ts', ['operator'], {
    stream: 'stderr',
    ready: (l) => l['msg'] === 'serving',
    env: { BENCH_KEYS: String(keys) },
    readyTimeoutMs: Math.max(60_000, keys * 2),
    stdin: 'pipe',
  });
  return { ...child, url: String(child.announced['url']) };
}

/** The arguments of `keybrake proxy` following a bench snapshot server (plain HTTP on loopback). */
export function followingProxyArgs(opts: {
  operatorUrl: string;
  tokenFile: string;
  upstream: string;
}): string[] {
  return [
    'proxy',
    '--operator',
    opts.operatorUrl,
    '--insecure-http',
    '--token-file',
    opts.tokenFile,
    '--proxy-id',
    'bench',
    '--listen',
    '127.0.0.1:0',
    '--admin-listen',
    '127.0.0.1:0',
    '--vendor-port',
    'stripe=127.0.0.1:0',
    '--upstream',
    `stripe=${opts.upstream}`,
  ];
}

/** A following proxy's environment, as the chart runs it (its NODE_OPTIONS). */
export function followingProxyEnv(): NodeJS.ProcessEnv {
  const nodeOptions = chartProxyNodeOptions();
  return { KEYBRAKE_LOG_LEVEL: 'info', ...(nodeOptions && { NODE_OPTIONS: nodeOptions }) };
}

/**
 * `keybrake proxy` following the snapshot server at `operatorUrl`, as the chart runs it: ready
 * once its first whole table is in force (`readyMs`: from spawn to then).
 */
export async function startFollowingProxy(opts: {
  operatorUrl: string;
  tokenFile: string;
  upstream: string;
  readyTimeoutMs?: number;
}): Promise<Child> {
  return startChild('cmd/keybrake.ts', followingProxyArgs(opts), {
    stream: 'stderr',
    ready: (l) => l['msg'] === 'snapshot applied' && l['kind'] === 'full',
    env: followingProxyEnv(),
    ...(opts.readyTimeoutMs !== undefined ? { readyTimeoutMs: opts.readyTimeoutMs } : {}),
  });
}
