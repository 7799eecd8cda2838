// What one VaultKey change costs the operator's compile path with N keys in the table: the steps the
// Kubernetes source and the compile runner run on every change (documents → validate → compile →
// diff against the snapshot in force), for the first table and for one-key deletions after it, with
// the validation and compile caches (ADR 0014) and, as the baseline in the same run, without them.
// Figures go to stdout and to bench/results/operator-change.json.
//
//   node bench/operator-change.ts            # 100 000 keys
//   BENCH_KEYS=10000 node bench/operator-change.ts
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { RawDocument } from '../src/api/resource-set.ts';
import { createValidationCache, validate } from '../src/api/validate.ts';
import { systemClock } from '../src/clock.ts';
import { type CompileCache, compile, createCompileCache } from '../src/compiler/compile.ts';
import { diffSnapshots } from '../src/snapshot/serialize.ts';
import { newToken } from '../src/tokens/token.ts';
import { NAMESPACE, operatorResources } from './operator-resources.ts';

const KEYS = Number(process.env['BENCH_KEYS'] ?? 100_000);
type Doc = Record<string, unknown>;

/** The informer cache: each object under its document source, as the Kubernetes source names it. */
function objects(n: number): Map<string, [string, Doc]> {
  const tokens = Array.from({ length: n }, () => newToken('stripe'));
  const out = new Map<string, [string, Doc]>();
  for (const [kind, o] of operatorResources(tokens, new Set())) {
    const m = o['metadata'] as { name: string };
    out.set(`kubernetes:${kind}/${NAMESPACE}/${m.name}`, [kind, o]);
  }
  return out;
}

interface Caches {
  readonly validation?: ReturnType<typeof createValidationCache>;
  readonly compile?: CompileCache;
}

function change(store: Map<string, [string, Doc]>, version: number, caches: Caches) {
  const t0 = performance.now();
  const docs: RawDocument[] = [...store]
    .map(([source, [, o]]) => ({ source, index: 0, doc: o }))
    .sort((a, b) => (a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
  const t1 = performance.now();
  const { set } = validate(docs, caches.validation ? { cache: caches.validation } : {});
  const t2 = performance.now();
  const result = compile(set, {
    version,
    clock: systemClock,
    ...(caches.compile && { cache: caches.compile }),
  });
  const t3 = performance.now();
  return { result, documentsMs: t1 - t0, validateMs: t2 - t1, compileMs: t3 - t2 };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (n: number) => Math.round(n * 10) / 10;

/** The first table, then DELETES one-key deletions: each step's time, the median of the deletions. */
function series(label: string, caches: Caches) {
  const store = objects(KEYS);
  const first = change(store, 1, caches);
  let prev = first.result.snapshot;
  const steps = {
    documentsMs: [] as number[],
    validateMs: [] as number[],
    compileMs: [] as number[],
    diffMs: [] as number[],
    totalMs: [] as number[],
  };
  for (let i = 0; i < DELETES; i++) {
    // kubectl delete vaultkey k00000i: the informer drops the object, the rest stay the same objects.
    store.delete(`kubernetes:VaultKey/${NAMESPACE}/k${String(i).padStart(6, '0')}`);
    const next = change(store, 2 + i, caches);
    const t0 = performance.now();
    const delta = diffSnapshots(prev, next.result.snapshot);
    const diffMs = performance.now() - t0;
    if (delta.remove.size !== 1 || delta.upsert.size !== 0)
      throw new Error(`${label}: a one-key delete gave another delta`);
    prev = next.result.snapshot;
    steps.documentsMs.push(next.documentsMs);
    steps.validateMs.push(next.validateMs);
    steps.compileMs.push(next.compileMs);
    steps.diffMs.push(diffMs);
    steps.totalMs.push(next.documentsMs + next.validateMs + next.compileMs + diffMs);
  }
  const out = {
    firstTableMs: round(first.documentsMs + first.validateMs + first.compileMs),
    oneKeyDelete: Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, round(median(v))])),
  };
  console.log(`${label}: ${JSON.stringify(out)}`);
  return out;
}

const DELETES = Number(process.env['BENCH_DELETES'] ?? 7);
const loadBefore = loadavg().map((n) => round(n));
// Without caches: every change validates and compiles the whole table (the baseline, as before ADR 0014).
const scratch = series('from scratch', {});
const cached = series('with caches ', { validation: createValidationCache(), compile: createCompileCache() });
const report = {
  date: new Date().toISOString(),
  keys: KEYS,
  loadAverageBefore: loadBefore,
  loadAverageAfter: loadavg().map((n) => round(n)),
  scratch,
  cached,
  ratio:
    Math.round(((cached.oneKeyDelete['totalMs'] ?? 0) / (scratch.oneKeyDelete['totalMs'] ?? 1)) * 100) / 100,
};
console.log(`one-key delete with caches / from scratch: ${report.ratio}`);
await mkdir(new URL('results/', import.meta.url), { recursive: true });
await writeFile(
  new URL('results/operator-change.json', import.meta.url),
  `${JSON.stringify(report, null, 2)}\n`,
);
