// Revocation against table size on a real control plane (ADR 0013): `kubectl delete vaultkey` → every
// one of three real proxies answers key_unknown, 20 trials per size, by default with 10 and with
// 100 000 VaultKeys in the table (created in bulk through the API; how long that takes is printed).
// The CI suite runs 10 vs 10 000 (test/k8s/revoke-scale.test.ts); this is the 100 000-key run.
//
//   export KEYBRAKE_K8S_BIN_DIR=$(bash .ci/provision-control-plane.sh | tail -1)
//   node bench/k8s-revoke.ts                       # 10 and 100 000 keys, about 15 minutes
//   BENCH_REVOKE_KEYS=10,10000,100000 BENCH_TRIALS=30 node bench/k8s-revoke.ts
//
// Per size: p50/p99 from kubectl's return to the last proxy's denial, split at the operator's publish
// of the revoking snapshot (its own work on the change before, distribution after), the delta's size
// and the proxies' time to apply it. Figures go to stdout and bench/results/k8s-revoke.json.
//
// BENCH_OPERATOR_PROFILE=<dir>: the operator runs with a stall probe and the CPU profiler, and each
// slow trial is printed with the blocks and GC pauses before its publish and what ran in them
// (bench/operator-stalls.ts). The figures then go to <dir>/k8s-revoke.json instead.
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import path from 'node:path';
import { startControlPlane } from '../test/env/control-plane/control-plane.ts';
import { percentile, type RevokeScaleResult, removeScaleObjects, runRevokeScale } from '../test/k8s/scale.ts';
import { operatorStallReport } from './operator-stalls.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const SIZES = (process.env['BENCH_REVOKE_KEYS'] ?? '10,100000').split(',').map(Number);
const TRIALS = Number(process.env['BENCH_TRIALS'] ?? 20);
const PROFILE = process.env['BENCH_OPERATOR_PROFILE'];
const STALL_PROBE = path.join(import.meta.dirname, 'operator-stall-probe.ts');

const started = new Date();
const before = loadavg();
const log = (line: string) => console.log(`[k8s-revoke] ${line}`);
log(
  `sizes ${SIZES.join(', ')}, ${TRIALS} trials each; load average ${before.map((l) => l.toFixed(2)).join(' ')}`,
);
const cp = await startControlPlane({
  ...(process.env['KEYBRAKE_K8S_BIN_DIR'] ? { binDir: process.env['KEYBRAKE_K8S_BIN_DIR'] } : {}),
});
const results: RevokeScaleResult[] = [];
try {
  for (const keys of SIZES) {
    const name = `bench-${keys}`;
    try {
      const profile = PROFILE && path.resolve(PROFILE, `${keys}`);
      if (profile) await mkdir(profile, { recursive: true });
      const result = await runRevokeScale({
        cp,
        keys,
        trials: TRIALS,
        name,
        log,
        ...(profile && {
          operatorEnv: { NODE_OPTIONS: `--import ${STALL_PROBE} --cpu-prof --cpu-prof-dir=${profile}` },
          operatorOutput: (output: string) => writeFile(path.join(profile, 'operator.log'), output),
        }),
      });
      results.push(result);
      if (profile)
        for (const line of await operatorStallReport(profile, result.trials)) log(`${keys} keys, ${line}`);
      // The slow trials, and whether the operator itself stalled in them before its publish; and
      // the trials with and without the probe apart (it may change what it measures).
      for (const t of result.trials.filter((x) => x.allMs > 50))
        log(
          `${keys} keys, a slow trial: all ${t.allMs} ms, published ${t.publishedMs} ms after kubectl (${t.operatorLagMs} ms after the operator saw the event); ${t.operatorStallMs === undefined ? 'not probed' : `the operator's longest stall before it ${t.operatorStallMs.toFixed(0)} ms`}`,
        );
      for (const probed of [true, false]) {
        const all = result.trials
          .filter((t) => (t.operatorStallMs !== undefined) === probed)
          .map((t) => t.allMs);
        log(
          `${keys} keys, trials ${probed ? 'probed' : 'not probed'}: ${all.length}, p50 ${percentile(all, 0.5)} ms, p99 ${percentile(all, 0.99)} ms, max ${Math.max(...all)} ms`,
        );
      }
    } finally {
      await removeScaleObjects(cp, `${name}-agents`);
    }
  }
} finally {
  await cp.stop();
}

const ms = (n: number) => (Number.isFinite(n) ? n.toFixed(n < 10 ? 1 : 0) : '-');
console.log(
  [
    '',
    `| keys | create s | first table s | revoke p50 | p99 | operator p50 | p99 | distribution p50 | p99 | delta bytes | proxy apply p99 | full table apply |`,
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...results.map((r) => {
      const s = r.summary;
      return `| ${r.keys.toLocaleString('en')} | ${(r.createMs / 1000).toFixed(1)} | ${(r.firstTableMs / 1000).toFixed(1)} | ${ms(s.all.p50)} | ${ms(s.all.p99)} | ${ms(s.operatorLag.p50)} | ${ms(s.operatorLag.p99)} | ${ms(s.distribution.p50)} | ${ms(s.distribution.p99)} | ${ms(s.deltaBytes.max)} | ${s.proxyApplyMs.p99.toFixed(2)} | ${ms(r.fullApplyMs)} |`;
    }),
    '',
  ].join('\n'),
);
// A profiled run's figures stay with its profile: the profiler slows the operator, and `npm run
// bench` reports the last run of bench/results/k8s-revoke.json against the target.
const resultsDir = PROFILE ? path.resolve(PROFILE) : path.join(ROOT, 'bench/results');
await mkdir(resultsDir, { recursive: true });
await writeFile(
  path.join(resultsDir, 'k8s-revoke.json'),
  `${JSON.stringify(
    {
      date: started.toISOString(),
      loadAverageBefore: before,
      loadAverageAfter: loadavg(),
      trials: TRIALS,
      results: results.map(({ trials, ...r }) => ({ ...r, trials })),
    },
    null,
    2,
  )}\n`,
);
