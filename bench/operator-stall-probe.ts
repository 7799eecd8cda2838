// Preloaded into the operator by `BENCH_OPERATOR_PROFILE=<dir> npm run bench:k8s-revoke` (with
// `--import`, next to `--cpu-prof`): a JSON line on stderr for every block of the event loop over
// 40 ms and every GC pause over 20 ms, with the monotonic time the CPU profile's samples carry, so
// bench/operator-stalls.ts can say what ran in each. Diagnostics only: nothing else loads it.
import { constants, PerformanceObserver } from 'node:perf_hooks';
import { isMainThread } from 'node:worker_threads';

const TICK_MS = 10;
const BLOCK_MS = 40;
const GC_MS = 20;

if (isMainThread) {
  const line = (record: Record<string, unknown>) =>
    process.stderr.write(`${JSON.stringify({ diag: true, ...record, time: Date.now() })}\n`);
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as { detail?: { kind?: number } }).detail?.kind;
      if (e.duration > GC_MS)
        line({
          stall: 'gc',
          major: kind === constants.NODE_PERFORMANCE_GC_MAJOR,
          ms: Math.round(e.duration),
        });
    }
  }).observe({ entryTypes: ['gc'] });
  let last = process.hrtime.bigint();
  setInterval(() => {
    const now = process.hrtime.bigint();
    const blocked = Number(now - last) / 1e6 - TICK_MS;
    if (blocked > BLOCK_MS) line({ stall: 'block', ms: Math.round(blocked), endUs: Number(now / 1000n) });
    last = now;
  }, TICK_MS).unref();
}
