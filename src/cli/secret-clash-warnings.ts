import { clashingSecretFields, type Secret } from '../api/v1alpha1/index.ts';
import { escapeForTerminal } from '../terminal-text.ts';

/** A Secret field given in both `data` and `stringData` with different values (clashingSecretFields). */
export interface SecretClash {
  readonly namespace: string;
  readonly name: string;
  readonly field: string;
}

/** Every clash in the manifests' Secrets, in their order. Never a value: a Secret's are credentials. */
export function secretClashes(secrets: readonly Secret[]): SecretClash[] {
  const clashes: SecretClash[] = [];
  for (const s of secrets) {
    if (s.data === undefined || s.stringData === undefined) continue;
    for (const field of clashingSecretFields(s))
      clashes.push({ namespace: s.metadata.namespace ?? '', name: s.metadata.name, field });
  }
  return clashes;
}

/**
 * The words policy-check prints (after `warning: `) and serve logs for a clash: which value is used,
 * why, and what to do. A warning, not an error: the cluster reads such a Secret the same way, and a
 * Secret served today must not stop being served on upgrade.
 */
export function secretClashMessage(c: SecretClash): string {
  return escapeForTerminal(
    `Secret ${c.namespace}/${c.name}: field "${c.field}" is in both data and stringData with different values; stringData's is used (as in a cluster, where it is written over data): keep the one you mean and remove the other`,
  );
}
