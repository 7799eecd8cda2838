// The snapshot stream at scale (ADR 0013), without a cluster: what a one-key change costs the
// operator and the wire, what reading a whole table or a delta costs a proxy's event loop, and what
// calls through a real `keybrake proxy` process see while it reads a whole table (a resync).
//
//   node bench/k8s-stream.ts                  # 100 000 keys
//   BENCH_KEYS=10000 node bench/k8s-stream.ts
//
// This process plays the operator: it compiles a generated table with the real validate + compile
// (from scratch, without the operator's caches: bench/operator-change.ts measures those), serves it with the
// real snapshot server (plain HTTP on loopback, every proxy admitted), and generates the call load.
// The proxy is the CLI as users run it, following that server. Figures go to stdout and to
// bench/results/k8s-stream.json. Readiness and phase ends are log lines awaited with a deadline.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { Pool } from 'undici';
import type { RawDocument } from '../src/api/resource-set.ts';
import { validate } from '../src/api/validate.ts';
import { systemClock } from '../src/clock.ts';
import { compile } from '../src/compiler/compile.ts';
import { createChangeSetReader, type StreamTable } from '../src/distribution/apply.ts';
import {
  deltaLines,
  fullSnapshotLines,
  nextSnapshotVersion,
  parseStreamMessage,
} from '../src/distribution/protocol.ts';
import { createSnapshotServer } from '../src/distribution/server.ts';
import { LayeredMap } from '../src/snapshot/layered-map.ts';
import {
  deltaSize,
  deserializeSnapshot,
  diffSnapshots,
  serializeSnapshot,
} from '../src/snapshot/serialize.ts';
import { silentLogger } from '../src/telemetry/logger.ts';
import { newToken } from '../src/tokens/token.ts';
import { operatorResources as resources } from './operator-resources.ts';
import { followingProxyArgs, followingProxyEnv } from './processes.ts';
import { statusMiB } from './procfs.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const KEYS = Number(process.env['BENCH_KEYS'] ?? 100_000);
const RATE = Number(process.env['BENCH_RATE'] ?? 1000);
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 5);

type Doc = Record<string, unknown>;

/** One change as the operator handles it: informer objects → sorted documents → validate → compile. */
function operatorCompile(objects: [string, Doc][], version: number) {
  const t0 = performance.now();
  const docs: RawDocument[] = objects
    .map(([kind, o]) => {
      const m = o['metadata'] as { namespace: string; name: string };
      return { source: `kubernetes:${kind}/${m.namespace}/${m.name}`, index: 0, doc: o };
    })
    .sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
  const t1 = performance.now();
  const { set } = validate(docs);
  const t2 = performance.now();
  const { snapshot } = compile(set, { version, clock: systemClock });
  const t3 = performance.now();
  return { snapshot, documentsMs: t1 - t0, validateMs: t2 - t1, compileMs: t3 - t2 };
}

const timed = <T>(fn: () => T): [T, number] => {
  const t0 = performance.now();
  const out = fn();
  return [out, performance.now() - t0];
};

/** Reads change-set lines as a proxy does (parse + validate + link per line); the cost per line. */
function readLines(text: string, current: StreamTable | undefined) {
  const reader = createChangeSetReader();
  let table: StreamTable | undefined;
  let busyMs = 0;
  let maxLineMs = 0;
  let lines = 0;
  for (const line of text.trimEnd().split('\n')) {
    const t0 = performance.now();
    const m = parseStreamMessage(line);
    if (!m || (m.type !== 'full' && m.type !== 'delta' && m.type !== 'part'))
      throw new Error('not a change set');
    table = reader.read(m, current) ?? table;
    const ms = performance.now() - t0;
    busyMs += ms;
    maxLineMs = Math.max(maxLineMs, ms);
    lines++;
  }
  return { table: table!, busyMs, maxLineMs, lines };
}

const pct = (sorted: readonly number[], q: number) =>
  sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length))) - 1]!;
const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;

/** A child process whose JSON log lines (stderr) can be awaited; stdout (the audit) is discarded. */
function spawnLogged(args: string[], env: NodeJS.ProcessEnv = {}, stdin: 'ignore' | 'pipe' = 'ignore') {
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: [stdin, 'ignore', 'pipe'],
  });
  const waiters = new Set<{ pred: (l: Doc) => boolean; resolve: (l: Doc) => void }>();
  let tail = '';
  createInterface({ input: child.stderr! }).on('line', (line) => {
    tail = `${tail}${line}\n`.slice(-4_000);
    let rec: Doc;
    try {
      rec = JSON.parse(line) as Doc;
    } catch {
      return;
    }
    for (const w of waiters)
      if (w.pred(rec)) {
        waiters.delete(w);
        w.resolve(rec);
      }
  });
  const exited = once(child, 'exit');
  return {
    child,
    next(pred: (l: Doc) => boolean, timeoutMs: number, what: string): Promise<Doc> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no ${what} within ${timeoutMs} ms:\n${tail}`)),
          timeoutMs,
        );
        waiters.add({
          pred,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function main() {
  const load0 = loadavg();
  const started = Date.now();
  console.log(
    `[k8s-stream] ${KEYS} keys, ${RATE} req/s, ${ROUNDS} rounds; load average ${load0.map((l) => l.toFixed(2)).join(' ')}`,
  );
  const tokens = Array.from({ length: KEYS }, () => newToken('stripe'));

  // --- The operator: one change at N keys ------------------------------------------------------
  const first = operatorCompile(resources(tokens, new Set()), 1);
  const v1 = first.snapshot;
  const [fullText1, fullColdMs] = timed(() => fullSnapshotLines(v1));
  const second = operatorCompile(resources(tokens, new Set([0])), 2);
  const v2 = second.snapshot;
  const [delta, diffMs] = timed(() => diffSnapshots(v1, v2));
  const [oneKeyDelta, deltaLinesMs] = timed(() => deltaLines(delta));
  const [, fullWarmMs] = timed(() => fullSnapshotLines(v2));
  const [legacy, legacySerializeMs] = timed(() => serializeSnapshot(v2));
  const [, legacyDeserializeMs] = timed(() => deserializeSnapshot(legacy));
  const [, mapCopyMs] = timed(() => new Map(v2.keys));
  const operator = {
    documentsMs: second.documentsMs,
    validateMs: second.validateMs,
    compileMs: second.compileMs,
    diffMs,
    deltaLinesMs,
    deltaEntries: deltaSize(delta),
    deltaBytes: Buffer.byteLength(oneKeyDelta),
    fullLines: fullText1.split('\n').length - 1,
    fullBytes: Buffer.byteLength(fullText1),
    fullColdMs,
    fullWarmMs,
    legacyBytes: Buffer.byteLength(legacy),
    legacySerializeMs,
  };
  console.log(
    `[k8s-stream] operator ${JSON.stringify(operator, (_k, v) => (typeof v === 'number' ? round(v) : v))}`,
  );

  // --- The proxy's reading, in process ----------------------------------------------------------
  const full = readLines(fullText1, undefined);
  const [, fullSwapMs] = timed(() => full.table.snapshot.keys.get('0'.repeat(64)));
  const onDelta = readLines(oneKeyDelta, full.table);
  // A delta of 1 000 keys leaves an overlay to compact: the background work that follows deltas.
  const wide = operatorCompile(resources(tokens, new Set(Array.from({ length: 1_000 }, (_, i) => i))), 3);
  const wideDelta = readLines(deltaLines(diffSnapshots(v2, wide.snapshot)), onDelta.table);
  let slices = 0;
  let maxSliceMs = 0;
  let last = performance.now();
  const compactStarted = performance.now();
  let sliceStart = performance.now();
  await LayeredMap.compact(
    wideDelta.table.keys,
    () => wideDelta.table.keys,
    async () => {
      maxSliceMs = Math.max(maxSliceMs, performance.now() - sliceStart);
      slices++;
      await new Promise((r) => setImmediate(r));
      sliceStart = performance.now();
      last = sliceStart;
    },
  );
  const proxyInProcess = {
    fullBusyMs: full.busyMs,
    fullMaxLineMs: full.maxLineMs,
    fullLines: full.lines,
    fullSwapMs,
    deltaBusyMs: onDelta.busyMs,
    deltaMaxLineMs: onDelta.maxLineMs,
    delta1000BusyMs: wideDelta.busyMs,
    delta1000MaxLineMs: wideDelta.maxLineMs,
    compactMs: last - compactStarted,
    compactSlices: slices,
    compactMaxSliceMs: maxSliceMs,
    legacyDeserializeMs,
    mapCopyMs,
  };
  console.log(
    `[k8s-stream] proxy in process ${JSON.stringify(proxyInProcess, (_k, v) => (typeof v === 'number' ? round(v) : v))}`,
  );

  // --- A real proxy process under a paced call load -------------------------------------------
  const dir = await mkdtemp(path.join(tmpdir(), 'keybrake-k8s-stream-'));
  const cleanups: (() => Promise<unknown>)[] = [() => rm(dir, { recursive: true, force: true })];
  try {
    const upstream = spawn(process.execPath, [path.join(ROOT, 'bench/upstream.ts')], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    cleanups.push(async () => {
      upstream.kill('SIGTERM');
      await once(upstream, 'exit');
    });
    const [portLine] = (await once(createInterface({ input: upstream.stdout! }), 'line')) as [string];
    const upstreamUrl = `http://127.0.0.1:${(JSON.parse(portLine) as { port: number }).port}`;

    // The operator in a process of its own, so its work (a table's lines for the reconnecting
    // proxy) never delays the load this process generates.
    const operatorChild = spawnLogged(
      [path.join(ROOT, 'bench/k8s-stream.ts'), 'operator'],
      {
        BENCH_KEYS: String(KEYS),
      },
      'pipe',
    );
    cleanups.push(() => operatorChild.stop());
    const serving = await operatorChild.next((l) => l['msg'] === 'serving', 600_000, 'the operator');
    const serverUrl = String(serving['url']);
    const token = String(serving['token']);
    const command = (line: string) => operatorChild.child.stdin!.write(`${line}\n`);
    await writeFile(path.join(dir, 'token'), 'bench-proxy-token\n');

    const proxySpawnedAt = performance.now();
    const proxy = spawnLogged(
      [
        'cmd/keybrake.ts',
        ...followingProxyArgs({
          operatorUrl: serverUrl,
          tokenFile: path.join(dir, 'token'),
          upstream: upstreamUrl,
        }),
      ],
      followingProxyEnv(),
    );
    cleanups.push(() => proxy.stop());
    const [listening, firstTable] = await Promise.all([
      proxy.next((l) => l['msg'] === 'listening', 30_000, 'listening line'),
      proxy.next((l) => l['msg'] === 'snapshot applied' && l['kind'] === 'full', 120_000, 'first table'),
    ]);
    const stripeUrl = (listening['urls'] as Record<string, string>)['stripe']!;
    // A proxy's start from a snapshot (issue #14: ready in < 2 s with 100 000 keys, RSS < 256 MiB):
    // from spawn to the whole table in force, and its RSS then (and its peak so far).
    const proxyStart = {
      readyMs: performance.now() - proxySpawnedAt,
      rssMiB: statusMiB(proxy.child.pid!, 'VmRSS'),
      peakRssMiB: statusMiB(proxy.child.pid!, 'VmHWM'),
    };
    console.log(`[k8s-stream] proxy read its first table: ${JSON.stringify(firstTable)}`);
    console.log(`[k8s-stream] proxy start from the snapshot: ${JSON.stringify(proxyStart)}`);

    // Calls sent at evenly spaced instants (open loop) with the token of key 1, until told to stop.
    const pool = new Pool(stripeUrl, { connections: 10 });
    cleanups.push(() => pool.close());
    const samples: { sentAt: number; ms: number; ok: boolean }[] = [];
    let running = true;
    const interval = 1000 / RATE;
    const inFlight = new Set<Promise<void>>();
    const call = async () => {
      const t0 = performance.now();
      let ok = false;
      try {
        const res = await pool.request({
          path: '/v1/customers?limit=1',
          method: 'GET',
          headers: { authorization: `Bearer ${token}` },
        });
        await res.body.dump();
        ok = res.statusCode === 200;
      } catch {}
      samples.push({ sentAt: t0, ms: performance.now() - t0, ok });
    };
    const loadStart = performance.now();
    const loader = (async () => {
      for (let sent = 0; running; ) {
        const due = Math.floor((performance.now() - loadStart) / interval) + 1;
        for (; sent < due; sent++) {
          const p = call();
          inFlight.add(p);
          void p.finally(() => inFlight.delete(p));
        }
        await delay(Math.max(0, loadStart + sent * interval - performance.now()));
      }
      await Promise.all(inFlight);
    })();
    cleanups.push(async () => {
      running = false;
      await loader;
    });

    await delay(2_000); // warm-up: its calls are not counted
    const quiet: [number, number][] = [];
    const resync: [number, number][] = [];
    const resyncs: Doc[] = [];
    const deltas: Doc[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      // A quiet window as long as the last resync took (at least 1.5 s).
      const span = Math.max(1_500, Number(resyncs.at(-1)?.['applyMs'] ?? 0));
      const q0 = performance.now();
      await delay(span);
      quiet.push([q0, performance.now()]);
      // A resync: the stream is cut, the proxy reconnects and reads the whole table again.
      const applied = proxy.next(
        (l) => l['msg'] === 'snapshot applied' && l['kind'] === 'full',
        120_000,
        'the resynced table',
      );
      const s0 = performance.now();
      command('resync');
      resyncs.push(await applied);
      resync.push([s0, performance.now()]);
      // A one-key change: the next version suspends one more key.
      const got = proxy.next(
        (l) => l['msg'] === 'snapshot applied' && l['kind'] === 'delta',
        30_000,
        'the delta',
      );
      command(`suspend ${r + 2}`);
      deltas.push(await got);
    }
    running = false;
    await loader;

    const inWindows = (ws: [number, number][]) =>
      samples
        .filter((s) => ws.some(([a, b]) => s.sentAt >= a && s.sentAt <= b))
        .map((s) => s.ms)
        .sort((a, b) => a - b);
    const failed = samples.filter((s) => !s.ok).length;
    const q = inWindows(quiet);
    const rs = inWindows(resync);
    const calls = {
      rate: RATE,
      quiet: { calls: q.length, p50: pct(q, 0.5), p99: pct(q, 0.99), max: q.at(-1) },
      resync: { calls: rs.length, p50: pct(rs, 0.5), p99: pct(rs, 0.99), max: rs.at(-1) },
      p99DeltaMs: pct(rs, 0.99) - pct(q, 0.99),
      failed,
    };
    const summary = (ls: Doc[], field: string) => {
      const v = ls.map((l) => Number(l[field])).sort((a, b) => a - b);
      return { p50: pct(v, 0.5), max: v.at(-1) };
    };
    const proxyProcess = {
      resync: {
        applyMs: summary(resyncs, 'applyMs'),
        busyMs: summary(resyncs, 'busyMs'),
        maxBlockMs: summary(resyncs, 'maxBlockMs'),
        lines: resyncs[0]?.['lines'],
      },
      delta: {
        applyMs: summary(deltas, 'applyMs'),
        busyMs: summary(deltas, 'busyMs'),
        maxBlockMs: summary(deltas, 'maxBlockMs'),
      },
      calls,
    };
    console.log(
      `[k8s-stream] proxy process ${JSON.stringify(proxyProcess, (_k, v) => (typeof v === 'number' ? round(v, 3) : v))}`,
    );
    const results = {
      date: new Date(started).toISOString(),
      keys: KEYS,
      loadAverageBefore: load0,
      loadAverageAfter: loadavg(),
      seconds: (Date.now() - started) / 1000,
      operator,
      proxyInProcess,
      proxyStart,
      proxyProcess,
    };
    await mkdir(path.join(ROOT, 'bench/results'), { recursive: true });
    if (process.env['BENCH_SAMPLES'])
      await writeFile(
        process.env['BENCH_SAMPLES'],
        JSON.stringify({ loadStart, samples, quiet, resync, resyncs, deltas }),
      );
    await writeFile(
      path.join(ROOT, 'bench/results/k8s-stream.json'),
      `${JSON.stringify(results, null, 2)}\n`,
    );
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  }
}

/**
 * `node bench/k8s-stream.ts operator`: the operator's side in its own process. Compiles the table,
 * serves it, prints `{"msg":"serving","url","token"}` (the token of key 1) on stderr, then obeys
 * stdin: `resync` cuts every stream (each proxy reconnects and reads the whole table), `suspend <i>`
 * publishes the next version with key i suspended (a one-key change).
 */
async function operatorMode() {
  const tokens = Array.from({ length: KEYS }, () => newToken('stripe'));
  let current = operatorCompile(resources(tokens, new Set()), Date.now()).snapshot;
  const server = createSnapshotServer({
    authenticate: async () => ({ ok: true, user: 'bench/proxy' }),
    isLeader: () => true,
    heartbeatMs: 2_000,
    log: silentLogger(),
  });
  const url = await server.listen({ host: '127.0.0.1', port: 0 });
  server.publish(current);
  // Serving once its keys' texts are written, as an operator that has held its table for a moment
  // is when a proxy starts (a scale-up, a restarted pod): what a proxy's start costs, not an
  // operator's first second.
  await server.textsWritten();
  const digests = [...current.keys.keys()];
  process.stderr.write(`${JSON.stringify({ msg: 'serving', url, token: tokens[1] })}\n`);
  const byName = new Map([...current.keys].map(([d, k]) => [k.name, d]));
  for await (const line of createInterface({ input: process.stdin })) {
    const [verb, arg] = line.trim().split(' ');
    if (verb === 'resync') server.disconnectAll();
    else if (verb === 'suspend') {
      const digest = byName.get(`k${String(Number(arg)).padStart(6, '0')}`) ?? digests[Number(arg)]!;
      const keys = new Map(current.keys);
      keys.set(digest, { ...keys.get(digest)!, suspended: true });
      // Above what the server serves: it re-stamps its table above a reconnecting proxy's (ADR 0005).
      current = { version: nextSnapshotVersion(server.version, Date.now()), compiledAt: Date.now(), keys };
      server.publish(current);
    }
  }
  await server.close();
}

if (process.argv[2] === 'operator') await operatorMode();
else await main();
