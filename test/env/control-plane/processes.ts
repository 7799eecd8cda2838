// Child-process helpers for the test control plane: one-shot commands (openssl, kubectl, helm, build.sh)
// and long-running daemons (etcd, kube-apiserver) that must never outlive the test run.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, rmSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';

export interface CommandResult {
  stdout: string;
  stderr: string;
  code: number;
}

export interface RunOptions {
  /** Written to the command's stdin (e.g. a manifest for `kubectl apply -f -`). */
  input?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kill the command after this long; the result then has code 124 like coreutils' timeout. */
  timeoutMs?: number;
  /** Stream stderr to our stderr as it arrives (long builds show progress). */
  inheritStderr?: boolean;
}

/** Runs a command to completion. Never rejects on a non-zero exit: callers decide what a failure is. */
export function runCommand(file: string, args: string[], opts: RunOptions = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', opts.inheritStderr ? 'inherit' : 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer =
      opts.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGKILL');
          }, opts.timeoutMs);
    child.stdout?.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${file}: ${error.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stderr = Buffer.concat(err).toString('utf8');
      resolve({
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: timedOut ? `${stderr}\n(killed after ${opts.timeoutMs} ms)` : stderr,
        code: timedOut ? 124 : (code ?? (signal ? 128 : 1)),
      });
    });
    // A command may exit without reading its input; that EPIPE is not our failure, its exit code is.
    child.stdin?.on('error', () => {});
    child.stdin?.end(opts.input);
  });
}

/** Like runCommand but throws with the command line and stderr when it fails. */
export async function runChecked(
  file: string,
  args: string[],
  opts: RunOptions = {},
): Promise<CommandResult> {
  const result = await runCommand(file, args, opts);
  if (result.code !== 0) {
    throw new Error(`${file} ${args.join(' ')} exited with ${result.code}:\n${result.stderr.trim()}`);
  }
  return result;
}

const TAIL_LINES = 60;

/** A long-running process in its own process group, with its output logged to a file and kept as a tail. */
export class Daemon {
  readonly name: string;
  readonly exited: Promise<void>;
  exitStatus: string | undefined;
  private readonly child: ChildProcess;
  private readonly tail: string[] = [];
  private partial = '';

  constructor(name: string, file: string, args: string[], logFile: string) {
    this.name = name;
    // detached: a process group of its own, so stop() can signal the whole group and a Ctrl-C aimed at
    // the test runner does not race our orderly shutdown.
    this.child = spawn(file, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const log = createWriteStream(logFile);
    const onData = (chunk: Buffer) => {
      log.write(chunk);
      this.remember(chunk.toString('utf8'));
    };
    this.child.stdout?.on('data', onData);
    this.child.stderr?.on('data', onData);
    this.exited = new Promise((resolve) => {
      this.child.on('error', (error) => {
        this.exitStatus = `failed to start: ${error.message}`;
        resolve();
      });
      this.child.on('exit', (code, signal) => {
        this.exitStatus = signal ? `killed by ${signal}` : `exited with code ${code}`;
        log.end();
        resolve();
      });
    });
    liveDaemons.add(this);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitStatus === undefined;
  }

  /** The last lines the process printed, for error messages. */
  outputTail(): string {
    const lines = this.partial ? [...this.tail, this.partial] : this.tail;
    return lines.join('\n');
  }

  /** SIGTERM to the group, SIGKILL if it is still there after graceMs. */
  async stop(graceMs = 5_000): Promise<void> {
    if (this.running) {
      this.signal('SIGTERM');
      // ref: false, or the losing grace timer alone would keep the test runner alive for graceMs.
      const stopped = await Promise.race([
        this.exited.then(() => true),
        delay(graceMs, false, { ref: false }),
      ]);
      if (!stopped) {
        this.signal('SIGKILL');
        await this.exited;
      }
    }
    liveDaemons.delete(this);
  }

  /** Synchronous last resort for process exit handlers, where nothing asynchronous runs any more. */
  killNow(): void {
    if (this.running) this.signal('SIGKILL');
    liveDaemons.delete(this);
  }

  private signal(signal: NodeJS.Signals): void {
    if (this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, signal);
    } catch {
      // ESRCH: the group is already gone.
    }
  }

  private remember(text: string): void {
    const lines = (this.partial + text).split('\n');
    this.partial = lines.pop() ?? '';
    this.tail.push(...lines);
    if (this.tail.length > TAIL_LINES) this.tail.splice(0, this.tail.length - TAIL_LINES);
  }
}

const liveDaemons = new Set<Daemon>();
const tempDirs = new Set<string>();

/** Temp dirs registered here are removed by the exit handlers if stop() never ran. */
export function registerTempDir(dir: string): () => void {
  installExitHandlers();
  tempDirs.add(dir);
  return () => tempDirs.delete(dir);
}

function cleanupSync(): void {
  for (const daemon of [...liveDaemons]) daemon.killNow();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

let handlersInstalled = false;

// Detached children survive their parent, so whoever ends this process (normal exit, Ctrl-C, a CI
// timeout's SIGTERM) must take etcd and kube-apiserver down with it. SIGKILL of the test runner itself
// cannot be intercepted; the README says how to find leftovers.
function installExitHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', cleanupSync);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = () => {
      cleanupSync();
      process.off(signal, onSignal);
      // Keep the default behaviour (terminate) unless the host process (e.g. vitest) handles it itself.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

export interface PollOptions {
  what: string;
  deadline: number;
  /** Fail fast, with its output, if this daemon dies while we wait. */
  daemon?: Daemon;
  intervalMs?: number;
}

/** Polls check() until it returns true; throws with the last check error and the daemon's output tail. */
export async function pollUntil(check: () => Promise<boolean>, opts: PollOptions): Promise<void> {
  let lastError = 'not ready yet';
  for (;;) {
    if (opts.daemon && !opts.daemon.running) {
      throw new Error(
        `${opts.daemon.name} ${opts.daemon.exitStatus} while waiting for ${opts.what}. Output tail:\n` +
          opts.daemon.outputTail(),
      );
    }
    try {
      if (await check()) return;
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() > opts.deadline) {
      const tail = opts.daemon ? `\n${opts.daemon.name} output tail:\n${opts.daemon.outputTail()}` : '';
      throw new Error(`timed out waiting for ${opts.what} (last: ${lastError})${tail}`);
    }
    await delay(opts.intervalMs ?? 200);
  }
}
