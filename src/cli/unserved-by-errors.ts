import { ByNamespace } from '../api/by-namespace.ts';
import type { DocumentError, RejectedObject } from '../api/resource-set.ts';
import type { VaultKey } from '../api/v1alpha1/vault-key.ts';
import type { Verdict } from '../api/validate.ts';

/**
 * policy-check: the keys the compile serves that `serve` would not, because of an error in the
 * manifests around them, each with why. The compile takes the first definition of a name defined
 * twice and leaves an unreadable document out, so it serves such a key; `serve` refuses these
 * manifests at start, and on a live reload takes the key out (revocations.ts: what any definition
 * of a name defined twice says applies, and a token or upstream Secret with a document it cannot
 * read counts as replaced). Sixteenth round (probe newuser16 finding 3): a token Secret defined
 * twice, as the README's `token new --secret … > file` beside the quick start's secrets.yaml does,
 * was counted "served".
 *
 * Counted out, failing closed, whether or not the definitions agree: a key named twice, a key
 * whose own document is invalid beside a valid one, and a key whose token or upstream Secret is
 * named twice or has a document that cannot be read. A SpendPolicy named twice is not: `serve`
 * keeps its keys served under the first, with the earliest expiry of the two.
 */
export function unservedByErrors(
  keys: readonly VaultKey[],
  errors: readonly DocumentError[],
  verdicts: Iterable<Verdict>,
  rejected: readonly RejectedObject[],
): ReadonlyMap<VaultKey, string> {
  const twice = { VaultKey: new ByNamespace<true>(), Secret: new ByNamespace<true>() };
  for (const e of errors)
    if (
      (e.kind === 'VaultKey' || e.kind === 'Secret') &&
      e.path === 'metadata.name' &&
      e.namespace !== undefined &&
      e.name !== undefined &&
      e.message.startsWith('duplicate ')
    )
      twice[e.kind].set(e.namespace, e.name, true);
  const unreadable = new ByNamespace<true>();
  for (const v of verdicts)
    if (v.type === 'invalid' && v.unreadableSecret)
      unreadable.set(v.unreadableSecret.namespace, v.unreadableSecret.name, true);
  const invalid = new ByNamespace<true>();
  for (const r of rejected) if (r.kind === 'VaultKey') invalid.set(r.namespace, r.name, true);
  const out = new Map<VaultKey, string>();
  for (const k of keys) {
    const ns = k.metadata.namespace!; // validate gives every resource one
    const secret = (role: string, name: string) =>
      twice.Secret.get(ns, name)
        ? `its ${role} Secret ${ns}/${name} is defined twice`
        : unreadable.get(ns, name)
          ? `its ${role} Secret ${ns}/${name} has a document that cannot be read`
          : undefined;
    const why = twice.VaultKey.get(ns, k.metadata.name)
      ? 'it is defined twice'
      : invalid.get(ns, k.metadata.name)
        ? 'another document defining it is invalid'
        : (secret('token', k.spec.tokenSecretRef.name) ?? secret('upstream', k.spec.upstreamSecretRef.name));
    if (why !== undefined) out.set(k, why);
  }
  return out;
}
