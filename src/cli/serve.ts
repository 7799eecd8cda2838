import { systemClock } from '../clock.ts';
import { startProxy } from '../proxy/runtime.ts';
import { createFileSource, ManifestError } from '../sources/file/source.ts';
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
  let first: Awaited<ReturnType<typeof source.start>>;
  try {
    first = await source.start();
  } catch (err) {
    if (err instanceof ManifestError) throw new UsageError(`invalid manifests:\n  ${err.lines.join('\n  ')}`);
    throw err;
  }

  const { counters, kind } = await counterStoreFromFlags(values, { clock, log });
  const stopTracing = await startTracing(process.env);
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  try {
    proxy = await startProxy({ ...config, counters });
  } catch (err) {
    // A port in use, say: release the watcher, the store and the tracer before reporting it.
    source.close();
    await counters.close();
    await stopTracing();
    throw err;
  }

  const report = (u: typeof first) => {
    for (const s of u.statuses) {
      const ready = s.conditions.find((c) => c.type === 'Ready');
      if (ready && ready.status !== 'True') {
        log.warn(
          { kind: s.kind, object: `${s.namespace}/${s.name}`, reason: ready.reason, message: ready.message },
          'not ready',
        );
      }
    }
  };
  proxy.snapshots.apply(first.snapshot);
  report(first);
  source.onUpdate((u) => {
    if (!u.applied) return;
    proxy.snapshots.apply(u.snapshot);
    log.info({ version: u.snapshot.version, keys: u.snapshot.keys.size }, 'policy reloaded');
    report(u);
  });

  log.info(
    {
      urls: proxy.urls,
      keys: first.snapshot.keys.size,
      counters: kind,
      version: first.snapshot.version,
    },
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
