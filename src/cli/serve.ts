import { systemClock } from '../clock.ts';
import { ManifestError } from '../compiler/runner.ts';
import type { ProxyConfig } from '../proxy/runtime.ts';
import { SnapshotHolder } from '../snapshot/holder.ts';
import { createLogger, type Log } from '../telemetry/logger.ts';
import type { ReloadTally } from '../telemetry/reload-metrics.ts';
import { type Flags, parseFlags, UsageError } from './args.ts';
import { type CompileSummary, type CompileThread, startCompileThread } from './compile-thread.ts';
import { logLevelFromEnv } from './log-level.ts';
import { PROXY_RUNTIME_FLAGS } from './proxy-flags.ts';
import { rejectionLine } from './rejection-line.ts';
import { absoluteFromShell } from './shell-paths.ts';

export const SERVE_SUMMARY =
  'Runs the Keybrake proxy from SpendPolicy, VaultKey and Secret manifests (the same YAML you would\n' +
  'kubectl apply). Edits to the files take effect without a restart; an invalid edit keeps the last\n' +
  'good policy (keybrake_manifest_last_reload_successful is 0 on /metrics until a valid edit). Audit\n' +
  'records go to stdout, one JSON line per call; logs go to stderr.';

export const SERVE_FLAGS = {
  manifests: { type: 'string', multiple: true, help: 'manifest file or directory', placeholder: 'path' },
  ...PROXY_RUNTIME_FLAGS,
  // serve's admin listener carries the run API too, whose callers send the parent vault token over
  // plain HTTP: the help says so, as the reason to keep the default loopback address (ADR 0010).
  'admin-listen': {
    ...PROXY_RUNTIME_FLAGS['admin-listen'],
    help:
      '/metrics (unauthenticated: names every key and its spend), /healthz, /readyz, and the run API ' +
      '(/v1/runs: callers send the parent vault token over plain HTTP): keep it on loopback',
  },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
} as const satisfies Flags;

/**
 * `keybrake serve`: file source → compile runner, in the compile thread → change sets → the proxy's
 * SnapshotHolder (DESIGN.md §3, standalone mode; ADR 0015). The manifests are compiled before any
 * listener binds, so invalid ones stop the start with their errors; later invalid edits are refused
 * whole and logged. Compiling happens off the thread that serves calls: a reload never holds them.
 */
export async function serve(
  argv: readonly string[],
  log: Log = createLogger({ level: logLevelFromEnv() }),
): Promise<{ close(): Promise<void>; readonly failed: Promise<Error> }> {
  const { values } = parseFlags(argv, SERVE_FLAGS);
  const given = (values.manifests as string[] | undefined) ?? [];
  if (given.length === 0)
    throw new UsageError('--manifests is required (a file or directory of YAML manifests)');
  // Once, now: a relative path left to the kernel stays on the folder serve started in, and a link
  // flipped or a folder moved above it is never seen; a `..` left in a path is read as text by the
  // file source and through links by the kernel, two folders (ninth round).
  const manifests = absoluteFromShell(given);
  log.info({ manifests }, 'reading manifests');
  const clock = systemClock;

  // The compile thread starts first, and the proxy's modules (fastify, undici, the vendors' catalogs,
  // Redis: about 0.3 s) load while it reads the manifests. The flags are checked once they have
  // loaded: a bad one stops the thread and is reported before anything the manifests say.
  const snapshots = new SnapshotHolder(clock);
  const stopThread = new AbortController();
  let first: CompileSummary | undefined;
  let listening = false;
  /** Outcomes that came before the flags were checked: logged once they are. */
  let early: CompileSummary[] | undefined = [];
  const reloads: ReloadTally = { applied: 0, rejected: 0, lastApplied: true };
  const starting = startCompileThread({
    paths: manifests,
    holder: snapshots,
    log,
    signal: stopThread.signal,
    onOutcome(o) {
      first ??= o;
      if (o.applied) reloads.applied++;
      else reloads.rejected++;
      reloads.lastApplied = o.applied;
      if (early) early.push(o);
      else logCompiled(log, o);
      if (!listening || !o.applied) return;
      log.info({ version: o.version, keys: o.served }, 'policy reloaded');
    },
  });
  const proxyModules = Promise.all([
    import('../proxy/runtime.ts'),
    import('../telemetry/tracing.ts'),
    import('./proxy-options.ts'),
    import('../telemetry/reload-metrics.ts'),
  ]);
  // Whatever happens below, a failed start is reported once, by the await that meets it.
  starting.catch(() => {});

  let modules: Awaited<typeof proxyModules>;
  let config: Omit<ProxyConfig, 'counters'>;
  try {
    modules = await proxyModules;
    config = await modules[2].proxyConfigFromFlags(values, { clock, log });
  } catch (err) {
    stopThread.abort();
    throw err;
  }
  const [{ startProxy }, { startTracing }, { counterStoreFromFlags }, { registerReloadMetrics }] = modules;
  for (const o of early) logCompiled(log, o);
  early = undefined;

  let thread: CompileThread;
  try {
    thread = await starting;
  } catch (err) {
    if (err instanceof ManifestError) throw new UsageError(`invalid manifests:\n  ${err.lines.join('\n  ')}`);
    throw err;
  }

  // A bad --redis URL, say: the compile thread (and the store) must be released before it is
  // reported, or the process would wait on them forever, serving nothing.
  let store: Awaited<ReturnType<typeof counterStoreFromFlags>>;
  try {
    store = await counterStoreFromFlags(values, { clock, log });
  } catch (err) {
    await thread.close();
    throw err;
  }
  const { counters, kind } = store;
  let stopTracing: Awaited<ReturnType<typeof startTracing>>;
  try {
    stopTracing = await startTracing(process.env, log);
  } catch (err) {
    await thread.close();
    await counters.close();
    throw err;
  }
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  try {
    proxy = await startProxy({ ...config, counters, runsApi: true, snapshots });
  } catch (err) {
    // A port in use, say: release the compile thread, the store and the tracer before reporting it.
    await thread.close();
    await counters.close();
    await stopTracing();
    throw err;
  }
  registerReloadMetrics(proxy.metrics.registry, reloads);
  listening = true;
  const inForce = snapshots.current!;
  log.info(
    { urls: proxy.urls, keys: inForce.keys.size, counters: kind, version: inForce.version },
    'listening',
  );
  // policy-check calls this an error; serve keeps watching, so files added later are served.
  if (first!.keys === 0) {
    log.warn(
      { manifests },
      'no VaultKey in the manifests: every call is refused (key_unknown) until one is added',
    );
  }
  return {
    failed: proxy.failed,
    async close() {
      await thread.close();
      await proxy.close();
      await counters.close();
      await stopTracing();
    },
  };
}

/**
 * Each compile of the manifests: what was loaded and what is not ready (one line per object: a second
 * report of each, in another shape, once listening and at each reload, went in the ninth round), or
 * why a change was refused.
 */
function logCompiled(log: Log, o: CompileSummary): void {
  if (!o.applied) {
    const { fields, msg } = rejectionLine(o);
    log.error(fields, msg);
    return;
  }
  log.info({ version: o.version, keys: o.keys, served: o.served }, 'manifests loaded');
  for (const s of o.notReady) {
    log.warn(
      {
        kind: s.kind,
        namespace: s.namespace,
        name: s.name,
        reason: s.reason,
        tokenFingerprint: s.tokenFingerprint,
      },
      `${s.kind} ${s.namespace}/${s.name} is not ready: ${s.message}`,
    );
  }
  // policy-check's warning too: the value in force is stringData's, which a user who rotated the
  // token through data: does not expect (twelfth round). Never the values.
  for (const { message, ...c } of o.secretClashes) log.warn({ kind: 'Secret', ...c }, message);
  // policy-check's warning too: every answer of such a key is withheld after Twilio acted (twelfth
  // round). Names and field names only.
  for (const { message, ...c } of o.credentialsInSids) log.warn({ kind: 'Secret', ...c }, message);
}
