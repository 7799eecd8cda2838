// `npm run bench`: what Keybrake adds to a call and what it costs beyond a bare hop, in one run
// (DESIGN.md §8, docs/benchmarks.md).
//
// For a priced POST /v1/charges and a free GET /v1/customers, six ways to the same fixed-answer
// upstream (bench/upstream.ts): direct; three bare hops as baselines (nginx, node:http + undici,
// fastify + undici); `keybrake serve` with memory counters; and with Redis counters. Each is measured
// at a fixed paced rate (latency), at saturation (throughput, and CPU per request from /proc), each
// in rounds interleaved across the variants, and under strace (syscalls per call). Redis script round trips are counted per money call and per
// read. Then the scale series (bench/scale.ts): 1k/10k/100k VaultKeys. Targets are printed as
// PASS/FAIL and the figures written to bench/results/latest.json and docs/benchmarks.md; the exit
// code is 0 unless something crashed. Missing optional tools (redis-server, nginx, strace, GNU time)
// skip their part with a loud note and the command that installs them.
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type RedisServer, startRedis } from '../test/env/redis.ts';
import { writeBenchManifests } from './manifests.ts';
import { combinePhases, type Load, runPaced, runPhase, type Target } from './measure.ts';
import { NGINX_MISSING, nginxVersion, startNginx } from './nginx.ts';
import { type Child, startHop, startKeybrake, startUpstream } from './processes.ts';
import { cpuModel, cpuSecondsOf, descendantsOf, loadAverage } from './procfs.ts';
import { proxyCalls, scriptCalls } from './redis-stats.ts';
import {
  type BenchReport,
  markdownReport,
  printReport,
  type RoundTrips,
  type Row,
  type Variant,
} from './report.ts';
import { runScaleSeries } from './scale.ts';
import { countSyscalls, STRACE_MISSING, type SyscallCount, straceVersion } from './strace.ts';

const env = process.env;
const SECONDS = Number(env['BENCH_SECONDS'] ?? 8);
const RATE = Number(env['BENCH_RATE'] ?? 1000);
const SYSCALL_CALLS = Number(env['BENCH_SYSCALL_CALLS'] ?? 1000);
const SYSCALL_RATE = Number(env['BENCH_SYSCALL_RATE'] ?? 250);
/** Sizes of the scale series; `0` or `off` skips it. The 1-key table is always measured first. */
const SCALE = (env['BENCH_SCALE'] ?? '1000,10000,100000').trim();
const WRITE_DOCS = env['BENCH_WRITE_DOCS'] !== '0';
/** Which parts run: `requests` (the six variants), `scale` (the series); both by default. */
const PARTS = new Set((env['BENCH_PARTS'] ?? 'requests,scale').split(',').map((p) => p.trim()));
/** BENCH_PROFILE=1: also profile serve's start-up at the largest size of the scale series. */
const PROFILE = env['BENCH_PROFILE'] === '1';
const FIXED: Required<Load> = { connections: 10, seconds: SECONDS, overallRate: RATE };
const SATURATED: Load = { connections: 32, seconds: SECONDS };
const WARM_UP_SECONDS = 1;
/** Each measured phase is split into this many rounds, interleaved across the variants. */
const ROUNDS = Number(env['BENCH_ROUNDS'] ?? 4);
const RESULTS = path.join(import.meta.dirname, 'results', 'latest.json');
const DOCS = path.join(import.meta.dirname, '..', 'docs', 'benchmarks.md');
const DOCS_START = '<!-- bench:latest:start (written by npm run bench) -->';
const DOCS_END = '<!-- bench:latest:end -->';

const REQUESTS = [
  { name: 'POST /v1/charges', method: 'POST', path: '/v1/charges', body: 'amount=100&currency=usd' },
  { name: 'GET /v1/customers', method: 'GET', path: '/v1/customers?limit=3' },
] as const;

const log = (line: string) => process.stderr.write(`bench: ${line}\n`);

function target(base: string, token: string, req: (typeof REQUESTS)[number]): Target {
  return {
    url: `${base}${req.path}`,
    method: req.method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(req.method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
    },
    ...('body' in req ? { body: req.body } : {}),
  };
}

/** The commit measured, and whether src/ or cmd/ had uncommitted changes (others may be editing). */
function codeVersion(): { commit: string; uncommittedChanges: boolean } | null {
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  if (head.error || head.status !== 0) return null;
  const dirty = spawnSync('git', ['status', '--porcelain', '--', 'src', 'cmd'], { encoding: 'utf8' });
  return { commit: head.stdout.trim(), uncommittedChanges: (dirty.stdout ?? '').trim() !== '' };
}

function version(command: string, args: string[], pattern: RegExp): string | undefined {
  const r = spawnSync(command, args, { encoding: 'utf8' });
  return r.error ? undefined : (pattern.exec(`${r.stdout}${r.stderr}`)?.[1] ?? 'unknown');
}

/** A started variant: where to send calls, which processes to measure. */
interface Started {
  readonly base: string;
  /** Processes whose CPU is the proxy's (empty: direct). */
  readonly cpuPids: readonly number[];
  /** The process strace attaches to (direct: the upstream itself). */
  readonly tracePid: number;
  readonly admin?: string;
  stop(): Promise<void>;
}

async function writeDocs(report: BenchReport): Promise<void> {
  const block = `${DOCS_START}\n\n${markdownReport(report)}\n\n${DOCS_END}`;
  const text = await readFile(DOCS, 'utf8').catch(() => '# Benchmarks\n');
  const a = text.indexOf(DOCS_START);
  const b = text.indexOf(DOCS_END);
  const next =
    a !== -1 && b > a
      ? `${text.slice(0, a)}${block}${text.slice(b + DOCS_END.length)}`
      : `${text.trimEnd()}\n\n## Latest run\n\n${block}\n`;
  await writeFile(DOCS, next);
}

/** Rounds of one phase, variant after variant (the order rotating each round), after a warm-up each. */
async function inRounds<T>(
  running: readonly { variant: Variant; proxy: Started }[],
  warmUp: (i: number) => Promise<unknown>,
  round: (i: number) => Promise<T>,
): Promise<T[][]> {
  for (let i = 0; i < running.length; i++) await warmUp(i);
  const out: T[][] = running.map(() => []);
  for (let r = 0; r < ROUNDS; r++) {
    for (let k = 0; k < running.length; k++) {
      const i = (r + k) % running.length;
      out[i]!.push(await round(i));
    }
  }
  return out;
}

/** Every phase of one request through every running variant. */
async function measureRequest(
  req: (typeof REQUESTS)[number],
  running: readonly { variant: Variant; proxy: Started }[],
  ctx: {
    readonly upstreamPid: number;
    readonly token: string;
    readonly redisPort: number | undefined;
    readonly strace: boolean;
    readonly trips: Partial<Record<'money' | 'read', RoundTrips>>;
  },
): Promise<Row[]> {
  const { upstreamPid, trips } = ctx;
  log(`${req.name}: ${running.map((r) => r.variant).join(', ')}`);
  const targets = running.map((r) => target(r.proxy.base, ctx.token, req));
  const redisRun = running.find((r) => r.variant === 'redis');
  const redisPort = ctx.redisPort;
  const counts = async () =>
    redisRun?.proxy.admin && redisPort !== undefined
      ? { scripts: await scriptCalls(redisPort), ...(await proxyCalls(redisRun.proxy.admin)) }
      : undefined;
  // Warm-ups and traced calls add script calls too, so the counts bracket every phase: every call
  // the Redis variant answered is compared with every script Redis ran.
  const before = await counts();

  const roundSeconds = SECONDS / ROUNDS;
  const satTimings = running.map(() => [] as number[]);
  const cpu = running.map(() => ({ proxy: 0, upstream: 0, requests: 0, known: true }));
  const saturated = await inRounds(
    running,
    (i) => runPhase(targets[i]!, { ...SATURATED, seconds: WARM_UP_SECONDS }),
    async (i) => {
      const pids = running[i]!.proxy.cpuPids;
      const a = { proxy: cpuSecondsOf(pids), upstream: cpuSecondsOf([upstreamPid]) };
      const phase = await runPhase(targets[i]!, { ...SATURATED, seconds: roundSeconds }, satTimings[i]);
      const b = { proxy: cpuSecondsOf(pids), upstream: cpuSecondsOf([upstreamPid]) };
      const c = cpu[i]!;
      if (
        a.proxy === undefined ||
        b.proxy === undefined ||
        a.upstream === undefined ||
        b.upstream === undefined
      )
        c.known = false;
      else {
        c.proxy += b.proxy - a.proxy;
        c.upstream += b.upstream - a.upstream;
      }
      c.requests += phase.requests;
      return phase;
    },
  );
  // Saturation first: autocannon stops with calls in flight, which the paced phases after it (each
  // awaiting every answer) leave long finished before the Redis counts are read.
  const pacedTimings = running.map(() => ({ sentAt: [] as number[], ms: [] as number[] }));
  const fixed = await inRounds(
    running,
    (i) => runPaced(targets[i]!, { ...FIXED, seconds: WARM_UP_SECONDS }),
    (i) => runPaced(targets[i]!, { ...FIXED, seconds: roundSeconds }, { samples: pacedTimings[i]! }),
  );

  const rows: Row[] = [];
  for (let i = 0; i < running.length; i++) {
    const { variant, proxy } = running[i]!;
    let syscalls: SyscallCount | null = null;
    if (ctx.strace) {
      syscalls = await countSyscalls(proxy.tracePid, async () => {
        const r = await runPaced(targets[i]!, {
          connections: 10,
          seconds: SYSCALL_CALLS / SYSCALL_RATE,
          overallRate: SYSCALL_RATE,
        });
        return r.requests;
      });
    }
    const c = cpu[i]!;
    const perRequest = (sec: number) => (c.known && c.requests > 0 ? (sec / c.requests) * 1e6 : null);
    rows.push({
      request: req.name,
      variant,
      fixed: combinePhases(fixed[i]!, pacedTimings[i]!.ms),
      saturated: combinePhases(saturated[i]!, satTimings[i]!),
      cpu: {
        proxyUs: proxy.cpuPids.length === 0 ? null : perRequest(c.proxy),
        upstreamUs: perRequest(c.upstream),
      },
      syscalls,
    });
  }

  if (before) {
    // Every call has been answered; its metric is counted just after its answer, so read until
    // two readings agree (each reading is a round trip to both, not a timer).
    let after = { scripts: -1, calls: -1, released: -1 };
    for (let i = 0; i < 50; i++) {
      const now = (await counts())!;
      if (now.scripts === after.scripts && now.calls === after.calls) break;
      after = now;
    }
    trips[req.method === 'POST' ? 'money' : 'read'] = {
      scripts: after.scripts - before.scripts,
      calls: after.calls - before.calls,
      released: after.released - before.released,
    };
  }
  return rows;
}

async function main(): Promise<void> {
  const started = Date.now();
  const loadBefore = loadAverage() ?? null;
  const children: Child[] = [];
  let redis: RedisServer | undefined;
  const manifests = await writeBenchManifests();
  const rows: Row[] = [];
  const notes: string[] = [];
  const trips: Partial<Record<'money' | 'read', RoundTrips>> = {};
  const tools = {
    redis: version('redis-server', ['--version'], /v=(\S+)/),
    nginx: nginxVersion(),
    strace: straceVersion(),
  };
  if (!tools.redis)
    notes.push(
      'REDIS VARIANT SKIPPED: redis-server is not installed. Install it (apt-get install -y redis-server, or brew install redis) and run again.',
    );
  if (!tools.nginx) notes.push(NGINX_MISSING);
  if (!tools.strace) notes.push(STRACE_MISSING);
  for (const n of notes) log(n);
  let scale: BenchReport['scale'] = null;
  try {
    const upstream = await startUpstream();
    children.push(upstream);
    const keybrake = async (redisUrl?: string): Promise<Started> => {
      const kb = await startKeybrake({
        manifests: manifests.dir,
        upstream: upstream.url,
        ...(redisUrl ? { redis: redisUrl } : {}),
      });
      return { base: kb.stripeUrl, admin: kb.adminUrl, cpuPids: [kb.pid], tracePid: kb.pid, stop: kb.stop };
    };
    const hop = async (kind: 'fastify' | 'node'): Promise<Started> => {
      const h = await startHop(kind, upstream.url);
      return { base: h.url, cpuPids: [h.pid], tracePid: h.pid, stop: h.stop };
    };
    const variants: { name: Variant; start: () => Promise<Started> }[] = [
      {
        name: 'direct',
        start: async () => ({
          base: upstream.url,
          cpuPids: [],
          tracePid: upstream.pid,
          stop: async () => {},
        }),
      },
      ...(tools.nginx
        ? [
            {
              name: 'nginx' as const,
              start: async (): Promise<Started> => {
                const n = await startNginx(upstream.url);
                return { base: n.url, cpuPids: n.pids, tracePid: n.workerPid, stop: n.stop };
              },
            },
          ]
        : []),
      { name: 'node-hop', start: () => hop('node') },
      { name: 'fastify-hop', start: () => hop('fastify') },
      { name: 'memory', start: () => keybrake() },
      ...(tools.redis
        ? [
            {
              name: 'redis' as const,
              start: async () => {
                redis = await startRedis();
                return keybrake(redis.url);
              },
            },
          ]
        : []),
    ];

    if (PARTS.has('requests')) {
      // Every variant runs at once (idle ones cost nothing), so that each phase can be measured in
      // interleaved rounds: a burst of other work on the machine then lands on every variant alike
      // instead of on whichever happened to run at that moment.
      const running: { variant: Variant; proxy: Started }[] = [];
      try {
        for (const variant of variants) running.push({ variant: variant.name, proxy: await variant.start() });
        const ctx = {
          upstreamPid: upstream.pid,
          token: manifests.token,
          redisPort: redis?.port,
          strace: tools.strace !== undefined,
          trips,
        };
        for (const req of REQUESTS) rows.push(...(await measureRequest(req, running, ctx)));
      } finally {
        await Promise.allSettled(running.map((r) => r.proxy.stop()));
      }
    }

    if (!PARTS.has('scale')) {
      notes.push('SCALE SERIES SKIPPED: BENCH_PARTS has no scale.');
    } else if (SCALE !== '0' && SCALE !== 'off') {
      const sizes = SCALE.split(',').map((s) => Number(s.trim()));
      if (sizes.some((n) => !Number.isSafeInteger(n) || n < 1))
        throw new Error(`BENCH_SCALE=${SCALE}: expected sizes such as 1000,10000,100000 (or 0 to skip)`);
      scale = await runScaleSeries({
        sizes,
        upstream: upstream.url,
        rate: RATE,
        seconds: SECONDS,
        rounds: ROUNDS,
        reloadFrom: 1000,
        profile: PROFILE,
        notes,
        log,
      });
    } else {
      notes.push('SCALE SERIES SKIPPED: BENCH_SCALE=0.');
    }
  } finally {
    await Promise.allSettled(children.map((c) => c.stop()));
    await redis?.stop();
    await manifests.remove();
  }

  const report: BenchReport = {
    revoke: await lastRevokeRun(),
    date: new Date().toISOString(),
    command: [
      ...Object.entries(env)
        .filter(([k]) => k.startsWith('BENCH_'))
        .map(([k, v]) => `${k}=${v}`),
      'npm run bench',
    ].join(' '),
    code: codeVersion(),
    machine: {
      nproc: os.availableParallelism(),
      cpuModel: cpuModel() ?? os.cpus()[0]?.model ?? 'unknown',
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      kernel: os.release(),
      node: process.version,
      redis: tools.redis ?? null,
      nginx: tools.nginx ?? null,
      strace: tools.strace ?? null,
    },
    loadAverage: { before: loadBefore, after: loadAverage() ?? null },
    load: {
      fixed: FIXED,
      saturated: SATURATED,
      warmUpSeconds: WARM_UP_SECONDS,
      rounds: ROUNDS,
      syscalls: { calls: SYSCALL_CALLS, rate: SYSCALL_RATE },
    },
    rows,
    redisRoundTrips: trips.money && trips.read ? { money: trips.money, read: trips.read } : null,
    scale,
    notes,
    elapsedSeconds: Math.round((Date.now() - started) / 1000),
  };
  printReport(report);
  await mkdir(path.dirname(RESULTS), { recursive: true });
  await writeFile(RESULTS, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`\nWrote ${path.relative(process.cwd(), RESULTS)}\n`);
  if (WRITE_DOCS) {
    await writeDocs(report);
    process.stdout.write(
      `Wrote the figures into ${path.relative(process.cwd(), DOCS)} (BENCH_WRITE_DOCS=0: not)\n`,
    );
  }
}

// Interrupted (Ctrl-C, a CI timeout), the run stops the processes it started: left running, the
// proxies, hops, nginx and Redis would load the machine for whatever is measured next.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const pid of descendantsOf(process.pid)) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // Already gone.
      }
    }
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

/** The figures of the last bench/k8s-revoke.ts run, if there is one (see BenchReport.revoke). */
async function lastRevokeRun(): Promise<BenchReport['revoke']> {
  let text: string;
  try {
    text = await readFile(path.join(import.meta.dirname, 'results/k8s-revoke.json'), 'utf8');
  } catch {
    return null;
  }
  const run = JSON.parse(text) as {
    date: string;
    results: { keys: number; summary: { all: { p99: number } } }[];
  };
  return { date: run.date, p99Ms: run.results.map((r) => [r.keys, r.summary.all.p99]) };
}
