// Where a CPU profile's time went (`node --cpu-prof` output): self time by package or source
// directory, and the functions with the most self time. Used by the scale series with
// BENCH_PROFILE=1 to say what `keybrake serve` spends its start-up on.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

export interface ProfileSummary {
  readonly totalMs: number;
  /** [package or directory, ms, share] by self time, largest first. */
  readonly byPackage: readonly [string, number, number][];
  readonly byFunction: readonly [string, number, number][];
}

const ROOT_URL = `file://${path.resolve(import.meta.dirname, '..')}/`;

function where(url: string, fn: string): string {
  const u = url.startsWith(ROOT_URL) ? url.slice(ROOT_URL.length) : url;
  if (u.startsWith('node_modules/')) {
    const parts = u.split('/');
    return parts.slice(0, parts[1]?.startsWith('@') ? 3 : 2).join('/');
  }
  if (u === '') return fn || '(native)';
  return u.startsWith('node:') ? u.split('/').slice(0, 2).join('/') : path.dirname(u);
}

export function summarizeProfile(profile: {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}): ProfileSummary {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    // A thread waiting is not time spent: with serve's compile thread, the main thread idles
    // while the other works.
    if (nodes.get(id)?.callFrame.functionName === '(idle)') return;
    const dt = profile.timeDeltas[i] ?? 0;
    self.set(id, (self.get(id) ?? 0) + dt);
    total += dt;
  });
  const byPackage = new Map<string, number>();
  const byFunction = new Map<string, number>();
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = nodes.get(id)!.callFrame;
    const pkg = where(url, functionName);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us);
    const short = url.startsWith(ROOT_URL) ? url.slice(ROOT_URL.length) : url;
    const fn = `${functionName || '(anonymous)'}${short ? ` ${short}:${lineNumber + 1}` : ''}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
  }
  const top = (m: Map<string, number>, n: number): [string, number, number][] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, us]) => [k, Math.round(us / 1000), Math.round((us / total) * 1000) / 10]);
  return {
    totalMs: Math.round(total / 1000),
    byPackage: top(byPackage, 10),
    byFunction: top(byFunction, 15),
  };
}

/** The .cpuprofile files a process wrote into `dir` (one per thread: serve has two), summarised as one. */
export async function summarizeProfileDir(dir: string): Promise<ProfileSummary | null> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) return null;
  const merged = { nodes: [] as ProfileNode[], samples: [] as number[], timeDeltas: [] as number[] };
  for (const file of files) {
    const p = JSON.parse(await readFile(path.join(dir, file), 'utf8')) as typeof merged;
    // Node ids are per profile: shift each profile's above the last.
    const offset = merged.nodes.reduce((max, n) => Math.max(max, n.id), 0);
    for (const n of p.nodes) merged.nodes.push({ ...n, id: n.id + offset });
    for (const id of p.samples) merged.samples.push(id + offset);
    for (const dt of p.timeDeltas) merged.timeDeltas.push(dt);
  }
  return summarizeProfile(merged);
}
