import type { Secret, VaultKey } from '../api/v1alpha1/index.ts';
import { secretValue } from '../api/v1alpha1/index.ts';
import { unexpectedUpstreamShape } from '../tokens/vendor-key-shapes.ts';

/** The Secret fields a VaultKey sends upstream whose shape is checked (Twilio's SIDs the compiler checks). */
function upstreamFields(key: VaultKey): readonly string[] {
  const ref = key.spec.upstreamSecretRef;
  return key.spec.vendor === 'twilio'
    ? ['authToken', 'apiKeySecret']
    : ref.key === undefined
      ? []
      : [ref.key];
}

/**
 * `policy-check`'s warnings on upstream Secrets whose key does not look like the vendor's (eighth
 * round: `sk_tset_…` compiled, and every call would have been refused by Stripe). Once per Secret and
 * field, naming the first key that sends it; never the value or any part of it. A warning: the
 * compiler serves the key, and a vendor may issue a new shape before this table knows it.
 */
export function upstreamShapeWarnings(keys: readonly VaultKey[], secrets: readonly Secret[]): string[] {
  const byName = new Map(secrets.map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, s]));
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const key of keys) {
    const ref = `${key.metadata.namespace}/${key.spec.upstreamSecretRef.name}`;
    const secret = byName.get(ref);
    if (secret === undefined) continue;
    for (const field of upstreamFields(key)) {
      const value = secretValue(secret, field)?.trim();
      if (value === undefined || value === '' || seen.has(`${ref}\0${field}`)) continue;
      seen.add(`${ref}\0${field}`);
      const expected = unexpectedUpstreamShape(key.spec.vendor, field, value);
      if (expected === undefined) continue;
      lines.push(
        `warning: Secret ${ref}: field "${field}" (the upstream key of VaultKey ${key.metadata.namespace}/${key.metadata.name}) does not look like ${expected}: check that it holds the vendor's key`,
      );
    }
  }
  return lines;
}
