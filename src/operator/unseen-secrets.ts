import type { VaultKey } from '../api/v1alpha1/index.ts';
import type { ObjectStatus } from '../compiler/compile.ts';
import { SECRET_LABEL_KEY, SECRET_LABEL_VALUE } from '../sources/kubernetes/labels.ts';

/**
 * The Ready message of an operator's VaultKey whose upstream Secret the compiler did not find. The
 * operator's Secret informer is label-selected, so "does not exist" may be a Secret its author did
 * not label; the operator never reads an unlabelled Secret to tell the two apart (it holds a real
 * vendor key the label keeps out of its reach), so the message names both and the fix for the second.
 */
function unseenUpstreamSecretMessage(namespace: string, name: string): string {
  return (
    `Secret ${namespace}/${name} does not exist or lacks the label ${SECRET_LABEL_KEY}: "${SECRET_LABEL_VALUE}" ` +
    `(the operator sees only Secrets with that label); if it exists, label it: ` +
    `kubectl label secret ${name} -n ${namespace} ${SECRET_LABEL_KEY}=${SECRET_LABEL_VALUE}`
  );
}

/**
 * The statuses with the Ready message of every VaultKey refused `UpstreamSecretMissing` replaced by
 * `unseenUpstreamSecretMessage`; `keys` are the VaultKeys compiled (the Secret's name is in their
 * spec). The compiler's own message stays for `serve` and `policy-check`, whose file source reads
 * every Secret, labelled or not.
 */
export function explainUnseenSecrets(
  statuses: readonly ObjectStatus[],
  keys: readonly VaultKey[],
): readonly ObjectStatus[] {
  const missing = (s: ObjectStatus) =>
    s.kind === 'VaultKey' &&
    s.conditions.some((c) => c.type === 'Ready' && c.reason === 'UpstreamSecretMissing');
  if (!statuses.some(missing)) return statuses;
  const byRef = new Map(keys.map((k) => [`${k.metadata.namespace}/${k.metadata.name}`, k]));
  return statuses.map((s) => {
    const key = missing(s) ? byRef.get(`${s.namespace}/${s.name}`) : undefined;
    if (key === undefined) return s;
    const message = unseenUpstreamSecretMessage(s.namespace, key.spec.upstreamSecretRef.name);
    return {
      ...s,
      conditions: s.conditions.map((c) =>
        c.type === 'Ready' && c.reason === 'UpstreamSecretMissing' ? { ...c, message } : c,
      ),
    };
  });
}
