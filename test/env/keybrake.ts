import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';

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
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<KeybrakeProcess> {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: { ...ambientEnv(), KEYBRAKE_LOG_LEVEL: 'info', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
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
  createInterface({ input: child.stdout! }).on('line', (l) => feed(l, audit, auditWaiters));
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
  const listening = await Promise.race([
    waitForLog((l) => l.msg === 'listening', opts.timeoutMs ?? 20_000),
    exited.then(([code]) => {
      throw new Error(`keybrake exited with ${code} before listening:\n${raw}`);
    }),
  ]);
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
  const write = (name: string, text: string) => writeFile(path.join(dir, name), text);
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
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CliResult> {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: ROOT,
    env: { ...ambientEnv(), ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
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
