// Child processes of the benchmark: the upstream and `keybrake serve`, each on its own ephemeral
// ports, started the way a user starts them and stopped at the end (also when a phase throws).
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { serveArgs } from '../test/env/keybrake.ts';

const ROOT = path.resolve(import.meta.dirname, '..');

/** A started child: where it listens and how to stop it. */
export interface Child {
  /** For the upstream `{ port }`; for keybrake the `urls` of its `listening` line. */
  readonly announced: Record<string, unknown>;
  stop(): Promise<void>;
}

/**
 * Spawns `node <script> <args>` and resolves with the first JSON line on `stream` that `ready`
 * accepts. Keybrake's audit goes to stdout: the benchmark discards it (`ignore`) rather than parse
 * a line per request in the process that also generates the load.
 */
async function startChild(
  script: string,
  args: string[],
  stream: 'stdout' | 'stderr',
  ready: (line: Record<string, unknown>) => boolean,
  env: NodeJS.ProcessEnv = {},
): Promise<Child> {
  const child: ChildProcess = spawn(process.execPath, [path.join(ROOT, script), ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', stream === 'stdout' ? 'pipe' : 'ignore', stream === 'stderr' ? 'pipe' : 'inherit'],
  });
  const exited = once(child, 'exit');
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await exited;
  };
  let tail = '';
  const announced = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${script} did not start within 20 s:\n${tail}`)),
      20_000,
    );
    const lines = createInterface({ input: child[stream]! });
    lines.on('line', (line) => {
      tail = `${tail}${line}\n`.slice(-4_000);
      try {
        const rec = JSON.parse(line) as Record<string, unknown>;
        if (ready(rec)) {
          clearTimeout(timer);
          resolve(rec);
        }
      } catch {
        // Not JSON: keep it for the error message only.
      }
    });
    void exited.then(([code]) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited with ${code} before it was ready:\n${tail}`));
    });
  }).catch(async (err: unknown) => {
    await stop();
    throw err;
  });
  return { announced, stop };
}

/** The fixed-answer upstream (bench/upstream.ts) on a free port. */
export async function startUpstream(): Promise<Child & { url: string }> {
  const child = await startChild('bench/upstream.ts', [], 'stdout', (l) => typeof l['port'] === 'number');
  return { ...child, url: `http://127.0.0.1:${child.announced['port'] as number}` };
}

/** `keybrake serve` over `manifests`, with its Stripe listener on a free port. */
export async function startKeybrake(opts: {
  manifests: string;
  upstream: string;
  redis?: string;
}): Promise<Child & { stripeUrl: string; adminUrl: string }> {
  const args = [
    ...serveArgs(opts.manifests, { stripe: opts.upstream }),
    ...(opts.redis ? ['--redis', opts.redis] : []),
  ];
  const child = await startChild('cmd/keybrake.ts', args, 'stderr', (l) => l['msg'] === 'listening', {
    KEYBRAKE_LOG_LEVEL: 'info',
  });
  const urls = child.announced['urls'] as Record<string, string>;
  return { ...child, stripeUrl: urls['stripe']!, adminUrl: urls['admin']! };
}
