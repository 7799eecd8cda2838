// Syscalls per call: `strace -c -f` attached to the proxy process (every thread) while a fixed number
// of calls go through it. Attaching is awaited on strace's own "attached" lines, detaching on its
// exit (it writes the summary when interrupted). Without strace the figure is skipped, loudly.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { toolVersion } from './procfs.ts';

export function straceVersion(): string | undefined {
  return toolVersion('strace', ['-V'], /version (\S+)/);
}

export const STRACE_MISSING =
  'SYSCALL COUNTS SKIPPED: strace is not installed. Install it (apt-get install -y strace) and run again.';

/** What one traced phase counted. */
export interface SyscallCount {
  /** Calls answered while traced. */
  readonly calls: number;
  readonly total: number;
  readonly perCall: number;
  /** The most frequent syscalls, per call, largest first. */
  readonly top: Record<string, number>;
}

/** `strace -c` summary rows: `% time  seconds  usecs/call  calls  [errors]  syscall`. */
export function parseStraceSummary(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?([a-z_0-9]+)\s*$/.exec(line);
    if (m && m[2] !== 'total') out.set(m[2]!, Number(m[1]));
  }
  return out;
}

/**
 * Attaches to every thread of `pid`, runs `work` (which answers how many calls it made), detaches,
 * and divides. Idle work of the process during the phase (timers, GC threads) is counted too: the
 * phases are short and every variant pays it alike.
 */
export async function countSyscalls(pid: number, work: () => Promise<number>): Promise<SyscallCount> {
  const dir = await mkdtemp(path.join(tmpdir(), 'keybrake-bench-strace-'));
  const out = path.join(dir, 'summary.txt');
  const strace = spawn('strace', ['-c', '-f', '-o', out, '-p', String(pid)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = once(strace, 'exit');
  let stderr = '';
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`strace did not attach within 10 s:\n${stderr}`)),
        10_000,
      );
      createInterface({ input: strace.stderr! }).on('line', (line) => {
        stderr = `${stderr}${line}\n`.slice(-4_000);
        if (new RegExp(`Process ${pid} attached`).test(line)) {
          clearTimeout(timer);
          resolve();
        }
      });
      void exited.then(([code]) => {
        clearTimeout(timer);
        reject(new Error(`strace exited with ${code} before attaching:\n${stderr}`));
      });
    });
    const calls = await work();
    strace.kill('SIGINT');
    await exited;
    const counts = parseStraceSummary(await readFile(out, 'utf8'));
    const total = [...counts.values()].reduce((a, b) => a + b, 0);
    const top = Object.fromEntries(
      [...counts.entries()]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 6)
        .map(([name, n]) => [name, Math.round((n / calls) * 100) / 100]),
    );
    return { calls, total, perCall: total / calls, top };
  } finally {
    if (strace.exitCode === null && strace.signalCode === null) {
      strace.kill('SIGKILL');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  }
}
