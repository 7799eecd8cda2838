import { formatDocumentError } from '../api/resource-set.ts';
import { systemClock } from '../clock.ts';
import type { ObjectStatus } from '../compiler/compile.ts';
import { type CompileOutcome, createCompileRunner, ManifestError } from '../compiler/runner.ts';
import { startProxy } from '../proxy/runtime.ts';
import { createFileSource } from '../sources/file/source.ts';
import { createLogger, type Log } from '../telemetry/logger.ts';
import { startTracing } from '../telemetry/tracing.ts';
import { type Flags, parseFlags, UsageError } from './args.ts';
import { counterStoreFromFlags, PROXY_RUNTIME_FLAGS, proxyConfigFromFlags } from './proxy-options.ts';

export const SERVE_SUMMARY =
  'Runs the Keybrake proxy from SpendPolicy, VaultKey and Secret manifests (the same YAML you would\n' +
  'kubectl apply). Edits to the files take effect without a restart; an invalid edit keeps the last\n' +
  'good policy. Audit records go to stdout, one JSON line per call; logs go to stderr.';

export const SERVE_FLAGS = {
  manifests: { type: 'string', multiple: true, help: 'manifest file or directory', placeholder: 'path' },
  ...PROXY_RUNTIME_FLAGS,
  help: { type: 'boolean', short: 'h', help: 'show this help' },
} as const satisfies Flags;

/**
 * `keybrake serve`: file source → compile runner → the proxy's SnapshotHolder, in one process
 * (DESIGN.md §3, standalone mode). The manifests are compiled before any listener binds, so invalid
 * ones stop the start with their errors; later invalid edits are refused whole and logged.
 */
export async function serve(
  argv: readonly string[],
  log: Log = createLogger(),
): Promise<{ close(): Promise<void> }> {
  const { values } = parseFlags(argv, SERVE_FLAGS);
  const manifests = (values.manifests as string[] | undefined) ?? [];
  if (manifests.length === 0)
    throw new UsageError('--manifests is required (a file or directory of YAML manifests)');
  const clock = systemClock;
  const config = await proxyConfigFromFlags(values, { clock, log });

  const source = createFileSource(manifests, { clock, log });
  const runner = createCompileRunner({ clock, refuseChangesWithErrors: true });
  runner.onOutcome((o) => logCompiled(log, o));
  try {
    runner.run(await source.start());
  } catch (err) {
    source.close();
    if (err instanceof ManifestError) throw new UsageError(`invalid manifests:\n  ${err.lines.join('\n  ')}`);
    throw err;
  }
  // Connected before the listeners bind: a change saved meanwhile is compiled and handed over below.
  source.onUpdate((u) => runner.run(u));

  const { counters, kind } = await counterStoreFromFlags(values, { clock, log });
  const stopTracing = await startTracing(process.env);
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  try {
    proxy = await startProxy({ ...config, counters, runsApi: true });
  } catch (err) {
    // A port in use, say: release the watcher, the store and the tracer before reporting it.
    source.close();
    await counters.close();
    await stopTracing();
    throw err;
  }

  runner.publishTo((o) => proxy.snapshots.apply(o.snapshot));
  const inForce = runner.current!;
  reportNotReady(log, inForce.statuses);
  runner.onOutcome((o) => {
    if (!o.applied) return;
    log.info({ version: o.snapshot.version, keys: o.snapshot.keys.size }, 'policy reloaded');
    reportNotReady(log, o.statuses);
  });

  log.info(
    { urls: proxy.urls, keys: inForce.snapshot.keys.size, counters: kind, version: inForce.snapshot.version },
    'listening',
  );
  return {
    async close() {
      source.close();
      await proxy.close();
      await counters.close();
      await stopTracing();
    },
  };
}

/** Each compile of the manifests: what was loaded and what is not ready, or why a change was refused. */
function logCompiled(log: Log, o: CompileOutcome): void {
  if (!o.applied) {
    log.error(
      { errors: o.errors.map(formatDocumentError), version: o.snapshot.version },
      'manifest change rejected: keeping the last good policy',
    );
    return;
  }
  const keys = o.statuses.filter((s) => s.kind === 'VaultKey');
  log.info(
    { version: o.snapshot.version, keys: keys.length, served: o.snapshot.keys.size },
    'manifests loaded',
  );
  for (const s of o.statuses) {
    const c = s.conditions[0];
    if (c && c.status !== 'True') {
      log.warn(
        {
          kind: s.kind,
          namespace: s.namespace,
          name: s.name,
          reason: c.reason,
          tokenFingerprint: s.tokenFingerprint,
        },
        `${s.kind} ${s.namespace}/${s.name} is not ready: ${c.message}`,
      );
    }
  }
}

/** Once the proxy holds a snapshot: every object it does not serve as Ready, one line each. */
function reportNotReady(log: Log, statuses: readonly ObjectStatus[]): void {
  for (const s of statuses) {
    const ready = s.conditions.find((c) => c.type === 'Ready');
    if (ready && ready.status !== 'True') {
      log.warn(
        { kind: s.kind, object: `${s.namespace}/${s.name}`, reason: ready.reason, message: ready.message },
        'not ready',
      );
    }
  }
}
