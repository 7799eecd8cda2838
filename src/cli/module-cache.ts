import { enableCompileCache } from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Lets Node keep what it made of each of Keybrake's modules (the TypeScript stripped, then the V8
 * code) between starts. Measured: a proxy's modules load in 0.34 s instead of 0.60 s, and the
 * process holds 20 MiB less, as the type stripper (a WebAssembly module) is never started.
 *
 * In the user's own cache directory (`$XDG_CACHE_HOME` or `~/.cache`, then `keybrake/modules`),
 * not Node's default under the shared temporary directory, where another local user could have
 * planted entries first; `NODE_COMPILE_CACHE` overrides it, `NODE_DISABLE_COMPILE_CACHE=1` turns it
 * off (Node's own variables). The directory is passed explicitly rather than through the
 * environment, so the commands `keybrake run exec` starts are not affected. A quiet optimisation:
 * Node never throws here, and an unwritable directory (a read-only root file system) leaves it off.
 * Each thread calls it for itself (the compile thread of `serve` too).
 */
export function enableModuleCache(env: NodeJS.ProcessEnv = process.env): void {
  enableCompileCache(moduleCacheDir(env));
}

export function moduleCacheDir(env: NodeJS.ProcessEnv): string {
  if (env['NODE_COMPILE_CACHE']) return env['NODE_COMPILE_CACHE'];
  const base = env['XDG_CACHE_HOME'] || join(env['HOME'] || homedir(), '.cache');
  return join(base, 'keybrake', 'modules');
}
