import type { DocumentError } from '../api/resource-set.ts';
import type { VaultKey } from '../api/v1alpha1/vault-key.ts';
import { escapeForTerminal } from '../terminal-text.ts';

/**
 * policy-check: what a VaultKey's "does not exist" means when files had errors. The object a key
 * names may be in a file that could not be read whole (a tab, bad indentation) or whose document was
 * refused (a Secret's field error): "SpendPolicy agents/support-bot does not exist" was then a second,
 * false error next to the real one. The reason code stays (the conditions' contract); the message says
 * where the object probably is.
 *
 * `undefined` when no file error can explain the missing object (it is then missing indeed).
 */
export function unreadReference(
  key: VaultKey,
  reason: string,
  errors: readonly DocumentError[],
): string | undefined {
  const ref = referenceOf(key, reason);
  if (!ref) return undefined;
  const what = `${ref.kind} ${ref.namespace}/${ref.name}`;
  const named = files(
    errors.filter((e) => e.kind === ref.kind && e.namespace === ref.namespace && e.name === ref.name),
  );
  if (named.length > 0) return `${what} is in a file with errors (${named}): fix those errors first.`;
  // A document whose YAML could not be read names no object: the missing one may be any of them.
  const unread = files(errors.filter((e) => e.kind === undefined && e.name === undefined));
  if (unread.length > 0)
    return `${what} was not found, but ${unread} could not be read whole, and it may be there: fix those errors first.`;
  return undefined;
}

/** The object a "does not exist" reason is about. */
function referenceOf(
  key: VaultKey,
  reason: string,
): { kind: 'SpendPolicy' | 'Secret'; namespace: string; name: string } | undefined {
  const namespace = key.metadata.namespace!; // validate gives every resource one
  if (reason === 'PolicyNotFound') return { kind: 'SpendPolicy', namespace, name: key.spec.policyRef.name };
  if (reason === 'UpstreamSecretMissing')
    return { kind: 'Secret', namespace, name: key.spec.upstreamSecretRef.name };
  if (reason === 'TokenSecretMissing')
    return { kind: 'Secret', namespace, name: key.spec.tokenSecretRef.name };
  return undefined;
}

function files(errors: readonly DocumentError[]): string {
  return escapeForTerminal([...new Set(errors.map((e) => e.source))].join(', '));
}
