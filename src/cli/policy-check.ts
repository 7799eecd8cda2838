import { formatDocumentError } from '../api/resource-set.ts';
import { validate } from '../api/validate.ts';
import { type Clock, systemClock } from '../clock.ts';
import { compile } from '../compiler/compile.ts';
import { loadManifests } from '../sources/file/load.ts';
import { type Flags, parseFlags, UsageError } from './args.ts';

export const POLICY_CHECK_SUMMARY =
  'Validates SpendPolicy, VaultKey and Secret manifests offline: every problem with its file,\n' +
  'document and field. Exits 1 when any manifest is invalid.';

export const POLICY_CHECK_FLAGS = {
  help: { type: 'boolean', short: 'h', help: 'show this help' },
} as const satisfies Flags;

export async function policyCheckCommand(argv: readonly string[]): Promise<number> {
  const { positionals } = parseFlags(argv, POLICY_CHECK_FLAGS, process.env, { positionals: true });
  if (positionals.length === 0) throw new UsageError('give at least one manifest file or directory');
  const { ok, lines } = await policyCheck(positionals);
  (ok ? process.stdout : process.stderr).write(`${lines.join('\n')}\n`);
  return ok ? 0 : 1;
}

/**
 * The check behind `keybrake policy-check <paths…>`: every document error (ok=false), then
 * compile-time problems (missing policy or Secret, expired…) as warnings, then a summary. Safe for
 * CI logs: no secrets.
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
