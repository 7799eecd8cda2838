// `node bench/run-keys.ts` (also run by `npm run bench:run-keys`): what a run key adds to a call
// (ADR 0010), against a vault-key call of the same run (`Keybrake-Run-Id` header, same run window).
//
// 1. In process: the authenticate step alone (findCaller), vault token vs run token, ns per call, and
//    the MAC verification a run key's first call under a snapshot pays.
// 2. Through `keybrake serve` (memory counters, then Redis when redis-server is installed) to the
//    fixed-answer upstream: POST /v1/charges alternately with the vault key (+ header) and with a run
//    key of the same run, one at a time on keep-alive connections, so both see the same machine state;
//    latency percentiles of each and the difference of their medians. For Redis, the script calls per
//    money call, which must be the same (one) for both.
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Pool, request } from 'undici';
import { systemClock } from '../src/clock.ts';
import { loadExchangeRates } from '../src/money/exchange-rates.ts';
import { findCaller } from '../src/proxy/stages/authenticate.ts';
import { SnapshotHolder } from '../src/snapshot/holder.ts';
import { runKeysOf } from '../src/snapshot/run-keys.ts';
import type { CompiledKey } from '../src/snapshot/types.ts';
import { mintRunToken, runSecretFor, verifyRunToken } from '../src/tokens/run-token.ts';
import { newToken, tokenDigest } from '../src/tokens/token.ts';
import { createStripeAdapter } from '../src/vendors/stripe/index.ts';
import { type RedisServer, rawCommand, startRedis } from '../test/env/redis.ts';
import { type Child, startKeybrake, startUpstream } from './processes.ts';

const PAIRS = Number(process.env['BENCH_RUN_KEY_PAIRS'] ?? 3_000);
const WARM_UP_PAIRS = 300;
const MICRO_ITERATIONS = 200_000;
const RUN_ID = 'bench-run';

function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? Number.NaN;
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

/** 1. The authenticate step in process: ns per call for each credential. */
function micro(): { vaultNs: number; runFirstCallNs: number; runNs: number } {
  const vault = newToken('stripe');
  const key: CompiledKey = {
    uid: 'bench/bench',
    namespace: 'bench',
    name: 'bench',
    vendor: 'stripe',
    tokenFingerprint: 'kb_stripe_…',
    upstream: { kind: 'bearer', token: 'sk_test_x' },
    suspended: false,
    policy: { ref: 'bench/p', limits: {}, timezone: 'UTC', readsWhenStoreDown: true },
    runSecret: runSecretFor(vault, 'bench/bench'),
    tokenPrefix: 'kb_stripe_',
  };
  const holder = new SnapshotHolder(systemClock);
  const snapshot = { version: 1, compiledAt: Date.now(), keys: new Map([[tokenDigest(vault), key]]) };
  holder.apply(snapshot);
  runKeysOf(snapshot);
  const run = mintRunToken(
    { tokenPrefix: 'kb_stripe_', runSecret: key.runSecret!, digest: tokenDigest(vault) },
    { runId: RUN_ID, issuedAt: Date.now(), expiresAt: Date.now() + 3_600_000, capMicros: 5_000_000 },
  );
  const adapter = createStripeAdapter({ rates: loadExchangeRates() });
  const time = (f: () => unknown) => {
    for (let i = 0; i < 20_000; i++) f();
    const started = process.hrtime.bigint();
    for (let i = 0; i < MICRO_ITERATIONS; i++) f();
    return Number(process.hrtime.bigint() - started) / MICRO_ITERATIONS;
  };
  const now = Date.now();
  const call = (token: string) => {
    const headers = { authorization: `Bearer ${token}` };
    return () => findCaller(adapter, headers, snapshot, now);
  };
  const parent = { tokenPrefix: 'kb_stripe_', runSecret: key.runSecret! };
  return {
    vaultNs: time(call(vault)),
    // A run key's first call under a snapshot verifies the MAC; later calls find it verified.
    runFirstCallNs: time(() => verifyRunToken(run, parent)),
    runNs: time(call(run)),
  };
}

async function manifests(token: string): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'keybrake-bench-runs-'));
  await writeFile(
    path.join(dir, 'bench.yaml'),
    `apiVersion: keybrake.dev/v1alpha1
kind: SpendPolicy
metadata: { name: bench, namespace: bench }
spec:
  vendor: stripe
  limits: { perCallUsd: "1000", perDayUsd: "100000000", perRunUsd: "100000000" }
---
apiVersion: keybrake.dev/v1alpha1
kind: VaultKey
metadata: { name: bench, namespace: bench }
spec:
  vendor: stripe
  policyRef: { name: bench }
  upstreamSecretRef: { name: bench-upstream, key: apiKey }
  tokenSecretRef: { name: bench-token, key: token }
---
apiVersion: v1
kind: Secret
metadata: { name: bench-upstream, namespace: bench }
stringData: { apiKey: sk_test_bench_upstream_not_a_real_key }
---
apiVersion: v1
kind: Secret
metadata: { name: bench-token, namespace: bench }
stringData: { token: ${token} }
`,
  );
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

interface Series {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly mean: number;
}

/** Percentiles of call durations, in µs. */
function series(us: number[]): Series {
  const sorted = [...us].sort((a, b) => a - b);
  return {
    p50: round(percentile(sorted, 0.5)),
    p90: round(percentile(sorted, 0.9)),
    p99: round(percentile(sorted, 0.99)),
    mean: round(us.reduce((a, b) => a + b, 0) / us.length),
  };
}

async function scriptCalls(port: number): Promise<number> {
  const info = await rawCommand(port, 'INFO commandstats', 2_000);
  let calls = 0;
  for (const m of info.matchAll(/cmdstat_(?:evalsha|eval|fcall):calls=(\d+)/g)) calls += Number(m[1]);
  return calls;
}

/** 2. Alternating calls through one `keybrake serve`: µs per call, vault key + header vs run key. */
async function macro(kb: Child & { stripeUrl: string; adminUrl: string }, vault: string, redisPort?: number) {
  const res = await request(`${kb.adminUrl}/v1/runs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${vault}`, 'content-type': 'application/json' },
    body: JSON.stringify({ key: 'bench/bench', runId: RUN_ID, ttl: '1h', cap: '100000' }),
  });
  const { token: runToken } = (await res.body.json()) as { token: string };
  const pool = new Pool(kb.stripeUrl, { connections: 1, pipelining: 1 });
  const call = async (token: string, header: boolean) => {
    const started = performance.now();
    const r = await pool.request({
      path: '/v1/charges',
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/x-www-form-urlencoded',
        ...(header ? { 'keybrake-run-id': RUN_ID } : {}),
      },
      body: 'amount=100&currency=usd',
    });
    await r.body.dump();
    if (r.statusCode !== 200)
      throw new Error(`bench call answered ${r.statusCode}: ${String(r.headers['keybrake-decision'])}`);
    return (performance.now() - started) * 1000;
  };
  const vaultUs: number[] = [];
  const runUs: number[] = [];
  for (let i = 0; i < WARM_UP_PAIRS; i++) {
    await call(vault, true);
    await call(runToken, false);
  }
  const scriptsBefore = redisPort ? await scriptCalls(redisPort) : 0;
  for (let i = 0; i < PAIRS; i++) {
    // Alternate which goes first, so neither always follows the other.
    if (i % 2 === 0) {
      vaultUs.push(await call(vault, true));
      runUs.push(await call(runToken, false));
    } else {
      runUs.push(await call(runToken, false));
      vaultUs.push(await call(vault, true));
    }
  }
  const scripts = redisPort ? (await scriptCalls(redisPort)) - scriptsBefore : undefined;
  await pool.close();
  const vaultSeries = series(vaultUs);
  const runSeries = series(runUs);
  return {
    vaultKeyUs: vaultSeries,
    runKeyUs: runSeries,
    addedP50Us: round(runSeries.p50 - vaultSeries.p50),
    addedMeanUs: round(runSeries.mean - vaultSeries.mean),
    ...(scripts !== undefined ? { redisScriptsPerMoneyCall: round(scripts / (2 * PAIRS), 3) } : {}),
  };
}

async function main(): Promise<void> {
  const started = Date.now();
  const children: Child[] = [];
  let redis: RedisServer | undefined;
  const vault = newToken('stripe');
  const m = await manifests(vault);
  const report: Record<string, unknown> = {
    date: new Date().toISOString(),
    machine: {
      nproc: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      node: process.version,
      loadavg: os.loadavg().map((l) => round(l, 2)),
    },
    pairs: PAIRS,
  };
  try {
    process.stderr.write('bench run keys: authenticate in process\n');
    const mic = micro();
    report['authenticate'] = {
      vaultTokenNs: Math.round(mic.vaultNs),
      runTokenNs: Math.round(mic.runNs),
      addedNs: Math.round(mic.runNs - mic.vaultNs),
      runTokenVerifyNs: Math.round(mic.runFirstCallNs),
    };
    const upstream = await startUpstream();
    children.push(upstream);
    process.stderr.write('bench run keys: keybrake serve, memory counters\n');
    const memory = await startKeybrake({ manifests: m.dir, upstream: upstream.url });
    children.push(memory);
    report['memory'] = await macro(memory, vault);
    await memory.stop();
    if (spawnSync('redis-server', ['--version']).error) {
      report['redis'] = 'skipped: redis-server is not installed';
    } else {
      process.stderr.write('bench run keys: keybrake serve, Redis counters\n');
      redis = await startRedis();
      const withRedis = await startKeybrake({ manifests: m.dir, upstream: upstream.url, redis: redis.url });
      children.push(withRedis);
      report['redis'] = await macro(withRedis, vault, redis.port);
    }
  } finally {
    await Promise.allSettled(children.map((c) => c.stop()));
    await redis?.stop();
    await m.remove();
  }
  report['elapsedSeconds'] = Math.round((Date.now() - started) / 1000);
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bench run keys failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
