// vitest globalSetup for the `chart` project: helm alone, which build.sh builds in a few minutes cold
// (the whole control plane takes ten), so the chart's lint, template and schema tests never wait for
// kube-apiserver. Reuses $KEYBRAKE_K8S_BIN_DIR when it holds helm.
//
//   import { injectedHelm } from '../../env/control-plane/helm.ts';
//   const helm = injectedHelm();   // helm(['template', …]) → { stdout, stderr, code }
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { runCommand } from './processes.ts';

export type { ProvidedContext } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The helm binary. */
    helmBin: string;
    /** A scratch dir for helm's cache, config and data homes. */
    helmHome: string;
  }
}

const BUILD_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'build.sh');

/** The dir holding helm: $KEYBRAKE_K8S_BIN_DIR if it has one, else `build.sh helm` (cached). */
export async function ensureHelm(): Promise<string> {
  const given = process.env['KEYBRAKE_K8S_BIN_DIR'];
  if (given && existsSync(join(given, 'helm'))) return given;
  const result = await runCommand('bash', [BUILD_SCRIPT, 'helm'], { inheritStderr: true });
  const dir = result.stdout.trim().split('\n').at(-1);
  if (result.code !== 0 || !dir) throw new Error(`${BUILD_SCRIPT} helm failed with exit code ${result.code}`);
  return dir;
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  const dir = await ensureHelm();
  const home = await mkdtemp(join(tmpdir(), 'keybrake-helm-'));
  console.error(`[chart] helm from ${dir} in ${Date.now() - started} ms`);
  project.provide('helmBin', join(dir, 'helm'));
  project.provide('helmHome', home);
  return async () => {
    await rm(home, { recursive: true, force: true });
  };
}
