#!/usr/bin/env node
// Fills Node's module compile cache (src/cli/module-cache.ts) for the container image: the Dockerfile
// runs it at build time, as the user the image runs as (Node keeps a cache per uid), with
// NODE_COMPILE_CACHE naming the image's directory. Pods run with a read-only root file system, where
// Node can read a cache but not write one: without this, every start stripped the types of every
// module again (starting Node's WebAssembly type stripper) and compiled it again, 0.25 s and 20 MiB
// more per start. It serves nodes whose CPU has the build machine's features: V8 tags its code cache
// with them, and Node names the cache's directory after that tag. test/e2e/module-cache-fill.test.ts
// holds that after it, serve, proxy and operator start without stripping a module.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

if (!process.env['NODE_COMPILE_CACHE']) {
  console.error('fill-module-cache: set NODE_COMPILE_CACHE to the directory to fill');
  process.exit(2);
}

const root = fileURLToPath(new URL('..', import.meta.url));
const node = (args: string[]) =>
  execFileSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });

// Each command loads its module graph to print its help (cmd/keybrake.ts imports a command's module
// when it runs); policy-check also loads the compiler for real.
for (const command of ['serve', 'proxy', 'operator', 'policy-check', 'run', 'token', 'catalog'])
  node(['cmd/keybrake.ts', command, '--help']);
node(['cmd/keybrake.ts', 'policy-check', 'examples/quickstart']);
// serve's compile thread: its imports load (and are kept) before its body, which refuses to run
// outside a worker thread, throws.
node(['--input-type=module', '-e', "await import('./src/cli/compile-thread-worker.ts').catch(() => {})"]);
// Modules a start imports lazily, which no --help loads: the proxy runtime, tracing and the runtime
// flags (serve and proxy load them while their compile thread or snapshot stream starts), the sampler
// (when tracing is on) and serve's reload metrics.
const lazy = [
  './src/proxy/runtime.ts',
  './src/telemetry/tracing.ts',
  './src/cli/proxy-options.ts',
  './src/telemetry/sampler.ts',
  './src/telemetry/reload-metrics.ts',
];
node(['--input-type=module', '-e', lazy.map((m) => `await import('${m}');`).join(' ')]);
