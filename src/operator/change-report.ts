import { formatDocumentError } from '../api/resource-set.ts';
import type { CompileOutcome } from '../compiler/runner.ts';
import type { KubernetesSourceUpdate } from '../sources/kubernetes/source.ts';
import type { Log } from '../telemetry/logger.ts';
import { type EventSink, revokedEvent } from './events.ts';

/**
 * What each cluster change did, told once (compile runner outcome → logs and Events): a resource
 * that turned invalid is logged when it first shows up (not again on every later change while it
 * stays so), a deleted VaultKey that held a token is logged as revoked and gets a Revoked Event
 * naming the snapshot version from which no proxy accepts its token. One that held none (refused,
 * e.g. TokenConflict, or no token yet) revoked nothing, and its log line says so.
 */
export function createChangeReport(deps: {
  log: Log;
  recordEvent: EventSink;
  /** Whether the VaultKey `uid` held a token before this change (what deleting it revokes). */
  heldToken: (uid: string) => boolean;
}): (outcome: CompileOutcome<KubernetesSourceUpdate>) => void {
  let logged = new Set<string>();
  return ({ snapshot, update }) => {
    const problems = new Set(update.errors.map(formatDocumentError));
    for (const line of problems) if (!logged.has(line)) deps.log.warn({ problem: line }, 'invalid resource');
    logged = problems;
    for (const d of update.deleted) {
      if (d.kind !== 'VaultKey') continue;
      const vaultKey = `${d.namespace}/${d.name}`;
      if (d.uid === undefined || !deps.heldToken(d.uid)) {
        deps.log.info({ vaultKey, version: snapshot.version }, 'deleted; it held no token to revoke');
        continue;
      }
      deps.log.info({ vaultKey, version: snapshot.version }, 'revoked');
      void deps.recordEvent(revokedEvent(d, snapshot.version));
    }
  };
}
