// What the benchmark reads about a process from /proc (Linux): CPU time, resident memory, children,
// and the machine's load average. Absent /proc (another OS), every reader answers undefined and the
// figures that need it are reported as not measured.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let clockTicks: number | undefined;

/** Clock ticks per second of utime/stime (`getconf CLK_TCK`, 100 on Linux). */
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const n = Number(r.stdout?.trim());
    clockTicks = Number.isFinite(n) && n > 0 ? n : 100;
  }
  return clockTicks;
}

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** Fields of /proc/<pid>/stat after the command name (which may hold spaces), 1-based as in proc(5) minus 2. */
function statFields(pid: number): string[] | undefined {
  const text = read(`/proc/${pid}/stat`);
  if (!text) return undefined;
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/** User + system CPU seconds of every thread of `pid` so far (utime + stime). */
export function cpuSeconds(pid: number): number | undefined {
  const f = statFields(pid);
  if (!f) return undefined;
  // proc(5): utime is field 14, stime 15; f[0] is field 3 (state).
  return (Number(f[11]) + Number(f[12])) / ticksPerSecond();
}

/** CPU seconds of several processes together (nginx: master and worker). */
export function cpuSecondsOf(pids: readonly number[]): number | undefined {
  let total = 0;
  for (const pid of pids) {
    const s = cpuSeconds(pid);
    if (s === undefined) return undefined;
    total += s;
  }
  return total;
}

/** A `kB` line of /proc/<pid>/status (VmRSS, VmHWM) in MiB. */
export function statusMiB(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(read(`/proc/${pid}/status`) ?? '');
  return m ? Number(m[1]) / 1024 : undefined;
}

/** Processes whose parent is `pid` (nginx's workers). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const f = statFields(Number(e));
    if (f && Number(f[1]) === pid) out.push(Number(e));
  }
  return out;
}

/** Every process below `pid`: its children, theirs, and so on (an interrupted run stops them all). */
export function descendantsOf(pid: number): number[] {
  const out: number[] = [];
  for (const child of childrenOf(pid)) out.push(child, ...descendantsOf(child));
  return out;
}

/** /proc/loadavg's 1, 5 and 15 minute figures. */
export function loadAverage(): [number, number, number] | undefined {
  const parts = read('/proc/loadavg')?.split(' ');
  if (!parts || parts.length < 3) return undefined;
  return [Number(parts[0]), Number(parts[1]), Number(parts[2])];
}

/** The CPU model as /proc/cpuinfo names it (the hypervisor may hide the exact one). */
export function cpuModel(): string | undefined {
  return /^model name\s*:\s*(.+)$/m.exec(read('/proc/cpuinfo') ?? '')?.[1]?.trim();
}

/** The version line a tool prints, or undefined when it is not installed. */
export function toolVersion(command: string, args: string[], pattern: RegExp): string | undefined {
  const r = spawnSync(command, args, { encoding: 'utf8' });
  if (r.error) return undefined;
  return pattern.exec(`${r.stdout}\n${r.stderr}`)?.[1] ?? 'unknown';
}
