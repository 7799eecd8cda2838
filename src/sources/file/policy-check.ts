import { formatDocumentError } from '../../api/resource-set.ts';
import { type Clock, systemClock } from '../../clock.ts';
import { compile } from '../../compiler/compile.ts';
import { validate } from '../../compiler/validate.ts';
import { loadManifests } from './load.ts';

/**
 * `keybrake policy-check <paths…>`: every document error (ok=false), then compile-time problems
 * (missing policy or Secret, expired…) as warnings, then a summary. Safe for CI logs: no secrets.
 */
export async function policyCheck(
  paths: readonly string[],
  opts: { clock?: Clock; defaultNamespace?: string } = {},
): Promise<{ ok: boolean; lines: string[] }> {
  const loaded = await loadManifests(paths);
  const { set, errors } = validate(loaded.documents, {
    ...(opts.defaultNamespace !== undefined && { defaultNamespace: opts.defaultNamespace }),
  });
  const allErrors = [...loaded.errors, ...errors];
  const lines = allErrors.map((e) => `error: ${formatDocumentError(e)}`);
  const { statuses, snapshot } = compile(set, { version: 0, clock: opts.clock ?? systemClock });
  for (const s of statuses) {
    const c = s.conditions[0];
    // Rejected objects are already reported as errors above.
    if (c && c.status !== 'True' && c.reason !== 'Invalid') {
      lines.push(`warning: ${s.kind} ${s.namespace}/${s.name}: ${c.reason}: ${c.message}`);
    }
  }
  const ok = allErrors.length === 0;
  lines.push(
    `${ok ? 'ok' : 'failed'}: ${set.policies.length} SpendPolicy, ${set.keys.length} VaultKey, ${snapshot.keys.size} served, ${allErrors.length} error(s)`,
  );
  return { ok, lines };
}
