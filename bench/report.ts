// The benchmark's figures, its targets (docs/benchmarks.md) and how both are printed: a console table
// with PASS/FAIL, and the same as markdown for docs/benchmarks.md. Targets are checked against two
// references measured in the same run: the direct path (what Keybrake adds) and the bare fastify hop
// (what Keybrake costs beyond one Node HTTP hop).
import type { Load, PhaseResult } from './measure.ts';
import type { ScaleRow } from './scale.ts';
import type { SyscallCount } from './strace.ts';

export const VARIANTS = ['direct', 'nginx', 'node-hop', 'fastify-hop', 'memory', 'redis'] as const;
export type Variant = (typeof VARIANTS)[number];

/** One request through one variant: every phase. */
export interface Row {
  readonly request: string;
  readonly variant: Variant;
  /** The fixed rate, paced evenly (bench/measure.ts runPaced). */
  readonly fixed: PhaseResult;
  readonly saturated: PhaseResult;
  /**
   * CPU time (user + system, every thread) per request over the saturation phase, in µs: of the
   * proxy (nginx: master + worker; direct: none) and of the upstream. Null without /proc.
   */
  readonly cpu: { readonly proxyUs: number | null; readonly upstreamUs: number | null };
  /** Syscalls of the proxy process per call (strace -c -f); null when skipped. */
  readonly syscalls: SyscallCount | null;
}

/** EVALSHA/EVAL seen by Redis and calls answered by the proxy, over the Redis phases of each request. */
export interface RoundTrips {
  readonly scripts: number;
  readonly calls: number;
  /** Calls dropped unsent after their reserve, whose release is a second script (redis-stats.ts). */
  readonly released: number;
}

/** Everything one run measured; also written as bench/results/latest.json. */
export interface BenchReport {
  readonly date: string;
  readonly command: string;
  /** The code measured: the commit, and whether src/ or cmd/ differed from it. */
  readonly code: { readonly commit: string; readonly uncommittedChanges: boolean } | null;
  readonly machine: {
    readonly nproc: number;
    readonly cpuModel: string;
    readonly memoryGiB: number;
    readonly kernel: string;
    readonly node: string;
    readonly redis: string | null;
    readonly nginx: string | null;
    readonly strace: string | null;
  };
  /** /proc/loadavg (1, 5, 15 min) before the first phase and after the last. */
  readonly loadAverage: { readonly before: number[] | null; readonly after: number[] | null };
  readonly load: {
    readonly fixed: Load;
    readonly saturated: Load;
    readonly warmUpSeconds: number;
    /** Each measured phase is split into this many rounds, interleaved across the variants. */
    readonly rounds: number;
    /** Calls per traced phase and their paced rate. */
    readonly syscalls: { readonly calls: number; readonly rate: number };
  };
  readonly rows: readonly Row[];
  readonly redisRoundTrips: { readonly money: RoundTrips; readonly read: RoundTrips } | null;
  readonly scale: readonly ScaleRow[] | null;
  /**
   * The last `bench/k8s-revoke.ts` run (bench/results/k8s-revoke.json; a real control plane and three
   * proxies, about 15 minutes, so not part of this run): its date and the p99 from kubectl's return
   * to every proxy refusing the key, per table size.
   */
  readonly revoke: { readonly date: string; readonly p99Ms: readonly [keys: number, p99: number][] } | null;
  readonly notes: readonly string[];
  readonly elapsedSeconds: number;
}

/** One target checked against the figures; `pass` null: not measured in this run. */
export interface Check {
  readonly group: string;
  readonly what: string;
  readonly value: string;
  readonly limit: string;
  readonly pass: boolean | null;
}

export const TARGETS = {
  addedP50Ms: 0.5,
  addedP99Ms: 2,
  shareOfDirect: 0.5,
  cpuVsFastify: 1.15,
  saturationVsFastify: 0.85,
  p99VsFastifyMs: 0.5,
  syscallsVsFastify: 2,
  readyMs: 2_000,
  rssMiB: 256,
  lookupP50Ratio: 1.05,
  policyCheckMs: 3_000,
  compileMs: 3_000,
  reloadP99Ms: 1,
  scaleKeys: 100_000,
} as const;

const fmt = (n: number | null | undefined, digits = 2) =>
  n === null || n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(digits);
const signed = (n: number | null | undefined, digits = 2) =>
  n === null || n === undefined || !Number.isFinite(n) ? '-' : `${n >= 0 ? '+' : ''}${n.toFixed(digits)}`;
const pct = (n: number | null | undefined) =>
  n === null || n === undefined || !Number.isFinite(n) ? '-' : `${Math.round(n * 100)}%`;
const int = (n: number | null | undefined) =>
  n === null || n === undefined || !Number.isFinite(n) ? '-' : String(Math.round(n));
const seconds = (ms: number | null | undefined) => fmt(ms === null || ms === undefined ? ms : ms / 1000, 2);

function find(report: BenchReport, request: string, variant: Variant): Row | undefined {
  return report.rows.find((r) => r.request === request && r.variant === variant);
}

/** A row against a reference row of the same request (direct, or the bare fastify hop). */
export function versus(row: Row, ref: Row | undefined) {
  const ratio = (a: number | null | undefined, b: number | null | undefined) =>
    a === null || a === undefined || b === null || b === undefined || b === 0 ? Number.NaN : a / b;
  return {
    p50: ref ? row.fixed.p50 - ref.fixed.p50 : Number.NaN,
    p99: ref ? row.fixed.p99 - ref.fixed.p99 : Number.NaN,
    share: ref ? row.saturated.rps / ref.saturated.rps : Number.NaN,
    cpu: ratio(row.cpu.proxyUs, ref?.cpu.proxyUs),
    syscalls: row.syscalls && ref?.syscalls ? row.syscalls.perCall - ref.syscalls.perCall : Number.NaN,
  };
}

const check = (
  group: string,
  what: string,
  value: number,
  shown: string,
  limit: string,
  ok: (v: number) => boolean,
): Check => ({ group, what, value: shown, limit, pass: Number.isFinite(value) ? ok(value) : null });

export function checks(report: BenchReport): Check[] {
  const out: Check[] = [];
  const requests = [...new Set(report.rows.map((r) => r.request))];
  // What Keybrake adds to the direct path (the original targets).
  for (const request of requests) {
    const direct = find(report, request, 'direct');
    for (const variant of ['memory', 'redis'] as const) {
      const row = find(report, request, variant);
      if (!row) continue;
      const v = versus(row, direct);
      const label = `${variant.padEnd(6)} ${request}`;
      if (variant === 'memory')
        out.push(
          check('vs direct', `${label}: added p50`, v.p50, `${fmt(v.p50)} ms`, '≤ 0.5 ms', (x) => x <= 0.5),
        );
      out.push(check('vs direct', `${label}: added p99`, v.p99, `${fmt(v.p99)} ms`, '≤ 2 ms', (x) => x <= 2));
      if (variant === 'memory')
        out.push(check('vs direct', `${label}: throughput`, v.share, pct(v.share), '≥ 50%', (x) => x >= 0.5));
    }
  }
  // What Keybrake costs beyond a bare fastify hop in the same run.
  for (const request of requests) {
    const hop = find(report, request, 'fastify-hop');
    for (const variant of ['memory', 'redis'] as const) {
      const row = find(report, request, variant);
      if (!row || !hop) continue;
      const v = versus(row, hop);
      const label = `${variant.padEnd(6)} ${request}`;
      out.push(
        check(
          'vs fastify hop',
          `${label}: CPU per request`,
          v.cpu,
          `${fmt(v.cpu)}× (${fmt(row.cpu.proxyUs, 1)} / ${fmt(hop.cpu.proxyUs, 1)} µs)`,
          `≤ ${TARGETS.cpuVsFastify}×`,
          (x) => x <= TARGETS.cpuVsFastify,
        ),
        check(
          'vs fastify hop',
          `${label}: saturation`,
          v.share,
          `${pct(v.share)} (${int(row.saturated.rps)} / ${int(hop.saturated.rps)} req/s)`,
          '≥ 85%',
          (x) => x >= TARGETS.saturationVsFastify,
        ),
      );
      if (request.startsWith('POST'))
        out.push(
          check(
            'vs fastify hop',
            `${label}: p99 at the fixed rate`,
            v.p99,
            `${signed(v.p99)} ms (${fmt(row.fixed.p99)} / ${fmt(hop.fixed.p99)})`,
            '≤ +0.5 ms',
            (x) => x <= TARGETS.p99VsFastifyMs,
          ),
        );
      out.push(
        check(
          'vs fastify hop',
          `${label}: syscalls per call`,
          v.syscalls,
          `${signed(v.syscalls, 1)} (${fmt(row.syscalls?.perCall, 1)} / ${fmt(hop.syscalls?.perCall, 1)})`,
          '≤ +2',
          (x) => x <= TARGETS.syscallsVsFastify,
        ),
      );
    }
  }
  const rt = report.redisRoundTrips;
  if (rt) {
    const per = (r: RoundTrips) => (r.calls > 0 ? (r.scripts - r.released) / r.calls : Number.NaN);
    const released = (r: RoundTrips) => (r.released > 0 ? `, ${r.released} dropped unsent and released` : '');
    out.push(
      check(
        'redis',
        'redis  money call (POST): Redis round trips per call',
        per(rt.money),
        `${fmt(per(rt.money), 3)} (${rt.money.scripts} / ${rt.money.calls}${released(rt.money)})`,
        '= 1',
        () => rt.money.scripts === rt.money.calls + rt.money.released,
      ),
      check(
        'redis',
        'redis  read (GET): Redis round trips per call',
        per(rt.read),
        `${fmt(per(rt.read), 3)} (${rt.read.scripts} / ${rt.read.calls})`,
        '= 0',
        () => rt.read.scripts === 0,
      ),
    );
  }
  const scale = report.scale;
  if (scale && scale.length > 1) {
    const big = scale.at(-1)!;
    const one = scale[0]!;
    const at = `${big.keys.toLocaleString('en-US')} keys`;
    const partial = big.keys < TARGETS.scaleKeys ? ' (series stopped short of 100,000)' : '';
    // The 1-key table measured in the same rounds as the big one (older results: the 1-key row's).
    const reference = big.lookupReference ?? one.lookup;
    const lookupRatio = big.lookup.p50 / reference.p50;
    const loadMs = big.stages ? big.stages.loadMs + big.stages.validateMs + big.stages.compileMs : Number.NaN;
    /** The two start targets (ready < 2 s, RSS < 256 MiB) of one way to start with the table. */
    const started = (
      what: string,
      where: string,
      s: { readyMs: number; rssMiB: number | null; peakRssMiB?: number | null } | null | undefined,
    ) => [
      check(
        'scale',
        `${what} ready ${where}${partial}`,
        s?.readyMs ?? Number.NaN,
        `${seconds(s?.readyMs)} s`,
        '< 2 s',
        (x) => x < TARGETS.readyMs,
      ),
      check(
        'scale',
        `${what} RSS ${where}`,
        s?.rssMiB ?? Number.NaN,
        `${int(s?.rssMiB)} MiB${s?.peakRssMiB !== undefined ? ` (peak ${int(s.peakRssMiB)})` : ''}`,
        '< 256 MiB',
        (x) => x < TARGETS.rssMiB,
      ),
    ];
    out.push(
      ...started('serve', `at ${at}`, big.serve),
      ...started('proxy', `from a snapshot at ${at}`, big.proxyStart),
      check(
        'scale',
        `lookup p50, random key of ${at} vs 1 key`,
        lookupRatio,
        `${signed((lookupRatio - 1) * 100, 1)}% (${fmt(big.lookup.p50, 3)} / ${fmt(reference.p50, 3)} ms${big.lookupReference ? ', interleaved' : ''})`,
        '≤ +5%',
        (x) => x <= TARGETS.lookupP50Ratio,
      ),
      check(
        'scale',
        `compile at ${at} (load + validate + compile)`,
        loadMs,
        `${seconds(loadMs)} s (${seconds(big.stages?.loadMs)} + ${seconds(big.stages?.validateMs)} + ${seconds(big.stages?.compileMs)})`,
        '< 3 s',
        (x) => x < TARGETS.compileMs,
      ),
      check(
        'scale',
        `policy-check at ${at}`,
        big.policyCheck.ms,
        `${seconds(big.policyCheck.ms)} s, ${int(big.policyCheck.maxRssMiB)} MiB`,
        '< 3 s',
        (x) => x < TARGETS.policyCheckMs,
      ),
    );
    if (big.reload) {
      const d = big.reload.p99 - big.lookup.p99;
      out.push(
        check(
          'scale',
          `GET p99 during a reload at ${at}`,
          d,
          `${signed(d)} ms (${fmt(big.reload.p99)} / ${fmt(big.lookup.p99)}; ${big.reload.reloads} reloads of ${big.reload.msEach.map(seconds).join(', ')} s)`,
          '≤ +1 ms',
          (x) => x <= TARGETS.reloadP99Ms,
        ),
      );
    }
  }
  const largest = report.revoke?.p99Ms.reduce<[number, number] | undefined>(
    (a, r) => (a === undefined || r[0] > a[0] ? r : a),
    undefined,
  );
  if (report.revoke && largest && largest[0] >= 100_000) {
    const [keys, p99] = largest;
    const small = report.revoke.p99Ms.find((r) => r[0] < keys);
    out.push(
      check(
        'scale',
        `revoke p99 to 3 proxies, ${keys.toLocaleString('en')} keys (bench/k8s-revoke.ts, ${report.revoke.date.slice(0, 16)})`,
        p99,
        `${fmt(p99)} ms${small ? ` (${fmt(small[1])} ms with ${small[0].toLocaleString('en')} keys)` : ''}`,
        '< 100 ms',
        (x) => x < 100,
      ),
    );
  } else {
    out.push({
      group: 'not measured',
      what: 'revoke p99 to 3 proxies with 100k keys (deltas)',
      value: 'run bench/k8s-revoke.ts (real control plane, about 15 minutes)',
      limit: '< 100 ms',
      pass: null,
    });
  }
  return out;
}

const REQUEST_COLUMNS: [string, number][] = [
  ['request', -18],
  ['variant', -11],
  ['p50', 6],
  ['p99', 6],
  ['Δp99 hop', 9],
  ['sat req/s', 10],
  ['% hop', 6],
  ['CPU µs/req', 11],
  ['× hop', 6],
  ['upstr µs', 9],
  ['sys/call', 9],
  ['failed', 7],
];

function requestCells(report: BenchReport, row: Row): string[] {
  const hop = find(report, row.request, 'fastify-hop');
  const v = versus(row, hop);
  const failed = [row.fixed, row.saturated].reduce((n, p) => n + p.non2xx + p.errors, 0);
  const isHop = row.variant === 'fastify-hop' || row.variant === 'direct';
  return [
    row.request,
    row.variant,
    fmt(row.fixed.p50),
    fmt(row.fixed.p99),
    isHop ? '' : signed(v.p99),
    int(row.saturated.rps),
    isHop ? '' : pct(v.share),
    fmt(row.cpu.proxyUs, 1),
    isHop ? '' : fmt(v.cpu),
    fmt(row.cpu.upstreamUs, 1),
    fmt(row.syscalls?.perCall, 1),
    String(failed),
  ];
}

const SCALE_COLUMNS: [string, number][] = [
  ['keys', 7],
  ['MiB', 5],
  ['ready s', 8],
  ['RSS MiB', 8],
  ['heap MiB', 9],
  ['proxy s', 8],
  ['proxy MiB', 10],
  ['load s', 7],
  ['valid. s', 9],
  ['compile s', 10],
  ['check s', 8],
  ['chk MiB', 8],
  ['GET p50', 8],
  ['1-key p50', 10],
  ['p99', 6],
  ['reload s', 9],
  ['p99 dur.', 9],
  ['max dur.', 9],
];

function scaleCells(row: ScaleRow): string[] {
  return [
    row.keys.toLocaleString('en-US'),
    fmt(row.manifestMiB, 1),
    seconds(row.serve.readyMs),
    int(row.serve.rssMiB),
    int(row.serve.heapUsedMiB),
    seconds(row.proxyStart?.readyMs),
    int(row.proxyStart?.rssMiB),
    seconds(row.stages?.loadMs),
    seconds(row.stages?.validateMs),
    seconds(row.stages?.compileMs),
    seconds(row.policyCheck.ms),
    int(row.policyCheck.maxRssMiB),
    fmt(row.lookup.p50, 3),
    row.lookupReference ? fmt(row.lookupReference.p50, 3) : '',
    fmt(row.lookup.p99),
    row.reload ? seconds(row.reload.ms) : '',
    row.reload ? fmt(row.reload.p99) : '',
    row.reload ? fmt(row.reload.max) : '',
  ];
}

function header(report: BenchReport): string[] {
  const { machine, load } = report;
  const la = (l: number[] | null) => (l ? l.map((n) => n.toFixed(2)).join(' ') : 'unknown');
  return [
    `Keybrake benchmark, ${report.date} (\`${report.command}\`, ${report.elapsedSeconds} s), code ${report.code ? `${report.code.commit}${report.code.uncommittedChanges ? ' with uncommitted changes in src/ or cmd/' : ''}` : 'unknown'}`,
    `${machine.nproc} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, Linux ${machine.kernel}, Node ${machine.node}, redis-server ${machine.redis ?? 'not installed'}, nginx ${machine.nginx ?? 'not installed'}, strace ${machine.strace ?? 'not installed'}`,
    `load average before ${la(report.loadAverage.before)}, after ${la(report.loadAverage.after)}`,
    `fixed rate: ${load.fixed.overallRate} req/s evenly paced (open loop), up to ${load.fixed.connections} connections, ${load.fixed.seconds} s; saturation: ${load.saturated.connections} connections for ${load.saturated.seconds} s; each in ${load.rounds} rounds interleaved across the variants, after a ${load.warmUpSeconds} s warm-up`,
    `syscalls: strace -c -f on the proxy over ${load.syscalls.calls} calls paced at ${load.syscalls.rate} req/s; CPU: utime+stime of the proxy over the saturation phase ÷ requests`,
  ];
}

export function printReport(report: BenchReport): void {
  const w = (s = '') => process.stdout.write(`${s}\n`);
  w();
  for (const l of header(report)) w(l);
  w('latencies in ms; "hop" is the bare fastify hop of the same request (bench/hops/fastify-hop.ts)');
  w('load generator, proxy, upstream (and Redis) share the same CPUs: see docs/benchmarks.md');
  w();
  const table = (columns: [string, number][], rows: string[][]) => {
    const line = (cells: string[]) =>
      cells
        .map((c, i) => {
          const width = columns[i]?.[1] ?? 0;
          return width < 0 ? c.padEnd(-width) : c.padStart(width);
        })
        .join(' ');
    const head = line(columns.map(([name]) => name));
    w(head);
    w('-'.repeat(head.length));
    for (const r of rows) w(line(r));
  };
  if (report.rows.length > 0)
    table(
      REQUEST_COLUMNS,
      report.rows.map((r) => requestCells(report, r)),
    );
  if (report.scale) {
    w();
    w(
      'Scale series: keybrake serve over N VaultKeys (load/validate/compile: bench/stages.ts; check: policy-check; both the median of 3 runs;',
    );
    w(
      'GET p50/p99: paced GETs, each with a random key (1-key p50: the 1-key table in the same rounds, interleaved); reload: three one-key edits while that load runs, calls pooled; reload s is the median)',
    );
    table(SCALE_COLUMNS, report.scale.map(scaleCells));
  }
  for (const line of profileLines(report)) w(line);
  w();
  w('Targets (reported, not enforced: the exit code only reflects crashes)');
  for (const c of checks(report)) {
    const verdict = c.pass === null ? '----' : c.pass ? 'PASS' : 'FAIL';
    w(`  ${verdict}  ${c.what.padEnd(58)} ${c.value.padEnd(44)} ${c.limit}`);
  }
  for (const note of report.notes) {
    w();
    w(`!!! ${note}`);
  }
}

/** BENCH_PROFILE=1: where serve's start-up went at the largest size (self time). */
function profileLines(report: BenchReport): string[] {
  const row = report.scale?.find((r) => r.startProfile);
  const p = row?.startProfile;
  if (!row || !p) return [];
  const list = (entries: readonly [string, number, number][]) =>
    entries.map(([name, ms, share]) => `${name} ${(ms / 1000).toFixed(2)} s (${share}%)`).join(', ');
  return [
    '',
    `Start-up profile at ${row.keys.toLocaleString('en-US')} keys (--cpu-prof, ${(p.totalMs / 1000).toFixed(1)} s sampled), self time:`,
    `  by package: ${list(p.byPackage)}`,
    `  by function: ${list(p.byFunction.slice(0, 10))}`,
  ];
}

/** The same figures as markdown, for the generated block of docs/benchmarks.md. */
export function markdownReport(report: BenchReport): string {
  const out: string[] = [];
  const md = (columns: [string, number][], rows: string[][]) => {
    out.push(`| ${columns.map(([c]) => c).join(' | ')} |`);
    out.push(`| ${columns.map(([, w]) => (w < 0 ? '---' : '---:')).join(' | ')} |`);
    for (const r of rows) out.push(`| ${r.join(' | ')} |`);
  };
  for (const l of header(report)) out.push(`- ${l}`);
  out.push('');
  if (report.rows.length > 0) {
    md(
      REQUEST_COLUMNS,
      report.rows.map((r) => requestCells(report, r)),
    );
    out.push('');
  }
  const sys = report.rows.filter((r) => r.syscalls);
  if (sys.length > 0) {
    out.push('Syscalls per call, most frequent first:');
    out.push('');
    for (const r of sys) {
      const top = Object.entries(r.syscalls!.top)
        .map(([name, n]) => `${name} ${n}`)
        .join(', ');
      out.push(`- ${r.variant} ${r.request}: ${fmt(r.syscalls!.perCall, 1)} (${top})`);
    }
    out.push('');
  }
  if (report.scale) {
    md(SCALE_COLUMNS, report.scale.map(scaleCells));
    out.push('');
  }
  const profile = profileLines(report);
  if (profile.length > 0)
    out.push(...profile.slice(1).map((l) => (l.startsWith('  ') ? `- ${l.trim()}` : l)), '');
  out.push('| target | value | limit | result |');
  out.push('| --- | --- | --- | --- |');
  for (const c of checks(report)) {
    out.push(
      `| ${c.what} | ${c.value} | ${c.limit} | ${c.pass === null ? 'not measured' : c.pass ? 'PASS' : 'FAIL'} |`,
    );
  }
  for (const note of report.notes) out.push('', `**${note}**`);
  return out.join('\n');
}
