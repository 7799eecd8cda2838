// Child of the scale series: where loading N keys goes, stage by stage, in a process of its own
// (so its heap is its own): read + YAML parse (loadManifests), validate, compile. Prints one JSON
// line. Usage: node bench/stages.ts <manifests-dir>
//
// The compile is the one `keybrake serve` runs on its compile thread at a start
// (src/cli/compile-thread-worker.ts through createCompileRunner): a compile cache filled for the
// reloads to come, patch state kept, statuses only for what is not Ready, no run-key index (the
// serving thread builds its own as the table's lines arrive). Until 2026-12-01 it was compile's
// defaults, the operator's: a status object per Ready key and the run-key index besides, which no
// 100 000-key start from manifests makes (about 0.15 to 0.3 s more at 100 000 keys).
import { validate } from '../src/api/validate.ts';
import { systemClock } from '../src/clock.ts';
import { compile, createCompileCache } from '../src/compiler/compile.ts';
import { loadManifests } from '../src/sources/file/load.ts';

const dir = process.argv[2] ?? '';
const t0 = performance.now();
const loaded = await loadManifests([dir]);
const t1 = performance.now();
const { set, errors } = validate(loaded.documents);
const t2 = performance.now();
const { snapshot } = compile(set, {
  version: 1,
  clock: systemClock,
  cache: createCompileCache(),
  patchable: true,
  readyStatuses: false,
  runKeyIndex: false,
});
const t3 = performance.now();
const mem = process.memoryUsage();
process.stdout.write(
  `${JSON.stringify({
    documents: loaded.documents.length,
    errors: loaded.errors.length + errors.length,
    served: snapshot.keys.size,
    loadMs: t1 - t0,
    validateMs: t2 - t1,
    compileMs: t3 - t2,
    heapUsedMiB: mem.heapUsed / 2 ** 20,
    rssMiB: mem.rss / 2 ** 20,
  })}\n`,
);
