// The scale series (docs/benchmarks.md): for 1 key and then N keys (1k, 10k, 100k by default), how
// long `keybrake serve` takes to be ready and how much memory it holds (and `keybrake proxy`, from an
// operator's snapshot of as many keys), whether looking a key up
// costs the same in a big table as in a one-key table, what `policy-check` costs, where loading
// goes stage by stage, and what a one-key edit does to calls while the whole table is reloaded.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CLI } from '../test/env/keybrake.ts';
import { combinePhases, type PhaseResult, percentile, runPaced, type Target } from './measure.ts';
import { type Child, ROOT, startFollowingProxy, startKeybrake, startSnapshotOperator } from './processes.ts';
import { statusMiB } from './procfs.ts';
import { type ProfileSummary, summarizeProfileDir } from './profile.ts';
import { mintTokens, type ScaleManifests, writeScaleManifests } from './scale-manifests.ts';

export interface StageTimes {
  readonly documents: number;
  readonly errors: number;
  readonly served: number;
  /** Reading the files and parsing their YAML (loadManifests). */
  readonly loadMs: number;
  readonly validateMs: number;
  readonly compileMs: number;
  readonly heapUsedMiB: number;
  readonly rssMiB: number;
  /** load + validate + compile of every run (OFFLINE_RUNS), in order; the fields above are the median run's. */
  readonly runsMs?: readonly number[];
}

/**
 * Each offline command (the stages, policy-check) runs this many times, each in a process of its
 * own, and the run with the median time stands for the size: one run on this shared machine varies
 * by ±0.3 s at 100 000 keys, more than the difference a change makes.
 */
export const OFFLINE_RUNS = 3;

/** `measure` run `runs` times, one after the other; null if any run failed. */
async function repeat<T>(runs: number, measure: () => Promise<T | null>): Promise<T[] | null> {
  const results: T[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await measure();
    if (r === null) return null;
    results.push(r);
  }
  return results;
}

/** The result whose `value` is the median (the lower middle of an even count). */
function medianBy<T>(results: readonly T[], value: (t: T) => number): T {
  return [...results].sort((a, b) => value(a) - value(b))[Math.floor((results.length - 1) / 2)]!;
}

/** One size of the series. */
export interface ScaleRow {
  readonly keys: number;
  readonly manifestMiB: number;
  /** Generating and writing the manifests (not Keybrake's time). */
  readonly writeMs: number;
  readonly stages: StageTimes | null;
  /** The median of OFFLINE_RUNS runs (`runsMs`: each run's wall time, in order). */
  readonly policyCheck: { ms: number; maxRssMiB: number | null; ok: boolean; runsMs?: readonly number[] };
  readonly serve: {
    readyMs: number;
    rssMiB: number | null;
    peakRssMiB: number | null;
    heapUsedMiB: number | null;
  };
  /**
   * `keybrake proxy` started from an operator's snapshot of a generated table of as many keys, with
   * the chart's NODE_OPTIONS: from spawn to the whole table in force, its RSS then and its peak.
   */
  readonly proxyStart: { readyMs: number; rssMiB: number | null; peakRssMiB: number | null } | null;
  /** Paced GETs, each with a random key of the table (the 1-key row: always the same key). */
  readonly lookup: PhaseResult;
  /**
   * Sizes past 1: the 1-key table's paced GETs measured in the same rounds as `lookup`, interleaved
   * with them (the lookup target's reference). Null on the 1-key row.
   */
  readonly lookupReference: PhaseResult | null;
  /** One-key edits while the paced load runs: calls sent between each edit and its reload's log line, pooled. */
  readonly reload: {
    /** The median reload. */
    ms: number;
    msEach: number[];
    reloads: number;
    applied: boolean;
    requests: number;
    p50: number;
    p99: number;
    max: number;
    errors: number;
  } | null;
  /** BENCH_PROFILE=1, largest size only: a second start of serve under --cpu-prof, summarised. */
  readonly startProfile?: ProfileSummary | null;
}

export interface ScaleOptions {
  readonly sizes: readonly number[];
  readonly upstream: string;
  readonly rate: number;
  readonly seconds: number;
  /** Rounds the lookup phase is split into, alternating with the 1-key reference (BENCH_ROUNDS). */
  readonly rounds: number;
  /** Sizes from which a reload is measured. */
  readonly reloadFrom: number;
  /** Profile serve's start-up at the largest size (a start of its own: the profiler slows it). */
  readonly profile: boolean;
  readonly notes: string[];
  readonly log: (line: string) => void;
}

/** A deterministic random sequence (xorshift32), so every run picks the same keys. */
function randomIndexes(seed: number, below: number, from: number): (i: number) => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return from + ((x >>> 0) % (below - from));
  };
}

async function stageTimes(dir: string): Promise<StageTimes | null> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bench/stages.ts'), dir], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  const [code] = await once(child, 'exit');
  if (code !== 0) return null;
  return JSON.parse(out) as StageTimes;
}

const stagesMs = (s: StageTimes) => s.loadMs + s.validateMs + s.compileMs;

const GNU_TIME = '/usr/bin/time';

export const TIME_MISSING =
  'POLICY-CHECK MEMORY SKIPPED: GNU time is not installed (/usr/bin/time). Install it (apt-get install -y time) and run again.';

/** `keybrake policy-check <dir>`: wall time from spawn to exit, and its peak RSS (GNU time -v). */
async function policyCheck(dir: string): Promise<ScaleRow['policyCheck']> {
  const withTime = existsSync(GNU_TIME);
  const argv = [process.execPath, CLI, 'policy-check', dir];
  const started = performance.now();
  const child = withTime
    ? spawn(GNU_TIME, ['-v', ...argv], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] })
    : spawn(argv[0]!, argv.slice(1), { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    stderr = `${stderr}${d}`.slice(-8_000);
  });
  const [code] = await once(child, 'exit');
  const ms = performance.now() - started;
  const kb = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)?.[1];
  return { ms, maxRssMiB: kb === undefined ? null : Number(kb) / 1024, ok: code === 0 };
}

async function heapUsedMiB(adminUrl: string): Promise<number | null> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  const m = /^nodejs_heap_size_used_bytes (\S+)$/m.exec(text);
  return m ? Number(m[1]) / 2 ** 20 : null;
}

function getTarget(base: string): Target {
  return { url: `${base}/v1/customers?limit=3`, method: 'GET', headers: {} };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

type Serving = { kb: Child & { stripeUrl: string }; m: ScaleManifests };

/** Paced GETs over random keys of the table, after a second of warm-up of the same shape. */
async function lookups({ kb, m }: Serving, opts: ScaleOptions, seconds = opts.seconds, warm = true) {
  const from = m.keys > 1 ? 1 : 0; // key 0 is the one the reload suspends
  const pick = randomIndexes(m.keys, m.keys, from);
  const headersFor = () => bearer(m.tokens[pick(0)]!);
  const load = { connections: 10, overallRate: opts.rate };
  if (warm) await runPaced(getTarget(kb.stripeUrl), { ...load, seconds: 1 }, { headersFor });
  const samples = { sentAt: [] as number[], ms: [] as number[] };
  const phase = await runPaced(getTarget(kb.stripeUrl), { ...load, seconds }, { headersFor, samples });
  return { phase, ms: samples.ms };
}

/**
 * The lookup phase of a big table and of the 1-key reference, in `opts.rounds` rounds of
 * `seconds / rounds` each, alternating (the order turns every round), after a warm-up of each: a
 * burst of other work on the machine falls on both alike. Until 2026-12-02 the reference was the
 * 1-key row's own phase, measured minutes before the big table's: the box's drift between the two
 * (±20 % in p50 on this machine) read as lookup cost.
 */
async function interleavedLookups(big: Serving, reference: Serving, opts: ScaleOptions) {
  const rounds = Math.max(1, opts.rounds);
  const sides = [big, reference];
  const parts: { phase: PhaseResult; ms: number[] }[][] = [[], []];
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < sides.length; k++) {
      const i = (k + round) % sides.length;
      parts[i]!.push(await lookups(sides[i]!, opts, opts.seconds / rounds, round === 0));
    }
  }
  const whole = (p: { phase: PhaseResult; ms: number[] }[]) =>
    combinePhases(
      p.map((x) => x.phase),
      p.flatMap((x) => x.ms),
    );
  return { lookup: whole(parts[0]!), lookupReference: whole(parts[1]!) };
}

/**
 * `measure` with a 1-key serve started for it, as fresh as the bigger table's serve it is compared
 * with. Until 2026-12-02 (fifteenth round) one 1-key serve stayed up through the series: by the
 * 100 000-key phase it had served every earlier phase, its code optimised and its heap settled, and
 * it answered faster than any serve just started, whatever its table: +30 % p50 at 100 000 keys
 * in two runs, where two fresh serves interleaved read 0.681 against 0.705 ms (a 1-key serve warmed
 * 40 s first: 0.587 against 0.691 ms, and 297 against 374 µs of CPU per call).
 */
async function freshReference<T>(
  one: ScaleManifests,
  opts: ScaleOptions,
  measure: (reference: Serving) => Promise<T>,
): Promise<T> {
  const kb = await startKeybrake({ manifests: one.dir, upstream: opts.upstream });
  try {
    return await measure({ kb, m: one });
  } finally {
    await kb.stop();
  }
}

/** One reload under load: how long it took, and the latencies (ms) of the calls sent meanwhile. */
interface ReloadWindow {
  readonly ms: number;
  readonly applied: boolean;
  readonly during: number[];
  readonly errors: number;
}

/** One-key edits per reload measurement: key 0 suspended, resumed, suspended. */
const RELOADS = 3;

/**
 * Calls during RELOADS one-key reloads, pooled: at 100 000 keys a reload takes a few tenths of a
 * second, about 300 calls at 1000 req/s, whose p99 is their 3rd slowest; three windows give the p99
 * ten calls. `ms` is the median reload.
 */
async function reloadsWhileServing(
  kb: Child & { stripeUrl: string },
  m: ScaleManifests,
  opts: ScaleOptions,
): Promise<ScaleRow['reload']> {
  const windows: ReloadWindow[] = [];
  for (let i = 0; i < RELOADS; i++) {
    const w = await reloadWhileServing(kb, m, opts, i % 2 === 0);
    if (!w) return null;
    windows.push(w);
  }
  const during = windows.flatMap((w) => w.during).sort((a, b) => a - b);
  const ms = windows.map((w) => w.ms).sort((a, b) => a - b);
  return {
    ms: ms[Math.floor(ms.length / 2)]!,
    msEach: windows.map((w) => w.ms),
    reloads: windows.length,
    applied: windows.every((w) => w.applied),
    requests: during.length,
    p50: percentile(during, 0.5),
    p99: percentile(during, 0.99),
    max: during.at(-1) ?? Number.NaN,
    errors: windows.reduce((n, w) => n + w.errors, 0),
  };
}

/**
 * The paced load again; half a second in, key 0's file is rewritten with the key suspended or
 * resumed. The window is from that write to serve's `policy reloaded` line (or its refusal); the
 * load goes on half a second past it.
 */
async function reloadWhileServing(
  kb: Child & { stripeUrl: string },
  m: ScaleManifests,
  opts: ScaleOptions,
  suspended: boolean,
): Promise<ReloadWindow | null> {
  const pick = randomIndexes(7 * m.keys + 1, m.keys, 1);
  const samples = { sentAt: [] as number[], ms: [] as number[] };
  const timeoutMs = Math.max(60_000, m.keys * 5);
  let editAt: number | undefined;
  let doneAt: number | undefined;
  let applied = false;
  let failure: unknown;
  const phase = await runPaced(
    getTarget(kb.stripeUrl),
    { connections: 10, overallRate: opts.rate, seconds: timeoutMs / 1000 + 5 },
    {
      headersFor: () => bearer(m.tokens[pick(0)]!),
      samples,
      onSent: (sent) => {
        if (sent !== Math.round(opts.rate / 2)) return;
        const outcome = kb.waitForLine(
          (l) => l['msg'] === 'policy reloaded' || l['msg'] === 'manifest change rejected',
          timeoutMs,
          'reload after a one-key edit',
        );
        editAt = performance.now();
        void m.setFirstKeySuspended(suspended);
        outcome.then(
          (l) => {
            applied = l['msg'] === 'policy reloaded';
            doneAt = performance.now();
          },
          (err: unknown) => {
            failure = err;
            doneAt = performance.now();
          },
        );
      },
      stop: () => doneAt !== undefined && performance.now() > doneAt + 500,
    },
  );
  if (failure) opts.notes.push(`reload at ${m.keys} keys: ${String(failure)}`);
  if (editAt === undefined || doneAt === undefined) return null;
  const during: number[] = [];
  for (let i = 0; i < samples.sentAt.length; i++) {
    const t = samples.sentAt[i]!;
    if (t >= editAt && t <= doneAt) during.push(samples.ms[i]!);
  }
  return { ms: doneAt - editAt, applied, during, errors: phase.errors + phase.non2xx };
}

/** A proxy's start from a snapshot of `keys` keys (ScaleRow.proxyStart); null, with a note, if it failed. */
async function proxyStart(keys: number, dir: string, opts: ScaleOptions): Promise<ScaleRow['proxyStart']> {
  let operator: (Child & { url: string }) | undefined;
  let proxy: Child | undefined;
  try {
    operator = await startSnapshotOperator(keys);
    const tokenFile = path.join(dir, 'proxy-token');
    await writeFile(tokenFile, 'bench-proxy-token\n');
    proxy = await startFollowingProxy({
      operatorUrl: operator.url,
      tokenFile,
      upstream: opts.upstream,
      readyTimeoutMs: Math.max(60_000, keys * 2),
    });
    return {
      readyMs: proxy.readyMs,
      rssMiB: statusMiB(proxy.pid, 'VmRSS') ?? null,
      peakRssMiB: statusMiB(proxy.pid, 'VmHWM') ?? null,
    };
  } catch (err) {
    opts.notes.push(`proxy start from a snapshot of ${keys} keys: ${String(err)}`);
    return null;
  } finally {
    await proxy?.stop();
    await operator?.stop();
  }
}

/** `keybrake serve` started under --cpu-prof and stopped once listening: where its start-up goes. */
async function profileStart(m: ScaleManifests, opts: ScaleOptions): Promise<ProfileSummary | null> {
  const dir = path.join(path.dirname(m.dir), 'profile');
  await mkdir(dir, { recursive: true });
  opts.log(`scale: ${m.keys} keys, profiling serve's start-up (--cpu-prof)`);
  const kb = await startKeybrake({
    manifests: m.dir,
    upstream: opts.upstream,
    readyTimeoutMs: Math.max(60_000, m.keys * 10),
    nodeArgs: ['--cpu-prof', '--cpu-prof-dir', dir],
  });
  await kb.stop(); // the profile is written as the process exits
  return summarizeProfileDir(dir);
}

export async function runScaleSeries(opts: ScaleOptions): Promise<ScaleRow[]> {
  const parent = await mkdtemp(path.join(tmpdir(), 'keybrake-bench-scale-'));
  const rows: ScaleRow[] = [];
  if (!existsSync(GNU_TIME)) opts.notes.push(TIME_MISSING);
  // The 1-key table's manifests stay through the series: every bigger table's lookup phase is
  // interleaved with a 1-key serve started beside it (interleavedLookups, freshReference).
  let one: ScaleManifests | undefined;
  try {
    const sizes = [...new Set([1, ...opts.sizes])].sort((a, b) => a - b);
    const tokens = mintTokens(sizes.at(-1)!);
    for (const keys of sizes) {
      const m = await writeScaleManifests(parent, keys, tokens);
      opts.log(`scale: ${keys} keys (${(m.bytes / 2 ** 20).toFixed(1)} MiB of manifests)`);
      const staged = await repeat(OFFLINE_RUNS, () => stageTimes(m.dir));
      const stages = staged && { ...medianBy(staged, stagesMs), runsMs: staged.map(stagesMs) };
      const checks = (await repeat(OFFLINE_RUNS, () => policyCheck(m.dir)))!;
      const check = {
        ...medianBy(checks, (c) => c.ms),
        ok: checks.every((c) => c.ok),
        runsMs: checks.map((c) => c.ms),
      };
      const kb = await startKeybrake({
        manifests: m.dir,
        upstream: opts.upstream,
        readyTimeoutMs: Math.max(60_000, keys * 5),
      });
      try {
        const serve = {
          readyMs: kb.readyMs,
          rssMiB: statusMiB(kb.pid, 'VmRSS') ?? null,
          peakRssMiB: statusMiB(kb.pid, 'VmHWM') ?? null,
          heapUsedMiB: await heapUsedMiB(kb.adminUrl),
        };
        const { lookup, lookupReference } = one
          ? await freshReference(one, opts, (reference) => interleavedLookups({ kb, m }, reference, opts))
          : { lookup: (await lookups({ kb, m }, opts)).phase, lookupReference: null };
        const reload = keys >= opts.reloadFrom ? await reloadsWhileServing(kb, m, opts) : null;
        await kb.stop();
        opts.log(`scale: ${keys} keys, a proxy's start from the operator's snapshot`);
        const fromSnapshot = await proxyStart(keys, parent, opts);
        const startProfile = opts.profile && keys === sizes.at(-1) ? await profileStart(m, opts) : undefined;
        rows.push({
          keys,
          manifestMiB: m.bytes / 2 ** 20,
          writeMs: m.writeMs,
          stages,
          policyCheck: check,
          serve,
          proxyStart: fromSnapshot,
          lookup,
          lookupReference,
          reload,
          ...(startProfile !== undefined ? { startProfile } : {}),
        });
      } finally {
        await kb.stop();
        if (keys === 1) one = m;
        else await m.remove();
      }
    }
  } finally {
    await rm(parent, { recursive: true, force: true });
  }
  return rows;
}
