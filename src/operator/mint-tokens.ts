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

/**
 * Tokens (compiler statuses → token Secrets): every VaultKey whose status says TokenSecretMissing
 * gets a token minted into its tokenSecretRef (or its user-provided Secret labelled so the informer
 * sees it). Resolves with the `namespace/name` of the keys whose Secret changed or is contended:
 * their status waits for the informer to see the Secret, so it does not flap through
 * TokenSecretMissing. A failure is logged and the key retried on the next pass.
 */
export async function mintMissingTokens(
  statuses: readonly ObjectStatus[],
  keys: readonly VaultKey[],
  deps: MintDeps,
): Promise<Set<string>> {
  const waiting = new Set<string>();
  for (const s of statuses) {
    if (s.kind !== 'VaultKey' || s.conditions[0]?.reason !== 'TokenSecretMissing') continue;
    const key = keys.find((k) => k.metadata.namespace === s.namespace && k.metadata.name === s.name);
    if (key && (await mintOne(key, deps))) waiting.add(`${s.namespace}/${s.name}`);
  }
  return waiting;
}

async function mintOne(key: VaultKey, deps: MintDeps): Promise<boolean> {
  const ref = `${key.metadata.namespace}/${key.metadata.name}`;
  const secret = key.spec.tokenSecretRef;
  try {
    const outcome = await ensureToken(deps.secrets, key);
    if (outcome.kind === 'minted') {
      deps.minted?.inc();
      deps.log.info(
        { vaultKey: ref, secret: secret.name, tokenFingerprint: outcome.fingerprint },
        'token minted',
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
    return false;
  }
}
