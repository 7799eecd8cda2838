import type { Secret, VaultKey } from '../api/v1alpha1/index.ts';
import { readUpstreamCredential } from '../compiler/upstream.ts';
import { textCarriesCredential } from '../proxy/credential-scan.ts';
import { escapeForTerminal } from '../terminal-text.ts';

/**
 * A Twilio upstream secret (`authToken`, or `apiKeySecret`) that the scan for the upstream credential
 * in answers (credential-scan.ts, ADR 0007 §1) finds inside the Secret's own `accountSid`. Every
 * Twilio answer carries the Account SID (its `account_sid`, its `uri`), so every allowed call would
 * be answered 502 credential_in_response after Twilio acted on it. Twelfth round (probe legit finding
 * 2): the quick start's placeholder token, 32 zeros, sat inside its placeholder SID, AC + 32 zeros.
 * Real credentials do not collide (Twilio issues the token apart from the SID); placeholders pointed
 * at an emulator do.
 */
export interface CredentialInSid {
  /** The Secret, `namespace/name`. */
  readonly secret: string;
  /** The first VaultKey that sends it, `namespace/name`. */
  readonly key: string;
  readonly field: 'authToken' | 'apiKeySecret';
}

/** Every such Secret of the manifests, once, naming the first key that sends it. Never a value. */
export function credentialsInSids(keys: readonly VaultKey[], secrets: readonly Secret[]): CredentialInSid[] {
  const byName = new Map(secrets.map((s) => [`${s.metadata.namespace}/${s.metadata.name}`, s]));
  const seen = new Set<string>();
  const found: CredentialInSid[] = [];
  for (const key of keys) {
    if (key.spec.vendor !== 'twilio') continue;
    const ref = `${key.metadata.namespace}/${key.spec.upstreamSecretRef.name}`;
    const secret = byName.get(ref);
    if (secret === undefined || seen.has(ref)) continue;
    seen.add(ref);
    // The credential as the compiler reads it, so the one the proxy scans answers for.
    const read = readUpstreamCredential('twilio', secret, undefined);
    if (!read.ok || read.credential.kind !== 'basic') continue;
    const cred = read.credential;
    if (cred.accountSid === undefined || !textCarriesCredential(cred.accountSid, cred)) continue;
    const field = cred.username === cred.accountSid ? 'authToken' : 'apiKeySecret';
    found.push({ secret: ref, key: `${key.metadata.namespace}/${key.metadata.name}`, field });
  }
  return found;
}

/**
 * The words policy-check prints (after `warning: `) and serve logs. A warning, not an error: the key
 * is served as before (and a real account's credentials never collide), but every answer would be
 * withheld once the call has taken effect.
 */
export function credentialInSidMessage(c: CredentialInSid): string {
  return escapeForTerminal(
    `Secret ${c.secret}: field "${c.field}" (the upstream credential of VaultKey ${c.key}) appears inside its accountSid, which every Twilio answer carries: every answer would be withheld as carrying the credential (502 credential_in_response) after Twilio acted on the call; use the account's real ${c.field}, or a placeholder that is no part of the SID`,
  );
}
