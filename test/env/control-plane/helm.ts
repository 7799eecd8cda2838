import { join } from 'node:path';
import { inject } from 'vitest';
import { type CommandResult, runCommand } from './processes.ts';

/** In a `chart` test file: helm (no cluster), with its homes in the run's scratch dir. */
export function injectedHelm(): (args: string[]) => Promise<CommandResult> {
  const bin = inject('helmBin');
  const home = inject('helmHome');
  const env = {
    ...process.env,
    HELM_CACHE_HOME: join(home, 'cache'),
    HELM_CONFIG_HOME: join(home, 'config'),
    HELM_DATA_HOME: join(home, 'data'),
    // No cluster: a kubeconfig that names none, so nothing can reach one by accident.
    KUBECONFIG: join(home, 'no-kubeconfig'),
  };
  return (args) => runCommand(bin, args, { env, timeoutMs: 60_000 });
}
