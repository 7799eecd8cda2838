// What held the operator's event loop in the slow trials of a profiled `bench:k8s-revoke` run
// (BENCH_OPERATOR_PROFILE): its probe's lines (bench/operator-stall-probe.ts) and its CPU profile.
// For each trial over 50 ms: the blocks and GC pauses in the second before its publish, and the
// functions the profiler sampled in the longest block, by self time and by the innermost frames of
// Keybrake's own code.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

interface Stall {
  readonly stall: 'block' | 'gc';
  readonly ms: number;
  readonly time: number;
  readonly endUs?: number;
  readonly major?: boolean;
}

interface CpuProfile {
  readonly nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    children?: number[];
  }[];
  readonly startTime: number;
  readonly samples: number[];
  readonly timeDeltas: number[];
}

const SLOW_MS = 50;
const BEFORE_MS = 1_000;

export async function operatorStallReport(
  dir: string,
  trials: readonly { allMs: number; publishedAt: number }[],
): Promise<string[]> {
  const stalls: Stall[] = [];
  for (const line of (await readFile(path.join(dir, 'operator.log'), 'utf8')).split('\n')) {
    if (!line.startsWith('{"diag":true')) continue;
    stalls.push(JSON.parse(line) as Stall);
  }
  const profileFile = (await readdir(dir)).find((f) => f.endsWith('.cpuprofile'));
  const profile = profileFile
    ? (JSON.parse(await readFile(path.join(dir, profileFile), 'utf8')) as CpuProfile)
    : undefined;
  const out: string[] = [];
  for (const t of trials.filter((x) => x.allMs > SLOW_MS)) {
    const near = stalls.filter(
      (s) => s.time > t.publishedAt - t.allMs - BEFORE_MS && s.time <= t.publishedAt,
    );
    out.push(
      `trial of ${t.allMs} ms: ${near.map((s) => `${s.stall === 'gc' ? (s.major ? 'major GC' : 'minor GC') : 'block'} ${s.ms} ms ending ${t.publishedAt - s.time} ms before the publish`).join('; ') || 'no stall before its publish'}`,
    );
    const longest = near.filter((s) => s.stall === 'block').sort((a, b) => b.ms - a.ms)[0];
    if (profile && longest?.endUs !== undefined)
      for (const l of sampled(profile, longest.endUs - longest.ms * 1000, longest.endUs)) out.push(`  ${l}`);
  }
  return out;
}

/** The top functions sampled between two monotonic times (µs), by self time and by Keybrake's frames. */
function sampled(profile: CpuProfile, fromUs: number, toUs: number): string[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const name = (id: number) => {
    const f = byId.get(id)!.callFrame;
    return `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
  };
  const self = new Map<string, number>();
  const ours = new Map<string, number>();
  let at = profile.startTime;
  let total = 0;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i] ?? 0;
    if (at < fromUs || at > toUs) return;
    total++;
    self.set(name(id), (self.get(name(id)) ?? 0) + 1);
    const chain: string[] = [];
    for (let n: number | undefined = id; n !== undefined && chain.length < 3; n = parent.get(n))
      if (byId.get(n)!.callFrame.url.includes('/src/')) chain.unshift(name(n));
    const key = chain.join(' > ') || '(no Keybrake frame)';
    ours.set(key, (ours.get(key) ?? 0) + 1);
  });
  const top = (m: Map<string, number>, label: string) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 5)
      .map(([k, n]) => `${label} ${((100 * n) / total).toFixed(0)}% ${k}`);
  return total === 0 ? ['no samples'] : [...top(self, 'self'), ...top(ours, 'in')];
}
