import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { appendFileSync, type FSWatcher, watch } from 'node:fs';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import {
  type CanaryRun,
  canaryRun,
  captureResponses,
  manifestCanaries,
  outputFile,
  registerCanaries,
  registerManifestCanaries,
} from './canary.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
export const CLI = path.join(ROOT, 'cmd/keybrake.ts');

/** A `keybrake` process started the way a user starts it: the real CLI, as a child process. */
export interface KeybrakeProcess {
  /** `main`, `admin`, and vendor names → base URL, as the process announced them. */
  readonly urls: Record<string, string>;
  /** Parsed audit records (stdout) received so far. */
  readonly audit: Record<string, unknown>[];
  /** Raw stdout and stderr so far: for "never leaks" assertions. */
  output(): string;
  /** Resolves when an audit record matching `pred` has arrived. */
  waitForAudit(
    pred: (r: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  /** Resolves when a stderr log line matching `pred` has arrived. */
  waitForLog(
    pred: (l: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  /**
   * Like `waitForLog`, but only for lines that arrive after this call: call it before the action
   * that causes the line (a file edit), then await it.
   */
  waitForNextLog(
    pred: (l: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
  readonly child: ChildProcess;
}

type Waiter = {
  pred: (r: Record<string, unknown>) => boolean;
  resolve: (r: Record<string, unknown>) => void;
};

/**
 * Spawns `node cmd/keybrake.ts <args>` on ephemeral ports and waits for its `listening` log line.
 */
export async function startKeybrake(
  args: string[],
  /**
   * `cwd`: where it starts (the repository's root by default); give `env.PWD` as a shell would.
   * `stdout`: a file descriptor to give it as its stdout (`/dev/full`, say) instead of a pipe read here.
   */
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string; stdout?: number } = {},
): Promise<KeybrakeProcess> {
  const canary = await canaryRun();
  const testFile = canary ? await currentTestFile() : '';
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: opts.cwd ?? ROOT,
    env: { ...ambientEnv(), KEYBRAKE_LOG_LEVEL: 'info', ...(canary ? otelEnv(canary) : {}), ...opts.env },
    stdio: ['ignore', opts.stdout ?? 'pipe', 'pipe'],
  });
  const tee = canary ? teeOutputs(canary, testFile, child, args, opts.env) : undefined;
  let raw = '';
  const audit: Record<string, unknown>[] = [];
  const logs: Record<string, unknown>[] = [];
  const auditWaiters: Waiter[] = [];
  const logWaiters: Waiter[] = [];
  const feed = (line: string, into: Record<string, unknown>[], waiters: Waiter[]) => {
    raw += `${line}\n`;
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line);
    } catch {
      return;
    }
    into.push(rec);
    for (const w of [...waiters]) {
      if (w.pred(rec)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(rec);
      }
    }
  };
  if (child.stdout) createInterface({ input: child.stdout }).on('line', (l) => feed(l, audit, auditWaiters));
  createInterface({ input: child.stderr! }).on('line', (l) => feed(l, logs, logWaiters));

  const waitFor =
    (list: Record<string, unknown>[], waiters: Waiter[], what: string, onlyNew = false) =>
    (pred: (r: Record<string, unknown>) => boolean, timeoutMs = 10_000) => {
      const found = onlyNew ? undefined : list.find(pred);
      if (found) return Promise.resolve(found);
      return new Promise<Record<string, unknown>>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(new Error(`timed out waiting for ${what}; output so far:\n${raw.slice(-4000)}`));
        }, timeoutMs);
        const w: Waiter = {
          pred,
          resolve: (r) => {
            clearTimeout(timer);
            resolve(r);
          },
        };
        waiters.push(w);
      });
    };
  const waitForLog = waitFor(logs, logWaiters, 'a log line');
  const exited = once(child, 'exit');
  exited.then(
    () => tee?.close(),
    () => tee?.close(),
  );
  const listening = await Promise.race([
    waitForLog((l) => l.msg === 'listening', opts.timeoutMs ?? 20_000),
    exited.then(([code]) => {
      throw new Error(`keybrake exited with ${code} before listening:\n${raw}`);
    }),
  ]).catch((err: unknown) => {
    // Not listening in time: the caller gets no handle to stop it with, so it is stopped here (a CI
    // run at load average 12 left three such serves and their Redis running after the suite).
    child.kill('SIGKILL');
    throw err;
  });
  tee?.listening(listening.urls as Record<string, string>);
  return {
    urls: listening.urls as Record<string, string>,
    audit,
    output: () => raw,
    waitForAudit: waitFor(audit, auditWaiters, 'an audit record'),
    waitForLog,
    waitForNextLog: waitFor(logs, logWaiters, 'a new log line', true),
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        await tee?.scrapeMetrics();
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

/** A temporary manifests directory for one test. */
export async function manifestDir(
  files: Record<string, string>,
): Promise<{ dir: string; write(name: string, text: string): Promise<void>; remove(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'keybrake-manifests-'));
  const write = async (name: string, text: string) => {
    const canary = await canaryRun();
    if (canary) registerCanaries(canary, manifestCanaries(text, path.join(dir, name)));
    await writeFile(path.join(dir, name), text);
  };
  for (const [name, text] of Object.entries(files)) await write(name, text);
  return { dir, write, remove: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * `serve` flags for an e2e suite: every listener (main, admin, each vendor port) on an ephemeral
 * port, so suites run in parallel, and the given vendors' upstreams pointed at their emulators.
 */
export function serveArgs(manifests: string, upstreams: Partial<Record<string, string>>): string[] {
  const args = [
    'serve',
    '--manifests',
    manifests,
    '--listen',
    '127.0.0.1:0',
    '--admin-listen',
    '127.0.0.1:0',
  ];
  for (const vendor of ['stripe', 'twilio', 'resend']) args.push('--vendor-port', `${vendor}=127.0.0.1:0`);
  for (const [vendor, url] of Object.entries(upstreams)) {
    if (url !== undefined) args.push('--upstream', `${vendor}=${url}`);
  }
  return args;
}

/** What a finished `keybrake` command printed, and how it exited. */
export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node cmd/keybrake.ts <args>` to completion (the commands that exit: help, token, policy-check). */
export async function runKeybrake(
  args: string[],
  opts: {
    env?: NodeJS.ProcessEnv;
    timeoutMs?: number;
    /** Called as stderr grows, with all of it so far: for a test that acts while the command runs. */
    onStderr?: (stderr: string) => void;
    /** A file to give the command as its standard input (`< file`); none by default. */
    stdin?: string;
  } = {},
): Promise<CliResult> {
  const canary = await canaryRun();
  const testFile = canary ? await currentTestFile() : '';
  const stdin = opts.stdin === undefined ? undefined : await open(opts.stdin, 'r');
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: { ...ambientEnv(), ...opts.env },
    stdio: [stdin?.fd ?? 'ignore', 'pipe', 'pipe'],
  });
  // The child has its own copy of the descriptor once spawned.
  await stdin?.close();
  // `token new` prints a fresh vault token and `run start` a run key: that is their output, not a
  // leak; `run exec`'s stdout is the command it runs.
  const tee = canary
    ? teeOutputs(canary, testFile, child, args, opts.env, {
        stdout: args[0] !== 'token' && args[0] !== 'run',
      })
    : undefined;
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    opts.onStderr?.(stderr);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  tee?.close();
  return { code, stdout, stderr };
}

/**
 * The test runner's environment minus what would make a child act on a real cluster: an operator
 * started inside a Pod (CI in Kubernetes) would otherwise try to label that Pod.
 */
function ambientEnv(): NodeJS.ProcessEnv {
  const { POD_NAME: _name, POD_NAMESPACE: _namespace, ...rest } = process.env;
  return rest;
}

/**
 * The standard OTEL_* variables that make a keybrake process export its spans to the canary run's
 * OTLP/HTTP receiver (JSON, batched every 200 ms, flushed at shutdown). A test's own env wins.
 */
function otelEnv(canary: CanaryRun): NodeJS.ProcessEnv {
  return {
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${canary.otlp}/v1/traces`,
    OTEL_METRICS_EXPORTER: 'none',
    OTEL_LOGS_EXPORTER: 'none',
    OTEL_BSP_SCHEDULE_DELAY: '200',
    OTEL_SERVICE_NAME: 'keybrake-e2e',
  };
}

let spawned = 0;

/** The running test file's name, for the names of its processes' capture files. */
async function currentTestFile(): Promise<string> {
  try {
    const { expect } = await import('vitest');
    return path.basename(expect.getState().testPath ?? 'unknown');
  } catch {
    return 'unknown';
  }
}

/**
 * The canary scan's view of one process (test/env/canary.ts): its stdout and stderr teed into the
 * run's directory as they arrive, the secrets of the manifests it reads registered (at start and on
 * every change while it runs, so a token written and replaced mid-test counts), its /metrics scraped
 * before it is stopped, and the answers clients in this worker receive from its listeners recorded.
 */
function teeOutputs(
  canary: CanaryRun,
  testFile: string,
  child: ChildProcess,
  args: readonly string[],
  env: NodeJS.ProcessEnv | undefined,
  what: { stdout: boolean } = { stdout: true },
): {
  listening(urls: Record<string, string>): void;
  scrapeMetrics(): Promise<void>;
  close(): void;
} {
  spawned += 1;
  const base = outputFile(canary, `${testFile}-${args[0] ?? 'keybrake'}-${process.pid}-${spawned}`);
  const append = (suffix: string, data: Buffer | string) => {
    try {
      appendFileSync(`${base}.${suffix}`, data);
    } catch {
      // The run directory is gone: the run is over.
    }
  };
  if (what.stdout) child.stdout?.on('data', (d: Buffer) => append('stdout', d));
  child.stderr?.on('data', (d: Buffer) => append('stderr', d));

  // What it reads: every path argument (--manifests, policy-check's positional) and KEYBRAKE_MANIFESTS.
  const manifestEnv = env?.['KEYBRAKE_MANIFESTS'] ?? process.env['KEYBRAKE_MANIFESTS'];
  const paths = [...args, ...(manifestEnv ? manifestEnv.split(',') : [])].filter(
    (a) => a !== '' && !a.startsWith('-') && !a.includes('://') && !a.includes('='),
  );
  const resolved = paths.map((p) => path.resolve(ROOT, p));
  registerManifestCanaries(canary, resolved);
  const watchers: FSWatcher[] = [];
  for (const p of resolved) {
    try {
      const w = watch(p, () => registerManifestCanaries(canary, [p]));
      w.on('error', () => {});
      watchers.push(w);
    } catch {
      // not a path (a flag value such as a vendor name)
    }
  }
  let release = () => {};
  let admin: string | undefined;
  return {
    listening(urls) {
      admin = urls['admin'];
      release = captureResponses(canary, urls);
    },
    async scrapeMetrics() {
      if (admin === undefined) return;
      try {
        const res = await fetch(`${admin}/metrics`, { signal: AbortSignal.timeout(3_000) });
        append('metrics', await res.text());
      } catch {
        // A process that no longer answers: its other outputs are still scanned.
      }
    },
    close() {
      release();
      registerManifestCanaries(canary, resolved);
      for (const w of watchers) w.close();
    },
  };
}
