// The benchmark's table and its targets (docs/benchmarks.md): added latency at a fixed rate,
// throughput at saturation as a share of direct, and Redis round trips per money-moving call.
import type { Load, PhaseResult } from './measure.ts';

/** One request through one variant: both phases. */
export interface Row {
  readonly request: string;
  readonly variant: 'direct' | 'memory' | 'redis';
  /** The fixed rate, paced evenly (bench/measure.ts runPaced). */
  readonly fixed: PhaseResult;
  readonly saturated: PhaseResult;
}

/** Everything one run measured; also written as bench/results/latest.json. */
export interface BenchReport {
  readonly date: string;
  readonly machine: {
    cpus: number;
    cpuModel: string;
    memoryGiB: number;
    node: string;
    redis: string | null;
  };
  readonly load: { fixed: Load; saturated: Load; warmUpSeconds: number };
  readonly rows: readonly Row[];
  /** EVALSHA/EVAL seen by Redis and calls answered by the proxy over the Redis POST phases. */
  readonly redisRoundTrips: { scripts: number; calls: number } | null;
  readonly notes: readonly string[];
  readonly elapsedSeconds: number;
}

/** One target checked against the figures. */
export interface Check {
  readonly what: string;
  readonly value: string;
  readonly limit: string;
  readonly pass: boolean;
}

const ms = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : '-');
const signedMs = (n: number) => (Number.isFinite(n) ? `${n >= 0 ? '+' : ''}${n.toFixed(2)}` : '-');

/** Added latency and throughput share of a row, against the direct row of the same request. */
export function versusDirect(row: Row, direct: Row | undefined) {
  return {
    addedP50: direct ? row.fixed.p50 - direct.fixed.p50 : Number.NaN,
    addedP99: direct ? row.fixed.p99 - direct.fixed.p99 : Number.NaN,
    share: direct ? row.saturated.rps / direct.saturated.rps : Number.NaN,
  };
}

export function checks(report: BenchReport): Check[] {
  const out: Check[] = [];
  const direct = (request: string) =>
    report.rows.find((r) => r.request === request && r.variant === 'direct');
  for (const row of report.rows) {
    if (row.variant === 'direct') continue;
    const v = versusDirect(row, direct(row.request));
    const label = `${row.variant.padEnd(6)} ${row.request}`;
    if (row.variant === 'memory') {
      out.push({
        what: `${label}: added p50 at the fixed rate`,
        value: `${ms(v.addedP50)} ms`,
        limit: '≤ 0.5 ms',
        pass: v.addedP50 <= 0.5,
      });
    }
    out.push({
      what: `${label}: added p99 at the fixed rate`,
      value: `${ms(v.addedP99)} ms`,
      limit: '≤ 2 ms',
      pass: v.addedP99 <= 2,
    });
    if (row.variant === 'memory') {
      out.push({
        what: `${label}: throughput vs direct at saturation`,
        value: `${Math.round(v.share * 100)}%`,
        limit: '≥ 50%',
        pass: v.share >= 0.5,
      });
    }
  }
  const rt = report.redisRoundTrips;
  if (rt) {
    const perCall = rt.calls > 0 ? rt.scripts / rt.calls : Number.NaN;
    out.push({
      what: 'redis  POST /v1/charges: Redis round trips per call',
      value: `${perCall.toFixed(3)} (${rt.scripts} scripts / ${rt.calls} calls)`,
      limit: '= 1',
      pass: rt.scripts === rt.calls,
    });
  }
  return out;
}

export function printReport(report: BenchReport): void {
  const { machine, load } = report;
  const w = (s: string) => process.stdout.write(`${s}\n`);
  w('');
  w(`Keybrake benchmark, ${report.date}`);
  w(
    `  ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, Node ${machine.node}, redis-server ${machine.redis ?? 'not installed'}`,
  );
  w(
    `  fixed rate: ${load.fixed.overallRate} req/s, evenly paced (open loop), up to ${load.fixed.connections} connections, ${load.fixed.seconds} s`,
  );
  w(`  saturation: ${load.saturated.connections} connections for ${load.saturated.seconds} s`);
  w(`  ${load.warmUpSeconds} s warm-up before each; latencies in ms; "+" is added to the direct figure`);
  w('  load generator, proxy, upstream (and Redis) share the same CPUs: see docs/benchmarks.md');
  w('');
  const columns: [string, number][] = [
    ['request', -18],
    ['variant', -7],
    ['fixed p50', 10],
    ['p99', 6],
    ['+p50', 6],
    ['+p99', 6],
    ['sat req/s', 10],
    ['vs direct', 10],
    ['failed', 7],
  ];
  const line = (cells: string[]) =>
    cells
      .map((c, i) => {
        const width = columns[i]?.[1] ?? 0;
        return width < 0 ? c.padEnd(-width) : c.padStart(width);
      })
      .join(' ');
  const header = line(columns.map(([name]) => name));
  w(header);
  w('-'.repeat(header.length));
  for (const row of report.rows) {
    const direct = report.rows.find((r) => r.request === row.request && r.variant === 'direct');
    const v = versusDirect(row, direct);
    const added = (n: number) => (row.variant === 'direct' ? '' : signedMs(n));
    const failed = [row.fixed, row.saturated].reduce((n, p) => n + p.non2xx + p.errors, 0);
    w(
      line([
        row.request,
        row.variant,
        ms(row.fixed.p50),
        ms(row.fixed.p99),
        added(v.addedP50),
        added(v.addedP99),
        String(Math.round(row.saturated.rps)),
        `${Math.round(v.share * 100)}%`,
        String(failed),
      ]),
    );
  }
  w('');
  w('Targets (PASS/FAIL are reported, not enforced: the exit code only reflects crashes)');
  for (const c of checks(report)) {
    w(`  ${c.pass ? 'PASS' : 'FAIL'}  ${c.what.padEnd(56)} ${c.value.padEnd(34)} ${c.limit}`);
  }
  for (const note of report.notes) {
    w('');
    w(`!!! ${note}`);
  }
  w('');
  w(`Elapsed: ${report.elapsedSeconds} s`);
}
