import { formatDocumentError } from '../api/resource-set.ts';
import type { CompileOutcome } from '../compiler/runner.ts';
import type { KubernetesSourceUpdate } from '../sources/kubernetes/source.ts';
import type { Log } from '../telemetry/logger.ts';
import { type EventSink, revokedEvent } from './events.ts';

/**
 * What each cluster change did, told once (compile runner outcome → logs and Events): a resource
 * that turned invalid is logged when it first shows up (not again on every later change while it
 * stays so), a deleted VaultKey is logged and gets a Revoked Event naming the snapshot version from
 * which no proxy accepts its token.
 */
export function createChangeReport(deps: {
  log: Log;
  recordEvent: EventSink;
}): (outcome: CompileOutcome<KubernetesSourceUpdate>) => void {
  let logged = new Set<string>();
  return ({ snapshot, update }) => {
    const problems = new Set(update.errors.map(formatDocumentError));
    for (const line of problems) if (!logged.has(line)) deps.log.warn({ problem: line }, 'invalid resource');
    logged = problems;
    for (const d of update.deleted) {
      if (d.kind !== 'VaultKey') continue;
      deps.log.info({ vaultKey: `${d.namespace}/${d.name}`, version: snapshot.version }, 'revoked');
      void deps.recordEvent(revokedEvent(d, snapshot.version));
    }
  };
}
