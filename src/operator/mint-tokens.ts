import type { Counter } from 'prom-client';
import type { VaultKey } from '../api/v1alpha1/index.ts';
import type { ObjectStatus } from '../compiler/compile.ts';
import type { Log } from '../telemetry/logger.ts';
import { type EventSink, tokenMintedEvent } from './events.ts';
import { ensureToken, type SecretStore } from './tokens.ts';

/** Wiring of the token reconciler: the Secret API, where it reports, what it counts. */
export interface MintDeps {
  readonly secrets: SecretStore;
  readonly recordEvent: EventSink;
  readonly log: Log;
  readonly minted?: Counter;
}

/** Reasons whose token the operator replaces with a fresh one, in a Secret it minted (ADR 0009). */
const REPLACE: ReadonlySet<string> = new Set(['TokenSecretStale', 'TokenRevoked']);

/**
 * Tokens (compiler statuses → token Secrets): every VaultKey whose status says TokenSecretMissing
 * gets a token minted into its tokenSecretRef (or its user-provided Secret labelled so the informer
 * sees it); one whose Secret belongs to a deleted VaultKey (TokenSecretStale) or holds a revoked
 * token (TokenRevoked) gets a fresh token when the operator minted that Secret, never the old one
 * back. Resolves with `waiting`, the `namespace/name` of the keys whose Secret changed or is
 * contended: their status waits for the informer to see the Secret, so it does not flap through
 * TokenSecretMissing. A failure is logged and counted in `failed`; the key is retried on the next pass.
 */
export async function mintMissingTokens(
  statuses: readonly ObjectStatus[],
  keys: readonly VaultKey[],
  deps: MintDeps,
): Promise<{ waiting: Set<string>; failed: number }> {
  const waiting = new Set<string>();
  let failed = 0;
  // Built on the first key that needs a token: a search of `keys` per key would be quadratic when
  // thousands of VaultKeys are applied without their Secrets.
  let byRef: Map<string, VaultKey> | undefined;
  for (const s of statuses) {
    const reason = s.conditions[0]?.reason ?? '';
    if (s.kind !== 'VaultKey' || (reason !== 'TokenSecretMissing' && !REPLACE.has(reason))) continue;
    byRef ??= new Map(keys.map((k) => [`${k.metadata.namespace}/${k.metadata.name}`, k]));
    const key = byRef.get(`${s.namespace}/${s.name}`);
    if (!key) continue;
    const outcome = await mintOne(key, deps, REPLACE.has(reason));
    if (outcome === 'failed') failed++;
    else if (outcome) waiting.add(`${s.namespace}/${s.name}`);
  }
  return { waiting, failed };
}

/** True: the Secret changed or is contended; false: nothing to wait for; 'failed': try again. */
async function mintOne(key: VaultKey, deps: MintDeps, replace: boolean): Promise<boolean | 'failed'> {
  const ref = `${key.metadata.namespace}/${key.metadata.name}`;
  const secret = key.spec.tokenSecretRef;
  try {
    const outcome = await ensureToken(deps.secrets, key, { replace });
    if (outcome.kind === 'minted') {
      deps.minted?.inc();
      deps.log.info(
        { vaultKey: ref, secret: secret.name, tokenFingerprint: outcome.fingerprint, replaced: replace },
        replace ? 'revoked token replaced' : 'token minted',
      );
      const object = {
        kind: 'VaultKey' as const,
        namespace: key.metadata.namespace!,
        name: key.metadata.name,
        ...(key.metadata.uid !== undefined && { uid: key.metadata.uid }),
      };
      await deps.recordEvent(tokenMintedEvent(object, secret, outcome.fingerprint));
      return true;
    }
    if (outcome.kind === 'labelled') {
      deps.log.info(
        { vaultKey: ref, secret: secret.name },
        'labelled a user-provided token Secret so the operator sees it',
      );
      return true;
    }
    return outcome.kind === 'conflict';
  } catch (err) {
    deps.log.warn({ vaultKey: ref, error: (err as Error).message }, 'could not mint a token');
    return 'failed';
  }
}
