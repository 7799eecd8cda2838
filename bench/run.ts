// `npm run bench`: what Keybrake adds to a call, in one run (DESIGN.md §8, docs/benchmarks.md).
//
// For a priced POST /v1/charges and a free GET /v1/customers, three ways to the same fixed-answer
// upstream (bench/upstream.ts): direct, through `keybrake serve` with memory counters, and through it
// with Redis counters. Each pair is measured at a moderate fixed rate (latency, and what Keybrake
// adds to it) and at saturation (throughput, as a share of direct). For Redis it also counts script
// round trips per money-moving call. Targets are printed as PASS/FAIL; the exit code is 0 unless
// something crashed.
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { type RedisServer, startRedis } from '../test/env/redis.ts';
import { writeBenchManifests } from './manifests.ts';
import { type Load, type PhaseResult, runPaced, runPhase, type Target } from './measure.ts';
import { type Child, startKeybrake, startUpstream } from './processes.ts';
import { proxyCalls, scriptCalls } from './redis-stats.ts';
import { type BenchReport, printReport, type Row } from './report.ts';

const SECONDS = Number(process.env['BENCH_SECONDS'] ?? 8);
const RATE = Number(process.env['BENCH_RATE'] ?? 300);
const FIXED: Required<Load> = { connections: 10, seconds: SECONDS, overallRate: RATE };
const SATURATED: Load = { connections: 32, seconds: SECONDS };
const WARM_UP_SECONDS = 1;
const RESULTS = path.join(import.meta.dirname, 'results', 'latest.json');

const REQUESTS = [
  { name: 'POST /v1/charges', method: 'POST', path: '/v1/charges', body: 'amount=100&currency=usd' },
  { name: 'GET /v1/customers', method: 'GET', path: '/v1/customers?limit=3' },
] as const;

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

/** A second of the same load first: connections open, JIT warm, scripts loaded. */
async function saturate(t: Target, load: Load): Promise<PhaseResult> {
  await runPhase(t, { ...load, seconds: WARM_UP_SECONDS });
  return runPhase(t, load);
}

async function paced(t: Target, load: Required<Load>): Promise<PhaseResult> {
  await runPaced(t, { ...load, seconds: WARM_UP_SECONDS });
  return runPaced(t, load);
}

function redisVersion(): string | undefined {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  return r.error ? undefined : (/v=(\S+)/.exec(r.stdout)?.[1] ?? 'unknown');
}

async function main(): Promise<void> {
  const started = Date.now();
  const children: Child[] = [];
  let redis: RedisServer | undefined;
  const manifests = await writeBenchManifests();
  const rows: Row[] = [];
  const notes: string[] = [];
  let roundTrips: { scripts: number; calls: number } | undefined;
  try {
    const upstream = await startUpstream();
    children.push(upstream);
    const version = redisVersion();
    if (!version) {
      notes.push(
        'REDIS VARIANT SKIPPED: redis-server is not installed. Install it (apt-get install -y redis-server, or brew install redis) and run again.',
      );
    }

    const variants: { name: Row['variant']; start?: () => Promise<{ base: string; admin?: string }> }[] = [
      { name: 'direct' },
      {
        name: 'memory',
        start: async () => {
          const kb = await startKeybrake({ manifests: manifests.dir, upstream: upstream.url });
          children.push(kb);
          return { base: kb.stripeUrl, admin: kb.adminUrl };
        },
      },
      ...(version
        ? [
            {
              name: 'redis' as const,
              start: async () => {
                redis = await startRedis();
                const kb = await startKeybrake({
                  manifests: manifests.dir,
                  upstream: upstream.url,
                  redis: redis.url,
                });
                children.push(kb);
                return { base: kb.stripeUrl, admin: kb.adminUrl };
              },
            },
          ]
        : []),
    ];

    for (const variant of variants) {
      const proxy = variant.start ? await variant.start() : { base: upstream.url };
      for (const req of REQUESTS) {
        process.stderr.write(`bench: ${variant.name.padEnd(6)} ${req.name}\n`);
        const t = target(proxy.base, manifests.token, req);
        const countTrips = variant.name === 'redis' && req.method === 'POST' && redis && proxy.admin;
        const before = countTrips
          ? { scripts: await scriptCalls(redis!.port), calls: await proxyCalls(proxy.admin!) }
          : undefined;
        // Warm-ups add script calls too, so the counts bracket the warm-ups as well: every call the
        // proxy answered is compared with every script Redis ran.
        const fixed = await paced(t, FIXED);
        const saturated = await saturate(t, SATURATED);
        if (before) {
          // Let calls still in flight when autocannon stopped finish on both sides.
          let after = { scripts: -1, calls: -1 };
          for (let i = 0; i < 50; i++) {
            await new Promise((r) => setTimeout(r, 100));
            const now = { scripts: await scriptCalls(redis!.port), calls: await proxyCalls(proxy.admin!) };
            if (now.scripts === after.scripts && now.calls === after.calls) break;
            after = now;
          }
          roundTrips = { scripts: after.scripts - before.scripts, calls: after.calls - before.calls };
        }
        rows.push({ request: req.name, variant: variant.name, fixed, saturated });
      }
    }
  } finally {
    await Promise.allSettled(children.map((c) => c.stop()));
    await redis?.stop();
    await manifests.remove();
  }

  const report: BenchReport = {
    date: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      redis: redisVersion() ?? null,
    },
    load: { fixed: FIXED, saturated: SATURATED, warmUpSeconds: WARM_UP_SECONDS },
    rows,
    redisRoundTrips: roundTrips ?? null,
    notes,
    elapsedSeconds: Math.round((Date.now() - started) / 1000),
  };
  printReport(report);
  await mkdir(path.dirname(RESULTS), { recursive: true });
  await writeFile(RESULTS, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`\nWrote ${path.relative(process.cwd(), RESULTS)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
