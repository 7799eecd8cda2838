import { policyCheck } from '../sources/file/policy-check.ts';
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
